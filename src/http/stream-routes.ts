// The event stream: GET /poll (the long poll) and GET /presence.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Config } from '../config';
import type { Core } from '../core';
import { parseCursor } from '../cursor';
import { Errors } from '../errors';
import { type Cancellable, poll, type PollAnswer, type PollRequest } from '../stream';
import type { DeviceHandler } from './access-token';
import { type Answer, errorAnswer, json, reply } from './answer';
import type { AppRouter, AppState } from './context';
import { type Fields, optionalInt, optionalSeconds, optionalString } from './validate';

/** GET /poll's parameters, checked: shared by the route below and the fast lane (fast-lane.ts). */
export function pollRequest(q: Fields, config: Config): PollRequest {
  const rawSince = optionalString(q, 'since');
  // An empty since= is what a client with no stored cursor sends ("since=" + ""): same as
  // omitting it, so it resumes from the device's stored cursor.
  const since = rawSince === undefined || rawSince === '' ? undefined : parseCursor(rawSince);
  const timeoutS = optionalSeconds(q, 'timeout');
  const timeoutMs = timeoutS === undefined ? config.pollTimeoutDefaultMs : Math.min(Math.round(timeoutS * 1000), config.pollTimeoutMaxMs);
  const limit = optionalInt(q, 'limit', { min: 1, max: config.pollLimitMax }) ?? config.pollLimitDefault;
  return { since, timeoutMs, limit };
}

/** A poll answer's JSON, built by hand from each event's JSON text, made once when it was published. */
export function pollBody(answer: PollAnswer): string {
  return `{"cursor":${JSON.stringify(answer.cursor)},"events":[${answer.events.join(',')}]}`;
}

/** How a poll ended, as its answer: the events, or 401 for a device logged out while it waited. */
export function pollAnswer(a: PollAnswer): Answer {
  if (a.outcome === 'revoked') return errorAnswer(Errors.deviceEnded(), a.outcome);
  return { status: 200, body: pollBody(a), headers: NO_HEADERS, outcome: a.outcome };
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Where a response keeps its poll, for cancelPoll (a property, not a closure per poll). */
const POLL = Symbol('poll');
type PollResponse = ServerResponse & { [POLL]?: Cancellable };

/** 'close' on a poll's response: one function for every poll, finding the poll on the response. */
function cancelPoll(this: PollResponse): void {
  this[POLL]?.cancel();
}

/**
 * 'close' on the response: the answer was sent, or the client went away first. Either way the
 * waiter is done (cancelling a settled waiter does nothing), and a client that left frees its
 * slot and deadline now, not at the timeout. The poll is kept on the response and the listener
 * is shared: a closure per poll would be kept as long as the poll is held.
 */
export function cancelWhenGone(req: IncomingMessage, res: ServerResponse, poll: Cancellable): void {
  if (req.socket.destroyed) poll.cancel();
  else {
    (res as PollResponse)[POLL] = poll;
    res.on('close', cancelPoll); // a response closes once: no once() wrapper needed
  }
}

export function streamRoutes(router: AppRouter, core: Core, authed: (handler: DeviceHandler) => Middleware<AppState>): void {
  const { config } = core;

  router.get(
    '/poll',
    authed(async (ctx, device) => {
      reply(ctx, pollAnswer(await poll(core, device, pollRequest(ctx.state.query, config), (p) => cancelWhenGone(ctx.req, ctx.res, p))));
    }),
  );

  router.get(
    '/presence',
    authed((ctx) => {
      reply(ctx, json(200, { online: core.presence.onlineUsers() }));
    }),
  );
}
