// CORS on every answer, errors included, whether or not the request carried an Origin header
// (the contract promises the header on every answer; @koa/cors only adds it when Origin is
// present, which curl-based checks and some old proxies never send). Tokens travel in headers
// or parameters, never in cookies, so `*` exposes nothing a page could not already read.
import type { Middleware } from 'koa';

/** Every method the server answers anywhere. */
export const ALLOW_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'];
const ALLOW_HEADERS = 'Authorization, Content-Type, X-HTTP-Method-Override, X-Requested-With';
export const EXPOSE_HEADERS = 'Retry-After, Allow';
/** Seconds a browser may cache a preflight answer: fewer round trips on slow kiosk links. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * The Access-Control-Allow-Origin for a request's Origin header, and whether the answer
 * depends on it (then it must say `Vary: Origin`).
 */
export function allowOrigin(configured: string): (requestOrigin: string | undefined) => { origin: string; vary: boolean } {
  if (configured === '*') {
    const any = { origin: '*', vary: false };
    return () => any;
  }
  const allowed = configured.split(',').map((s) => s.trim());
  // A list of origins: answer with the caller's own origin when it is on the list.
  return (requestOrigin) => ({
    origin: requestOrigin !== undefined && allowed.includes(requestOrigin) ? requestOrigin : (allowed[0] ?? 'null'),
    vary: true,
  });
}

/** A comma-separated list of header names, nothing else (RFC 9110 tokens). */
const HEADER_NAMES = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/**
 * The Access-Control-Allow-Origin of answers that never reach the app (see client-errors.ts):
 * with no request headers to read, `*` or the first configured origin.
 */
export function fixedOrigin(configured: string): string {
  return configured === '*' ? '*' : configured.split(',')[0]?.trim() || 'null';
}

/** Answers a CORS preflight (OPTIONS with Access-Control-Request-Method); passes on the rest. */
export const preflight: Middleware = (ctx, next) => {
  if (ctx.method !== 'OPTIONS' || !ctx.get('Access-Control-Request-Method')) return next();
  ctx.set('Access-Control-Allow-Methods', ALLOW_METHODS.join(', '));
  // Whatever headers the page asks to send (a library's X-Requested-With, an old page's
  // Cache-Control or Pragma against caching proxies) are allowed: tokens are not cookies, so
  // no header gives a page more than it could already do. Anything that is not a plain list
  // of names gets the fixed list.
  const asked = ctx.get('Access-Control-Request-Headers').trim();
  ctx.set('Access-Control-Allow-Headers', HEADER_NAMES.test(asked) ? asked : ALLOW_HEADERS);
  ctx.vary('Access-Control-Request-Headers');
  ctx.set('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
  ctx.status = 204;
  return Promise.resolve();
};
