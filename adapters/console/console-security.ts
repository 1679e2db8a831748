import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

export const consoleCookieName = 'baton_console';

const loopbackNames = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Whether a bind address only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return loopbackNames.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The cookie holds a digest of the token, not the token; any process with the same token accepts it. */
export function consoleCookieValue(token: string): string {
  return createHash('sha256').update(`baton-console-cookie:${token}`).digest('hex');
}

function sameSecret(given: string, expected: string): boolean {
  const left = createHash('sha256').update(given).digest();
  const right = createHash('sha256').update(expected).digest();
  return timingSafeEqual(left, right);
}

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.split(':')[0] ?? '';
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function refuse(c: Context, status: 401 | 403 | 415, message: string): Response {
  if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="baton-console"');
  if (c.req.path.startsWith('/api/') || c.req.path === '/api') return c.json({ error: message }, status);
  return c.text(message, status);
}

export interface ConsoleSecurityOptions {
  /** When set, every request must carry it (header, or the cookie the page URL's `?token=` sets). */
  token: string | null;
  /** The address the server is bound to, accepted as a Host header name. */
  bindHost: string;
}

/**
 * Guards every route: security headers; without a token, only loopback Host names (so a web page that
 * rebinds its DNS name to 127.0.0.1 cannot drive the trusted console); with one, the token; and for
 * writes, a same-origin JSON request (a cross-site form cannot send one).
 */
export function consoleSecurity(options: ConsoleSecurityOptions): MiddlewareHandler {
  const expectedCookie = options.token ? consoleCookieValue(options.token) : null;
  return async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    const host = c.req.header('host') ?? '';
    if (!options.token) {
      const name = hostnameOf(host).toLowerCase();
      if (!isLoopbackHost(name) && name !== options.bindHost.toLowerCase()) {
        return refuse(c, 403, 'this console only answers on its loopback address');
      }
    } else {
      const token = options.token;
      const authorization = c.req.header('authorization') ?? '';
      const bearer = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
      const cookie = getCookie(c, consoleCookieName);
      const authorized =
        (bearer !== undefined && sameSecret(bearer, token)) ||
        (cookie !== undefined && expectedCookie !== null && sameSecret(cookie, expectedCookie));
      if (!authorized) {
        const queryToken = c.req.query('token');
        if (c.req.method === 'GET' && c.req.path === '/' && queryToken && sameSecret(queryToken, token)) {
          setCookie(c, consoleCookieName, expectedCookie!, {
            httpOnly: true,
            sameSite: 'Strict',
            path: '/',
            maxAge: 30 * 24 * 3600,
          });
          // Drops the token from the address bar and the history.
          return c.redirect('/', 303);
        }
        return refuse(
          c,
          401,
          'this console needs its token: open it with ?token=… or send Authorization: Bearer …',
        );
      }
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      if (origin !== undefined && originHost(origin) !== host) {
        return refuse(c, 403, 'cross-origin requests are refused');
      }
      const contentType = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(contentType)) {
        return refuse(c, 415, 'send JSON with Content-Type: application/json');
      }
    }
    await next();
  };
}
