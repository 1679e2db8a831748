import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batonConfigSchema } from '../../src/config/schema.ts';
import { BatonError } from '../../src/errors.ts';
import type { Tool, ToolContext } from '../../src/tools/tool.ts';
import {
  createFetchUrlTool,
  type FetchUrlOptions,
  type FetchUrlResult,
} from '../../src/tools/web/fetch-url.ts';
import { closePageTextPool } from '../../src/tools/web/page-text-pool.ts';

// Pages that took the old fetch_url seconds to minutes of synchronous work (a regex quadratic in the page,
// html-to-text quadratic in the nesting depth): the event loop, BullMQ lock renewal included, froze.
const hostilePages: Record<string, string> = {
  '/title-flood': `<html><head>${'<title'.repeat(2_000_000 / 6)}`,
  '/deep-nesting': `<html><body>${'<div>'.repeat(100_000)}deep${'</div>'.repeat(100_000)}</body></html>`,
  '/single-line': `<html><body><p>${'word '.repeat(400_000)}</p></body></html>`,
  // Large but well formed: converting it takes far longer than the tiny time limit of the time-out test.
  '/many-elements': `<html><body>${'<span>some text</span> '.repeat(80_000)}</body></html>`,
  '/small': '<html><head><title>Small</title></head><body><p>Small page.</p></body></html>',
};

let server: http.Server;
let origin: string;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const page = hostilePages[request.url ?? ''];
    if (page === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await closePageTextPool();
});

function fetchUrlTool(overrides: Partial<FetchUrlOptions> = {}): Tool {
  const defaults = batonConfigSchema.parse({}).tools.fetch_url;
  return createFetchUrlTool({ ...defaults, allow_private_addresses: true, ...overrides });
}

function context(): ToolContext {
  return {
    sessionKey: 'test:c:t',
    origin: { platform: 'test', channel: 'c', thread: 't', user: 'u' },
    callerTaskId: null,
    depth: 1,
    signal: new AbortController().signal,
  };
}

async function fetchPage(tool: Tool, path: string): Promise<FetchUrlResult> {
  return (await tool.execute({ url: `${origin}${path}` }, context())) as FetchUrlResult;
}

/** Runs `work` while measuring the event loop's longest stall, in milliseconds. */
async function longestStallDuring<T>(work: () => Promise<T>): Promise<{ result: T; maxDelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    const result = await work();
    // The histogram records a stall when its timer fires after it: let it fire once more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { result, maxDelayMs: histogram.max / 1e6 };
  } finally {
    histogram.disable();
  }
}

describe('fetch_url on hostile pages', () => {
  const tool = fetchUrlTool();

  it.each([['/title-flood'], ['/deep-nesting'], ['/single-line']])(
    'fetching %s never blocks the event loop',
    async (path) => {
      const { result, maxDelayMs } = await longestStallDuring(() => fetchPage(tool, path));
      expect(result.status).toBe(200);
      // A generous bound: a few milliseconds are expected; the old code stalled for seconds to minutes.
      expect(maxDelayMs).toBeLessThan(1000);
    },
  );

  it('finds no title in a page of unclosed <title tags, and cuts the page to max_html_chars', async () => {
    const result = await fetchPage(tool, '/title-flood');
    expect(result.title).toBeUndefined();
    expect(result.truncated).toBe(true);
  });

  it('cuts a page where it nests deeper than any real page', async () => {
    const result = await fetchPage(tool, '/deep-nesting');
    expect(result.truncated).toBe(true);
  });

  it('turns a conversion that runs out of time into a clear tool error, and the next page still converts', async () => {
    const hurried = fetchUrlTool({ convert_timeout_s: 0.02 });
    const error = await hurried.execute({ url: `${origin}/many-elements` }, context()).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe('fetch_failed');
    expect((error as BatonError).message).toMatch(/converting the page to text took longer than 0\.02 s/);
    const next = await fetchPage(tool, '/small');
    expect(next).toMatchObject({ title: 'Small', text: 'Small page.' });
  });
});
