// The outermost Koa middleware: the answers of every Koa route and of the page's files leave
// through here, errors included (the fast lane's leave through fast-lane.ts, with the same
// headers and error mapping from answer.ts):
// - the query parsed once (urlencoded.ts), so a bad one is refused whatever the route;
// - errors mapped to the contract's shape by failure(); anything unexpected becomes 500
//   internal_error and its message and stack go to the log only;
// - the contract's headers on everything (contractHeaders());
// - JSONP for GET: `/**/NAME({...});`, always status 200 with the real status inside.
import type { Context, Middleware } from 'koa';
import { Errors } from '../errors';
import type { Logger } from '../log';
import { contractHeaders, failure, reply } from './answer';
import type { AppState } from './context';
import { allowOrigin } from './cors';
import { parseQuery } from './urlencoded';

const CALLBACK_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$/;
const POLL_PATH = /^\/poll\/?$/i;

function jsonpCallback(ctx: Context): string | undefined {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return undefined;
  const cb = (ctx.state as AppState).query.callback;
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
    // JSON text (what reply() sets): the status goes inside, as for any other answer.
    json = status === 200 ? body : JSON.stringify({ ...(JSON.parse(body) as object), status });
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
  ctx.body = `/**/${callback}(${json});`;
}

export interface EdgeOptions {
  logger: Logger;
  bodyLimitBytes: number;
  corsOrigin: string;
  /** The route an answer is logged under (observe.ts). */
  routeOf: (ctx: Context) => string;
  /** Records the finished request: metrics and the log line (see observe.ts). */
  observe: (ctx: Context, seconds: number) => void;
  /** True once the server is shutting down. */
  closing: () => boolean;
}

export function respond(opts: EdgeOptions): Middleware<AppState> {
  const originFor = allowOrigin(opts.corsOrigin);
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    let callback: string | undefined;
    ctx.state.query = {};
    try {
      // HTTP/1.1 requires Host (RFC 9112 3.2); createHttpServer lets requests without it reach here.
      if (ctx.req.httpVersion === '1.1' && ctx.req.headers.host === undefined) {
        throw Errors.invalidRequest('Host', 'the Host header is required in HTTP/1.1');
      }
      ctx.state.query = parseQuery(ctx.url);
      callback = jsonpCallback(ctx);
      await next();
    } catch (err) {
      reply(ctx, failure(err, { logger: opts.logger, bodyLimitBytes: opts.bodyLimitBytes, method: ctx.method, route: opts.routeOf(ctx) }));
    }
    // Set once the answer is decided rather than up front: a held poll then carries no header
    // objects while it waits (ten thousand of them add up), and every path, errors included,
    // still leaves with them. Poll answers are told by their path: the router matches paths
    // ignoring case and a trailing slash, so does POLL_PATH.
    const headers = contractHeaders({
      origin: originFor(ctx.get('Origin') || undefined),
      poll: POLL_PATH.test(ctx.path),
      closing: opts.closing(),
    });
    for (const [name, value] of Object.entries(headers)) {
      if (name === 'Vary') ctx.vary(value);
      else ctx.set(name, value);
    }
    if (callback !== undefined) wrapJsonp(ctx, callback);
    opts.observe(ctx, Number(process.hrtime.bigint() - started) / 1e9);
  };
}
