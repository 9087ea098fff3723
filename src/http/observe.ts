// One log line and the metrics for every request, once the answer is decided (errors
// included). Logs carry the route pattern, never the URL: a URL may hold an access_token, and
// bodies are never logged at all.
import type { Context } from 'koa';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { DeviceAuth } from '../types';
import type { AppState } from './context';

/** What is recorded of a finished request, whichever way it was answered. */
export interface Finished {
  method: string;
  /** The route pattern ("/devices/:id"), never the URL. */
  route: string;
  status: number;
  seconds: number;
  device?: DeviceAuth;
  /** How a poll ended. */
  pollOutcome?: string;
  /** The error code of an error answer. */
  errorCode?: string;
}

export type Recorder = (f: Finished) => void;

export function recorder(metrics: Metrics, logger: Logger): Recorder {
  return (f) => {
    metrics.request(f.method, f.route, f.status, f.seconds);
    if (f.route === '/poll') {
      // A poll refused at a cap: the server's (503 overloaded) or the user's (429, #13).
      metrics.pollAnswered(
        f.pollOutcome ?? (f.errorCode === 'overloaded' ? 'overloaded' : f.errorCode === 'rate_limited' ? 'limited' : 'error'),
      );
    }
    const line = {
      method: f.method,
      route: f.route,
      status: f.status,
      ms: Math.round(f.seconds * 10_000) / 10,
      user: f.device?.username,
      device: f.device?.id,
      outcome: f.pollOutcome,
      code: f.errorCode,
    };
    if (f.status >= 500) logger.error(line, 'request');
    else logger.info(line, 'request');
  };
}

/** The route pattern the router has for a method and path ("/devices/:id"), if any. */
export type RouteFor = (method: string, path: string) => string | undefined;

/**
 * The route an answer is logged under: the pattern that answered, or the one that would have
 * (a body refused before routing is still logged under its route, as the fast lane logs it);
 * never the URL, which may hold a token.
 */
export function routeOf(ctx: Context, routeFor: RouteFor): string {
  const matched = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
  return matched ?? routeFor(ctx.method, ctx.path) ?? (ctx.status < 400 ? 'static' : 'unmatched');
}

/** The recorder fed from a Koa context (see respond.ts). */
export function observer(record: Recorder, routeFor: RouteFor): (ctx: Context, seconds: number) => void {
  return (ctx, seconds) => {
    const state = ctx.state as AppState;
    record({
      method: ctx.method,
      route: routeOf(ctx, routeFor),
      status: ctx.status,
      seconds,
      device: state.device,
      pollOutcome: state.pollOutcome,
      errorCode: state.errorCode,
    });
  };
}
