import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { HTTPReceiver } from '@slack/bolt';
import type { Logger } from '../../src/logging/logger.ts';

/** Bolt's own default body limit (4 MB), kept. */
const maxBodyBytes = 4 * 1024 * 1024;

/**
 * Whether a request body is one Bolt can read: a JSON object, or a form whose `payload` (when present)
 * is a JSON object. Bolt parses the same way but then reads `body.ssl_check` unguarded, so a signed
 * `payload=null` threw inside its request handler, an unhandled rejection that ended the process.
 */
export function isReadableSlackBody(rawBody: string, contentType: string | undefined): boolean {
  try {
    // Bolt compares the content type exactly; anything else it parses as JSON.
    if (contentType === 'application/x-www-form-urlencoded') {
      const form = parseQueryString(rawBody);
      return typeof form.payload === 'string' ? isJsonObject(JSON.parse(form.payload)) : true;
    }
    return isJsonObject(JSON.parse(rawBody));
  } catch {
    return false;
  }
}

function isJsonObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Reads each POST to `path` before Bolt does and answers 400 to a body Bolt cannot read (413 to one over
 * 4 MB). Bolt takes the buffered body (`rawBody`) as it is, and still checks the signature.
 */
export function guardSlackBodies(receiver: HTTPReceiver, path: string, logger: Logger): void {
  const boltListener = receiver.requestListener;
  receiver.requestListener = (request: IncomingMessage, response: ServerResponse) => {
    const requestPath = (request.url ?? '').split('?', 1)[0];
    if (request.method !== 'POST' || requestPath !== path) {
      boltListener(request, response);
      return;
    }
    void readBody(request).then(
      (rawBody) => {
        if (rawBody === null) return answer(response, 413);
        if (!isReadableSlackBody(rawBody.toString('utf8'), request.headers['content-type'])) {
          logger.warn({ bytes: rawBody.length }, 'slack request body is not a JSON object; refused');
          return answer(response, 400);
        }
        (request as IncomingMessage & { rawBody?: Buffer }).rawBody = rawBody;
        try {
          boltListener(request, response);
        } catch (error) {
          logger.error({ err: error }, 'slack request handling failed');
          answer(response, 500);
        }
      },
      (error: unknown) => {
        logger.warn({ err: error }, 'reading a slack request failed');
        answer(response, 400);
      },
    );
  };
}

function readBody(request: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        resolve(null);
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(size > maxBodyBytes ? null : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, status: number): void {
  if (response.headersSent) return;
  response.writeHead(status);
  response.end();
}
