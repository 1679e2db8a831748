import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batonConfigSchema } from '../../src/config/schema.ts';
import { BatonError } from '../../src/errors.ts';
import type { Tool, ToolContext } from '../../src/tools/tool.ts';
import {
  createFetchUrlTool,
  type FetchUrlOptions,
  type FetchUrlResult,
} from '../../src/tools/web/fetch-url.ts';

const articleHtml = `<!doctype html>
<html>
<head>
  <title>Baton &amp; the Test Page</title>
  <style>.secret-style { color: red; }</style>
  <script>var secretScript = "do not show";</script>
</head>
<body>
  <nav><a href="/home">Home menu link</a> <a href="/about">About menu link</a></nav>
  <h1>Readable heading</h1>
  <p>First paragraph with a <a href="/docs/guide">relative link</a> and an <a href="#top">anchor</a>.</p>
  <p>Second paragraph.</p>
  <img src="/logo.png" alt="logo alt text">
  <script>console.log("inline body script");</script>
</body>
</html>`;

interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
}

const received: ReceivedRequest[] = [];
let server: http.Server;
let origin: string;
let port: number;

function handle(request: http.IncomingMessage, response: http.ServerResponse): void {
  const path = request.url ?? '/';
  received.push({ path, headers: request.headers });
  const redirect = /^\/redirect\/(\d+)$/.exec(path);
  if (redirect) {
    const remaining = Number(redirect[1]);
    // Alternate absolute and relative Location headers.
    const next = remaining === 0 ? '/page' : `/redirect/${remaining - 1}`;
    response.writeHead(remaining % 2 === 0 ? 302 : 301, {
      location: remaining % 2 === 0 ? next : `${origin}${next}`,
    });
    response.end();
    return;
  }
  switch (path) {
    case '/page':
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(articleHtml);
      return;
    case '/gzip':
      response.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      response.end(zlib.gzipSync(articleHtml));
      return;
    case '/json':
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ answer: 42 }));
      return;
    case '/big':
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('x'.repeat(50_000));
      return;
    case '/missing':
      response.writeHead(404, { 'content-type': 'text/html' });
      response.end(
        '<html><head><title>Not Found</title></head><body><p>No such page here.</p></body></html>',
      );
      return;
    case '/image':
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
      return;
    case '/to-file':
      response.writeHead(302, { location: 'file:///etc/passwd' });
      response.end();
      return;
    case '/to-other-loopback':
      response.writeHead(302, { location: `http://127.0.0.2:${port}/page` });
      response.end();
      return;
    case '/to-ipv6-loopback':
      response.writeHead(302, { location: `http://[::1]:${port}/page` });
      response.end();
      return;
    case '/slow-body':
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first part, then nothing');
      return;
    case '/hang':
      return;
    default:
      response.writeHead(500);
      response.end();
  }
}

beforeAll(async () => {
  server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
});

function fetchUrlOptions(overrides: Partial<FetchUrlOptions> = {}): FetchUrlOptions {
  return { ...batonConfigSchema.parse({}).tools.fetch_url, ...overrides };
}

function contextWith(signal: AbortSignal = new AbortController().signal): ToolContext {
  return {
    sessionKey: 'test:c:t',
    origin: { platform: 'test', channel: 'c', thread: 't', user: 'u' },
    callerTaskId: null,
    depth: 1,
    signal,
  };
}

async function run(tool: Tool, input: unknown, signal?: AbortSignal): Promise<FetchUrlResult> {
  return (await tool.execute(tool.inputSchema.parse(input), contextWith(signal))) as FetchUrlResult;
}

async function failure(promise: Promise<unknown>): Promise<BatonError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BatonError);
  return error as BatonError;
}

