import http from 'node:http';
import https from 'node:https';
import { addAbortSignal, pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { z } from 'zod';
import type { BatonConfig } from '../../config/schema.ts';
import { BatonError, describeError } from '../../errors.ts';
import { cutText } from '../../text/cut-text.ts';
import { defineTool, type Tool } from '../tool.ts';
import { decodeText } from './decode-text.ts';
import { convertPageText } from './page-text-pool.ts';

export type FetchUrlOptions = BatonConfig['tools']['fetch_url'];

/** Operator-level exceptions to the address policy. */
export interface FetchUrlOverrides {
  /** IPs or CIDRs reachable even when private addresses are refused (tests, or one known internal host). */
  allowedAddresses?: string[];
}

/** What fetch_url hands back to the model. */
export interface FetchUrlResult {
  /** The URL asked for, without credentials. */
  url: string;
  /** The URL of the last redirect hop, without credentials. */
  final_url: string;
  /** HTTP status of the final response; non-2xx pages are returned too. */
  status: number;
  /** Media type without parameters, e.g. `text/html`; sniffed when the server sent none. */
  content_type: string;
  /** The page `<title>`, for HTML only. */
  title?: string;
  text: string;
  /** True when the body was cut at `max_bytes` or the text at `max_chars`. */
  truncated: boolean;
}

const maxRedirects = 5;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const requestHeaders = {
  'user-agent': 'Mozilla/5.0 (compatible; Baton/0.1; +fetch_url tool)',
  accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.1',
  'accept-encoding': 'gzip, deflate, br',
};

/** request-filtering-agent reports a refused address only in its message; this is its one shape. */
const refusedAddressPattern = /^DNS lookup (\S+?)\(family:[^)]*\) is not allowed/;

type BodyKind = 'html' | 'text';

interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export function createFetchUrlTool(options: FetchUrlOptions, overrides: FetchUrlOverrides = {}): Tool {
  const filter = {
    allowPrivateIPAddress: options.allow_private_addresses,
    // 0.0.0.0 and :: reach the local machine, so they follow the private-address switch.
    allowMetaIPAddress: options.allow_private_addresses,
    allowIPAddressList: overrides.allowedAddresses ?? [],
  };
  const agents: Agents = {
    http: new RequestFilteringHttpAgent(filter),
    https: new RequestFilteringHttpsAgent(filter),
  };

  const inputSchema = z.strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'url must be an absolute http:// or https:// URL' })
      .describe('The absolute http:// or https:// URL to fetch.'),
    max_chars: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        `Most characters of page text to return; default and ceiling ${options.max_chars}. Ask for fewer to save context.`,
      ),
  });

  return defineTool({
    name: 'fetch_url',
    // A GET: fetching again is harmless (and bounded, see maxToolCallStarts).
    retrySafe: true,
    description:
      'Fetch a web page or text document with HTTP GET and return its readable text: HTML is converted to ' +
      'plain text with links kept as URLs, plus the page title; JSON and other text come back as is. ' +
      'Error pages (404 and so on) are returned with their status. Images, PDFs and other binary files are ' +
      'not supported. Private and local network addresses are refused.',
    inputSchema,
    async execute(input, context): Promise<FetchUrlResult> {
      const requested = new URL(input.url);
      const maxChars = Math.min(input.max_chars ?? options.max_chars, options.max_chars);
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), options.timeout_s * 1000);
      const signal = AbortSignal.any([context.signal, timeout.signal]);
      try {
        signal.throwIfAborted();
        const { response, finalUrl } = await openFollowingRedirects(requested, agents, signal);
        const page = await readPage(response, finalUrl, options, signal);
        const text = cutText(page.text, maxChars, { marker: '' });
        return {
          url: withoutCredentials(requested),
          final_url: withoutCredentials(finalUrl),
          status: response.statusCode ?? 0,
          content_type: page.contentType,
          ...(page.title ? { title: page.title } : {}),
          text,
          truncated: page.truncated || text.length < page.text.length,
        };
      } catch (error) {
        // Whatever failed underneath, an abort or the time cap is the real reason.
        if (context.signal.aborted) {
          throw new BatonError('aborted', `fetch of ${withoutCredentials(requested)} was cancelled`, {
            cause: error,
          });
        }
        if (timeout.signal.aborted) {
          throw new BatonError(
            'fetch_failed',
            `fetch of ${withoutCredentials(requested)} timed out after ${options.timeout_s}s`,
            { cause: error },
          );
        }
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/** GETs `start`, following up to `maxRedirects` redirects, each hop re-checked for scheme and address. */
async function openFollowingRedirects(
  start: URL,
  agents: Agents,
  signal: AbortSignal,
): Promise<{ response: http.IncomingMessage; finalUrl: URL }> {
  let url = start;
  for (let hop = 0; ; hop += 1) {
    const response = await sendRequest(url, agents, signal);
    const location = response.headers.location;
    if (!redirectStatuses.has(response.statusCode ?? 0) || !location) return { response, finalUrl: url };
    response.destroy();
    if (hop === maxRedirects) {
      throw new BatonError(
        'fetch_failed',
        `gave up on ${withoutCredentials(start)} after ${maxRedirects} redirects`,
        { fault: 'model' },
      );
    }
    url = redirectTarget(location, url);
  }
}

function redirectTarget(location: string, from: URL): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch (error) {
    throw new BatonError('fetch_failed', `${withoutCredentials(from)} redirected to an invalid URL`, {
      fault: 'model',
      cause: error,
    });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new BatonError(
      'fetch_refused',
      `refused to follow the redirect from ${withoutCredentials(from)} to a ${target.protocol} URL`,
      { fault: 'model' },
    );
  }
  return target;
}

function sendRequest(url: URL, agents: Agents, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? agents.https : agents.http;
    const request = client.request(url, { method: 'GET', agent, headers: requestHeaders, signal }, resolve);
    request.on('error', (error) => reject(connectionError(error, url)));
    request.end();
  });
}

