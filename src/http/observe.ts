// The outermost middleware: one log line and the metrics for every request, after the answer
// is decided (errors included). Logs carry the route pattern, never the URL: a URL may hold an
// access_token, and bodies are never logged at all.
import type { Middleware } from 'koa';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { AppState } from './context';

export function observe(metrics: Metrics, logger: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const matched = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
      const route = matched ?? (ctx.status < 400 ? 'static' : 'unmatched');
      metrics.request(ctx.method, route, ctx.status, seconds);
      if (route === '/poll') {
        const code = ctx.state.errorCode;
        metrics.pollAnswered(ctx.state.pollOutcome ?? (code === 'overloaded' ? 'overloaded' : 'error'));
      }
      const line = {
        method: ctx.method,
        route,
        status: ctx.status,
        ms: Math.round(seconds * 10_000) / 10,
        user: ctx.state.device?.username,
        device: ctx.state.device?.id,
        outcome: ctx.state.pollOutcome,
        code: ctx.state.errorCode,
      };
      if (ctx.status >= 500) logger.error(line, 'request');
      else logger.info(line, 'request');
    }
  };
}
