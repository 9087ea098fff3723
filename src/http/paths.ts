// One spelling per endpoint (#13). A proxy rule such as nginx's `location = /metrics` matches
// one path exactly (after decoding %XX, resolving dot segments and merging slashes), so the
// server must answer an endpoint for that spelling only: anything a proxy sees as another path
// and passes on must not reach the endpoint here. The router is case-sensitive and strict
// about trailing slashes (server.ts); this covers what Koa's URL parsing drops before routing:
// a fragment (`/metrics#x` is routed as `/metrics`, where a proxy sees another path).
import type { Middleware } from 'koa';
import { Errors } from '../errors';

export const exactPath: Middleware = (ctx, next) => {
  const url = ctx.req.url ?? '';
  // Only the usual origin-form; the absolute form (`GET http://host/path`) has its own parse.
  if (url.startsWith('/')) {
    const q = url.indexOf('?');
    const raw = q < 0 ? url : url.slice(0, q);
    if (raw !== ctx.path) throw Errors.notFound(`no such endpoint: ${ctx.method} ${raw}`);
  }
  return next();
};
