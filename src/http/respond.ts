// The outermost middleware: every answer leaves through here, errors included.
// - caching headers on everything (old proxies and caches must never store a chat answer);
// - errors rendered in the contract's shape; anything unexpected becomes 500 internal_error
//   and its message and stack go to the log only (Koa's own rule: expose only what is meant);
// - JSONP for GET: `/**/NAME({...});`, always status 200 with the real status inside.
import type { Context, Middleware } from 'koa';
import { AppError, Errors, isAppError } from '../errors';
import { errorFields, type Logger } from '../log';

const CALLBACK_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$/;
const POLL_PATH = /^\/poll\/?$/i;

/** Errors thrown by koa-body / co-body / raw-body carry a status and a `type`. */
interface HttpLibError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** The catalog's error for what a body parser (co-body, raw-body) threw; null for a fault. */
export function toAppError(err: unknown, bodyLimit: number): AppError | null {
  if (isAppError(err)) return err;
  if (typeof err !== 'object' || err === null) return null;
  const e = err as HttpLibError;
  const status = e.status ?? e.statusCode;
  if (typeof status !== 'number' || status >= 500) return null;
  if (status === 413 || e.type === 'entity.too.large') return Errors.payloadTooLarge(bodyLimit);
  // co-body marks JSON it cannot parse as a SyntaxError with status 400 (no `type`).
  if (e.type === 'entity.parse.failed' || err instanceof SyntaxError) return Errors.invalidJson();
  // Unsupported charset or encoding, aborted or malformed bodies, bad URI encoding: all the
  // client's doing, all fixable by the client.
  return Errors.invalidRequest('body', e.expose && e.message ? e.message.toLowerCase() : 'could not be read');
}

function jsonpCallback(ctx: Context): string | undefined {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return undefined;
  const cb = ctx.query.callback;
  if (cb === undefined) return undefined;
  if (typeof cb !== 'string' || !CALLBACK_PATTERN.test(cb)) {
    throw Errors.invalidRequest('callback', 'must match ^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$');
  }
  return cb;
}

/** A script tag cannot see a status code, so JSONP is always 200 with the status inside. */
function wrapJsonp(ctx: Context, callback: string): void {
  const status = ctx.status;
  const body: unknown = ctx.body;
  let json: string;
  if (typeof body === 'string' && ctx.response.is('json')) {
    json = body; // prebuilt JSON text (poll answers); only ever sent with status 200
  } else if (typeof body === 'string') {
    json = JSON.stringify(status === 200 ? { text: body } : { text: body, status });
  } else if (
    body !== null &&
    typeof body === 'object' &&
    !Buffer.isBuffer(body) &&
    typeof (body as { pipe?: unknown }).pipe !== 'function'
  ) {
    json = JSON.stringify(status === 200 ? body : { ...body, status });
  } else if (body === null || body === undefined) {
    json = JSON.stringify({ status });
  } else {
    return; // a file stream (the page itself): not an API answer, leave it alone
  }
  // U+2028 and U+2029 are valid in JSON but ended a string literal in JavaScript before ES2019.
  json = json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  ctx.status = 200;
  ctx.type = 'application/javascript; charset=utf-8';
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.body = `/**/${callback}(${json});`;
}

export interface EdgeOptions {
  logger: Logger;
  bodyLimitBytes: number;
  /** Sets the CORS headers of an answer (see cors.ts). */
  cors: (ctx: Context) => void;
  /** Records the finished request: metrics and the log line (see observe.ts). */
  observe: (ctx: Context, seconds: number) => void;
  /** True once the server is shutting down. */
  closing: () => boolean;
}

export function respond(opts: EdgeOptions): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    let callback: string | undefined;
    try {
      // HTTP/1.1 requires Host (RFC 9112 3.2); createHttpServer lets requests without it reach here.
      if (ctx.req.httpVersion === '1.1' && ctx.req.headers.host === undefined) {
        throw Errors.invalidRequest('Host', 'the Host header is required in HTTP/1.1');
      }
      callback = jsonpCallback(ctx);
      await next();
    } catch (err) {
      let appErr = toAppError(err, opts.bodyLimitBytes);
      if (!appErr) {
        opts.logger.error({ err: errorFields(err), method: ctx.method, route: routeOf(ctx) }, 'unexpected error');
        appErr = Errors.internal();
      }
      ctx.status = appErr.status;
      for (const [name, value] of Object.entries(appErr.headers)) ctx.set(name, value);
      ctx.body = appErr.toJSON();
      ctx.state.errorCode = appErr.code;
    }
    // Set once the answer is decided rather than up front: a held poll then carries no header
    // objects while it waits (ten thousand of them add up), and every path, errors included,
    // still leaves with them.
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.set('Expires', '0');
    opts.cors(ctx);
    // Poll answers, errors included (a 401 ends a client's poll loop too): tells nginx, and
    // proxies that copy it, not to buffer them.
    // The router matches paths ignoring case and a trailing slash: so does this.
    if (POLL_PATH.test(ctx.path)) ctx.set('X-Accel-Buffering', 'no');
    // Shutting down: the client must not send its next request on this connection, which is
    // about to close (it would get a reset instead of an answer); it opens a new one.
    if (opts.closing()) ctx.set('Connection', 'close');
    if (callback !== undefined) wrapJsonp(ctx, callback);
    opts.observe(ctx, Number(process.hrtime.bigint() - started) / 1e9);
  };
}

/** The route pattern that answered ("/devices/:id"), never the URL, which may hold a token. */
export function routeOf(ctx: Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
  return matched ?? (ctx.status < 400 ? 'static' : 'unmatched');
}