function connectionError(error: Error, url: URL): BatonError {
  const refused = refusedAddressPattern.exec(error.message);
  if (refused) {
    return new BatonError(
      'fetch_refused',
      `refused to fetch ${withoutCredentials(url)}: ${refused[1]} is a private/loopback/link-local address`,
      { fault: 'model', cause: error },
    );
  }
  return new BatonError(
    'fetch_failed',
    `failed to fetch ${withoutCredentials(url)}: ${describeError(error)}`,
    {
      cause: error,
    },
  );
}

interface Page {
  contentType: string;
  title?: string;
  text: string;
  truncated: boolean;
}

async function readPage(
  response: http.IncomingMessage,
  url: URL,
  options: FetchUrlOptions,
  signal: AbortSignal,
): Promise<Page> {
  const header = parseContentType(response.headers['content-type']);
  const declaredKind = header ? bodyKind(header.mediaType) : undefined;
  if (declaredKind === null) {
    response.destroy();
    throw new BatonError(
      'fetch_failed',
      `${withoutCredentials(url)} is ${header?.mediaType}, not text; fetch_url reads only HTML, text and JSON`,
      { fault: 'model' },
    );
  }
  let body: Buffer;
  let truncated: boolean;
  try {
    ({ body, truncated } = await readBody(response, options.max_bytes, signal));
  } catch (error) {
    throw new BatonError(
      'fetch_failed',
      `failed to read ${withoutCredentials(url)}: ${describeError(error)}`,
      { cause: error },
    );
  }
  const kind = declaredKind ?? sniffKind(body);
  if (kind === null) {
    throw new BatonError(
      'fetch_failed',
      `${withoutCredentials(url)} sent binary data without a content type`,
      {
        fault: 'model',
      },
    );
  }
  const contentType = header?.mediaType ?? (kind === 'html' ? 'text/html' : 'text/plain');
  if (kind === 'text') {
    // Only what can be returned is decoded (a UTF-16 unit takes at most 3 bytes of UTF-8, 2 of UTF-16):
    // decoding the whole 2 MB would hold the event loop for tens of milliseconds.
    const prefixBytes = options.max_chars * 4;
    const text = decodeText(body.subarray(0, prefixBytes), header?.charset);
    return { contentType, text, truncated: truncated || body.length > prefixBytes };
  }
  // Decoding, the title and the conversion all run on a worker thread: each is CPU-heavy on a large page.
  const charset = header?.charset ?? metaCharset(body);
  const converted = await convertPageText(
    {
      body,
      ...(charset ? { charset } : {}),
      baseUrl: url.href,
      maxHtmlChars: options.max_html_chars,
      maxTextChars: options.max_chars,
    },
    { timeoutMs: options.convert_timeout_s * 1000, signal },
  );
  return {
    contentType,
    ...(converted.title ? { title: converted.title } : {}),
    text: converted.text,
    truncated: truncated || converted.cut,
  };
}

/** Reads the (decompressed) body, stopping at `maxBytes`; decompressed size counts, so a zip bomb stops too. */
async function readBody(
  response: http.IncomingMessage,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ body: Buffer; truncated: boolean }> {
  const stream = addAbortSignal(signal, decompressed(response));
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const room = maxBytes - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, room));
        size += room;
        truncated = true;
        break;
      }
      chunks.push(chunk);
      size += chunk.length;
    }
  } finally {
    stream.destroy();
    response.destroy();
  }
  return { body: Buffer.concat(chunks, size), truncated };
}

function decompressed(response: http.IncomingMessage): Readable {
  const encoding = response.headers['content-encoding']?.trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  if (!decoder) return response;
  // pipeline carries an error or abort on either side to the other, so the reader never hangs.
  return pipeline(response, decoder, () => {});
}

function parseContentType(header: string | undefined): { mediaType: string; charset?: string } | undefined {
  if (!header) return undefined;
  const [mediaType = '', ...parameters] = header.split(';').map((part) => part.trim());
  if (!mediaType) return undefined;
  const charset = parameters
    .map((parameter) => /^charset\s*=\s*"?([^";]+)"?$/i.exec(parameter)?.[1])
    .find((value) => value !== undefined);
  return { mediaType: mediaType.toLowerCase(), ...(charset ? { charset } : {}) };
}

/** null means a type the model cannot read as text. */
function bodyKind(mediaType: string): BodyKind | null {
  if (mediaType === 'text/html' || mediaType === 'application/xhtml+xml') return 'html';
  if (mediaType.startsWith('text/')) return 'text';
  if (/^application\/([\w.-]+\+)?(json|xml)$/.test(mediaType)) return 'text';
  if (/^application\/(x-)?(javascript|ecmascript|ndjson|yaml|x-yaml|toml)$/.test(mediaType)) return 'text';
  return null;
}

function sniffKind(body: Buffer): BodyKind | null {
  const head = body.subarray(0, 1024);
  if (head.includes(0)) return null;
  return /^\s*(<!doctype html|<html|<head|<body)/i.test(head.toString('latin1')) ? 'html' : 'text';
}

function metaCharset(body: Buffer): string | undefined {
  return /<meta[^>]+charset\s*=\s*["']?([\w-]+)/i.exec(body.subarray(0, 2048).toString('latin1'))?.[1];
}

/** The URL as shown to the model and in logs: user:password@ never leaves the process. */
function withoutCredentials(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
