// The long poll (GET /poll), following Zulip's fetch_events: if anything is newer than the
// client's cursor, answer now; otherwise park the request until an event or the timeout. The
// client acknowledges by sending back the cursor it was given, which gives exactly-once,
// in-order delivery even when an answer is lost on the way. See hub.ts for why subscribing
// comes before reading.
import type { Core } from './core';
import { formatCursor } from './cursor';
import { Errors } from './errors';
import type { Outcome, OutcomeKind, Waiter } from './hub';
import type { DeviceAuth, StreamEvent } from './types';
import { eventRowJson } from './views';

export interface PollRequest {
  /** undefined: continue from the device's stored cursor. */
  since?: number;
  timeoutMs: number;
  limit: number;
}

export interface PollAnswer {
  /**
   * What ended the poll: for metrics and logs. 'immediate': events were already there.
   * 'revoked': the device was logged out while waiting; the caller answers 401.
   */
  outcome: OutcomeKind | 'immediate';
  cursor: string;
  /** JSON text of each event, oldest first. */
  events: string[];
}

function answer(outcome: PollAnswer['outcome'], since: number, events: readonly StreamEvent[]): PollAnswer {
  const last = events[events.length - 1];
  return { outcome, cursor: formatCursor(last ? last.seq : since), events: events.map((e) => e.json) };
}

function readEvents(core: Core, device: DeviceAuth, since: number, limit: number): StreamEvent[] {
  return core.store
    .eventsAfter(device.userId, since, limit)
    .map((e) => ({ seq: e.seq, json: eventRowJson(e, device.userId) }));
}

/** Retry-After for 503: a base plus up to as much again, so a reconnect storm spreads out. */
function overloadRetryAfter(baseS: number): number {
  return baseS + Math.floor(Math.random() * (baseS + 1));
}

/** How a poll ends for its caller: an answer, or an error (an AppError or a fault). */
export type PollDone = (err: unknown, answer?: PollAnswer) => void;

/**
 * Runs a poll and calls `done` once with its answer: synchronously when it can answer at once or
 * refuses, later when it was held. Callback style on purpose: a held poll keeps only this
 * call's closures and its waiter, not suspended async frames and promises (bench/README.md).
 *
 * @param onGone registers a callback for when the client goes away (its connection closed), so
 *   the waiter and its timer are freed at once rather than at the timeout.
 */
export function startPoll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (cancel: () => void) => void, done: PollDone): void {
  const since = req.since ?? device.cursor;
  const limit = req.limit;
  // Set once the poll is held: an outcome delivered before that is the cancellation of a poll
  // that was answered (or refused) without waiting, and nobody reads it.
  let waiting = false;
  const waiter = core.hub.subscribe(device.userId, device.id, since, (outcome) => {
    if (!waiting) return;
    let a: PollAnswer;
    try {
      // A poll that ends shows its device was there until now, unless it ended because the
      // device was logged out or revoked: that one must stop counting at once (#14).
      if (outcome.kind !== 'revoked') core.presence.touch(device.userId, device.username, device.id);
      a = woken(core, device, since, limit, outcome);
    } catch (err) {
      done(err);
      return;
    }
    done(null, a);
  });
  let ready: PollAnswer | null;
  try {
    ready = begin(core, device, req, since, waiter);
  } catch (err) {
    waiter.cancel();
    done(err);
    return;
  }
  if (ready) {
    waiter.cancel();
    done(null, ready);
    return;
  }
  waiting = true;
  // Already settled (the server began shutting down): its answer is on its way, nothing to cancel.
  if (!waiter.isSettled) onGone(() => waiter.cancel());
}

/** startPoll() as a promise: for the Koa route and tests. */
export function poll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (cancel: () => void) => void): Promise<PollAnswer> {
  return new Promise((resolve, reject) => startPoll(core, device, req, onGone, (err, a) => (a ? resolve(a) : reject(err))));
}

/** The part of a poll before it waits: an answer now, or null once the waiter is held. Throws refusals. */
function begin(core: Core, device: DeviceAuth, req: PollRequest, since: number, waiter: Waiter<StreamEvent>): PollAnswer | null {
  const now = Date.now();
  // Presence counts polls that were accepted (touched below): a refused one (bad cursor,
  // server full) says nothing about a device that is really following its stream.

  // The head first: one cheap index probe tells "nothing new" (the common case: a client
  // polling again right after its answer) and "ahead of the stream" without reading events.
  const head = core.store.headSeq(device.userId);
  if (since > head) throw Errors.invalidCursor('the cursor is ahead of the event stream; resynchronise from history');
  core.store.noteDeviceSeen(device.id, now, since);
  if (head > since) {
    const ready = readEvents(core, device, since, req.limit);
    if (ready.length > 0) {
      core.presence.touch(device.userId, device.username, device.id, now);
      return answer('immediate', since, ready);
    }
  }
  if (req.timeoutMs === 0) {
    core.presence.touch(device.userId, device.username, device.id, now);
    return answer('timeout', since, []);
  }
  if (waiter.hold(req.timeoutMs) === 'overloaded') throw Errors.overloaded(overloadRetryAfter(core.config.overloadRetryAfterS));
  core.presence.touch(device.userId, device.username, device.id, now);
  return null;
}

/** The answer of a held poll, from what ended its wait. */
function woken(core: Core, device: DeviceAuth, since: number, limit: number, outcome: Outcome<StreamEvent>): PollAnswer {
  switch (outcome.kind) {
    case 'events': {
      // The published events are the ones committed after we subscribed; they follow on
      // directly from `since` when nothing was missed. If they do not (they always should),
      // read the store rather than risk a gap.
      const first = outcome.events[0];
      const events = first && first.seq === since + 1 ? outcome.events.slice(0, limit) : readEvents(core, device, since, limit);
      return answer('events', since, events);
    }
    case 'revoked':
    case 'timeout':
    case 'superseded':
    case 'shutdown':
    case 'cancelled':
      return answer(outcome.kind, since, []);
  }
}