describe('fetch_url with private addresses allowed', () => {
  const tool = createFetchUrlTool(fetchUrlOptions({ allow_private_addresses: true }));

  it('turns an HTML page into readable text with its title', async () => {
    const result = await run(tool, { url: `${origin}/page` });

    expect(result).toMatchObject({
      url: `${origin}/page`,
      final_url: `${origin}/page`,
      status: 200,
      content_type: 'text/html',
      title: 'Baton & the Test Page',
      truncated: false,
    });
    expect(result.text).toContain('Readable heading');
    expect(result.text).toContain('First paragraph with a relative link');
    expect(result.text).toContain(`[${origin}/docs/guide]`);
    expect(result.text).toContain('Second paragraph.');
    for (const noise of [
      'secretScript',
      'inline body script',
      'secret-style',
      'Home menu link',
      'logo',
      '#top',
    ]) {
      expect(result.text).not.toContain(noise);
    }
  });

  it('sends a User-Agent and an Accept header', async () => {
    await run(tool, { url: `${origin}/page` });

    expect(received).toHaveLength(1);
    expect(received[0]?.headers['user-agent']).toMatch(/Baton/);
    expect(received[0]?.headers.accept).toContain('text/html');
  });

  it('follows a chain of redirects and reports the final URL', async () => {
    const result = await run(tool, { url: `${origin}/redirect/4` });

    expect(result.status).toBe(200);
    expect(result.url).toBe(`${origin}/redirect/4`);
    expect(result.final_url).toBe(`${origin}/page`);
    expect(result.title).toBe('Baton & the Test Page');
    expect(received.map((request) => request.path)).toEqual([
      '/redirect/4',
      '/redirect/3',
      '/redirect/2',
      '/redirect/1',
      '/redirect/0',
      '/page',
    ]);
  });

  it('gives up after five redirects', async () => {
    const error = await failure(run(tool, { url: `${origin}/redirect/5` }));

    expect(error.code).toBe('fetch_failed');
    expect(error.message).toMatch(/5 redirects/);
    expect(received).toHaveLength(6);
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const error = await failure(run(tool, { url: `${origin}/to-file` }));

    expect(error.code).toBe('fetch_refused');
    expect(error.message).toContain('file:');
  });

  it('decompresses a gzip body', async () => {
    const result = await run(tool, { url: `${origin}/gzip` });

    expect(result.title).toBe('Baton & the Test Page');
    expect(result.text).toContain('Second paragraph.');
  });

  it('returns JSON as text', async () => {
    const result = await run(tool, { url: `${origin}/json` });

    expect(result).toMatchObject({
      content_type: 'application/json',
      text: '{"answer":42}',
      truncated: false,
    });
    expect(result.title).toBeUndefined();
  });

  it('stops reading at max_bytes and marks the result truncated', async () => {
    const small = createFetchUrlTool(fetchUrlOptions({ allow_private_addresses: true, max_bytes: 1000 }));

    const result = await run(small, { url: `${origin}/big` });

    expect(result.truncated).toBe(true);
    expect(result.text).toBe('x'.repeat(1000));
  });

  it('cuts the text at the max_chars asked for, never above the configured ceiling', async () => {
    const capped = createFetchUrlTool(fetchUrlOptions({ allow_private_addresses: true, max_chars: 300 }));

    const asked = await run(capped, { url: `${origin}/big`, max_chars: 10 });
    const aboveCeiling = await run(capped, { url: `${origin}/big`, max_chars: 1_000_000 });

    expect(asked).toMatchObject({ text: 'x'.repeat(10), truncated: true });
    expect(aboveCeiling).toMatchObject({ text: 'x'.repeat(300), truncated: true });
  });

  it('returns a 404 page with its status and text', async () => {
    const result = await run(tool, { url: `${origin}/missing` });

    expect(result).toMatchObject({ status: 404, title: 'Not Found', text: 'No such page here.' });
  });

  it('rejects a binary content type with fetch_failed naming the type', async () => {
    const error = await failure(run(tool, { url: `${origin}/image` }));

    expect(error.code).toBe('fetch_failed');
    expect(error.message).toContain('image/png');
  });

  it('fails with fetch_failed when the server never answers within timeout_s', async () => {
    const quick = createFetchUrlTool(fetchUrlOptions({ allow_private_addresses: true, timeout_s: 0.5 }));
    const started = Date.now();

    const error = await failure(run(quick, { url: `${origin}/hang` }));

    expect(error.code).toBe('fetch_failed');
    expect(error.message).toMatch(/timed out after 0\.5s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('applies timeout_s while the body is still arriving', async () => {
    const quick = createFetchUrlTool(fetchUrlOptions({ allow_private_addresses: true, timeout_s: 0.5 }));

    const error = await failure(run(quick, { url: `${origin}/slow-body` }));

    expect(error.code).toBe('fetch_failed');
    expect(error.message).toMatch(/timed out/);
  });

  it('stops at once when the caller aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);

    const error = await failure(run(tool, { url: `${origin}/hang` }, controller.signal));

    expect(error.code).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('does not start when the caller has already aborted', async () => {
    const error = await failure(run(tool, { url: `${origin}/page` }, AbortSignal.abort()));

    expect(error.code).toBe('aborted');
    expect(received).toHaveLength(0);
  });

  it('reports a closed port as fetch_failed without the credentials of the URL', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await failure(run(tool, { url: `http://alice:hunter2@127.0.0.1:${closedPort}/` }));

    expect(error.code).toBe('fetch_failed');
    expect(error.message).toContain(`127.0.0.1:${closedPort}`);
    expect(error.message).not.toMatch(/alice|hunter2/);
  });
});

describe('fetch_url with the default address policy', () => {
  const tool = createFetchUrlTool(fetchUrlOptions());

  it.each([
    ['127.0.0.1', () => `http://127.0.0.1:${port}/page`, '127.0.0.1'],
    ['localhost', () => `http://localhost:${port}/page`, /^(127\.0\.0\.1|::1)$/],
    ['[::1]', () => `http://[::1]:${port}/page`, '::1'],
  ])('refuses %s before connecting', async (_name, url, address) => {
    const error = await failure(run(tool, { url: url() }));

    expect(error.code).toBe('fetch_refused');
    expect(error.fault).toBe('model');
    const named = /: (\S+) is a private\/loopback\/link-local address$/.exec(error.message)?.[1];
    expect(named).toMatch(address);
    expect(received).toHaveLength(0);
  });

  it('keeps credentials of the URL out of the refusal', async () => {
    const error = await failure(run(tool, { url: `http://alice:hunter2@127.0.0.1:${port}/page` }));

    expect(error.code).toBe('fetch_refused');
    expect(error.message).toContain(`refused to fetch http://127.0.0.1:${port}/page: 127.0.0.1 is a`);
    expect(error.message).not.toMatch(/alice|hunter2/);
  });

  // No public host is reachable from the tests, so a redirect from an allowed public host to a private
  // one is played out on loopback: 127.0.0.1 alone is let through, and the redirect hop is checked again.
  describe('on redirect hops', () => {
    const onlyFirstHop = createFetchUrlTool(fetchUrlOptions(), { allowedAddresses: ['127.0.0.1'] });

    it.each([
      ['/to-other-loopback', '127.0.0.2'],
      ['/to-ipv6-loopback', '::1'],
    ])('refuses the private target of %s', async (path, address) => {
      const error = await failure(run(onlyFirstHop, { url: `${origin}${path}` }));

      expect(error.code).toBe('fetch_refused');
      expect(error.message).toContain(`: ${address} is a private/loopback/link-local address`);
      expect(received.map((request) => request.path)).toEqual([path]);
    });
  });
});

describe('fetch_url input schema', () => {
  const tool = createFetchUrlTool(fetchUrlOptions());

  it.each(['file:///etc/passwd', 'ftp://x', 'not a url'])('rejects %s', (url) => {
    const parsed = tool.inputSchema.safeParse({ url });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('url must be an absolute http:// or https:// URL');
  });

  it('accepts http and https URLs and rejects a non-positive max_chars', () => {
    expect(tool.inputSchema.safeParse({ url: 'https://example.com/a?b=c' }).success).toBe(true);
    expect(tool.inputSchema.safeParse({ url: 'http://example.com', max_chars: 500 }).success).toBe(true);
    expect(tool.inputSchema.safeParse({ url: 'http://example.com', max_chars: 0 }).success).toBe(false);
  });
});
