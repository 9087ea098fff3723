// The event stream: GET /poll (the long poll) and GET /presence.
import type { Middleware } from 'koa';
import type { Core } from '../core';
import { parseCursor } from '../cursor';
import { Errors } from '../errors';
import { poll } from '../stream';
import type { DeviceHandler } from './auth';
import type { AppRouter, AppState } from './context';
import { optionalInt, optionalSeconds, optionalString } from './validate';

export function streamRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  const { config } = core;

  router.get('/poll', authed(async (ctx, device) => {
    const q = ctx.query;
    const rawSince = optionalString(q, 'since');
    // An empty since= is what a client with no stored cursor sends ("since=" + ""): same as
    // omitting it, so it resumes from the device's stored cursor.
    const since = rawSince === undefined || rawSince === '' ? undefined : parseCursor(rawSince);
    const timeoutS = optionalSeconds(q, 'timeout');
    const timeoutMs = timeoutS === undefined ? config.pollTimeoutDefaultMs : Math.min(Math.round(timeoutS * 1000), config.pollTimeoutMaxMs);
    const limit = optionalInt(q, 'limit', { min: 1, max: config.pollLimitMax }) ?? config.pollLimitDefault;

    // 'close' on the response: the answer was sent, or the client went away first. Either way
    // the waiter is done (cancelling a settled waiter does nothing), and a client that left frees
    // its slot and timer now, not at the timeout.
    const onGone = (cancel: () => void): void => {
      if (ctx.req.socket.destroyed) cancel();
      else ctx.res.on('close', cancel); // a response closes once: no once() wrapper needed
    };
    const answer = await poll(core, device, { since, timeoutMs, limit }, onGone);
    ctx.state.pollOutcome = answer.outcome;
    if (answer.outcome === 'revoked') throw Errors.unauthorized('this device was logged out or revoked');
    ctx.type = 'application/json; charset=utf-8';
    // Built by hand from each event's JSON text, made once when the event was published.
    ctx.body = `{"cursor":${JSON.stringify(answer.cursor)},"events":[${answer.events.join(',')}]}`;
  }));

  router.get('/presence', authed((ctx, device) => {
    ctx.body = { online: core.presence.onlineUsers() };
  }));
}
