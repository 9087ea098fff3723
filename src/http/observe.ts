// One log line and the metrics for every request, once the answer is decided (errors
// included). Logs carry the route pattern, never the URL: a URL may hold an access_token, and
// bodies are never logged at all.
import type { Context } from 'koa';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { AppState } from './context';
import { routeOf } from './respond';

export function observer(metrics: Metrics, logger: Logger): (ctx: Context, seconds: number) => void {
  return (ctx, seconds) => {
    const state = ctx.state as AppState;
    const route = routeOf(ctx);
    metrics.request(ctx.method, route, ctx.status, seconds);
    if (route === '/poll') {
      metrics.pollAnswered(state.pollOutcome ?? (state.errorCode === 'overloaded' ? 'overloaded' : 'error'));
    }
    const line = {
      method: ctx.method,
      route,
      status: ctx.status,
      ms: Math.round(seconds * 10_000) / 10,
      user: state.device?.username,
      device: state.device?.id,
      outcome: state.pollOutcome,
      code: state.errorCode,
    };
    if (ctx.status >= 500) logger.error(line, 'request');
    else logger.info(line, 'request');
  };
}
