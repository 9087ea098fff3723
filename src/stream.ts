// The long poll (GET /poll), following Zulip's fetch_events: if anything is newer than the
// client's cursor, answer now; otherwise park the request until an event or the timeout. The
// client acknowledges by sending back the cursor it was given, which gives exactly-once,
// in-order delivery even when an answer is lost on the way. See hub.ts for why subscribing
// comes before reading.
import type { Core } from './core';
import { formatCursor } from './cursor';
import { type AppError, Errors } from './errors';
import type { HoldResult, Outcome, OutcomeKind } from './hub';
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

function readEvents(core: Core, device: DeviceAuth, since: number, limit: number): Promise<StreamEvent[]> {
  return core.store
    .eventsAfter(device.userId, since, limit)
    .then((rows) => rows.map((e) => ({ seq: e.seq, json: eventRowJson(e, device.userId) })));
}

/**
 * Retry-After for a poll refused at a cap (503, or 429 at the user's): a base plus up to as much
 * again, so a reconnect storm spreads out.
 */
function overloadRetryAfter(baseS: number): number {
  return baseS + Math.floor(Math.random() * (baseS + 1));
}

/** The answer to a poll that hold() refused: the user's cap (429) or the server's (503). */
function refusedAt(cap: Exclude<HoldResult, 'held'>, retryAfterS: number): AppError {
  return cap === 'limited' ? Errors.tooManyPolls(retryAfterS) : Errors.overloaded(retryAfterS);
}

/** How a poll ends for its caller: an answer, or an error (an AppError or a fault). */
export type PollDone = (err: unknown, answer?: PollAnswer) => void;

// Where a poll is: reading the store (subscribed, not yet held), held, or answered.
const READING = 0;
const HELD = 1;
const ANSWERED = 2;

/**
 * Runs a poll and calls `done` once with its answer. Callback style on purpose: once a poll is
 * held it keeps only its waiter, the waiter's callback and what that closes over (the device, the
 * cursor, `done`): no suspended async frame and no pending promise (bench/README.md, "What a
 * held poll keeps"); the store's promises have all settled by the time it holds.
 *
 * The order is hub.ts's: subscribe, then read the store, then hold. The reads are
 * asynchronous, so an outcome may reach the waiter while they are under way (a send committed
 * meanwhile, the device revoked, the client gone, the server shutting down): it is kept and
 * answered once the reads have found nothing to answer with, never dropped.
 *
 * @param onGone registers a callback for when the client goes away (its connection closed), so
 *   the waiter and its timer are freed at once rather than at the timeout; called at once, not
 *   kept.
 */
export function startPoll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (cancel: () => void) => void, done: PollDone): void {
  const since = req.since ?? device.cursor;
  const limit = req.limit;
  const timeoutMs = req.timeoutMs;
  let phase = READING;
  let early: Outcome<StreamEvent> | null = null;
  const waiter = core.hub.subscribe(device.userId, device.id, since, (outcome) => {
    if (phase === READING) early = outcome;
    else if (phase === HELD) {
      phase = ANSWERED;
      // A poll that ends shows its device was there until now, unless it ended because the
      // device was logged out or revoked: that one must stop counting at once (#14).
      if (outcome.kind !== 'revoked') core.presence.touch(device.userId, device.username, device.id);
      woken(core, device, since, limit, outcome, done);
    }
    // ANSWERED: the cancellation of a poll answered from the store; nobody reads it.
  });
  // Already settled (the server began shutting down): its answer is on its way, nothing to cancel.
  if (!waiter.isSettled) onGone(() => waiter.cancel());
  // Everything the handlers below use is in this function's scope, which the waiter's callback
  // keeps alive while the poll is held: only what it needs anyway (no `req`, no `onGone`).
  begin(core, device, req, since).then(
    (ready) => {
      if (ready) {
        phase = ANSWERED;
        waiter.cancel();
        done(null, ready);
      } else if (early) {
        phase = ANSWERED;
        if (early.kind !== 'revoked') core.presence.touch(device.userId, device.username, device.id);
        woken(core, device, since, limit, early, done);
      } else {
        const held = waiter.hold(timeoutMs);
        if (held === 'held') {
          // Held (or woken after the reads, before this line: its answer is on its way).
          phase = HELD;
          core.presence.touch(device.userId, device.username, device.id);
        } else {
          phase = ANSWERED;
          waiter.cancel();
          done(refusedAt(held, overloadRetryAfter(core.config.overloadRetryAfterS)));
        }
      }
    },
    (err: unknown) => {
      phase = ANSWERED;
      waiter.cancel();
      done(err);
    },
  );
}

/** startPoll() as a promise: for the Koa route and tests. */
export function poll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (cancel: () => void) => void): Promise<PollAnswer> {
  return new Promise((resolve, reject) =>
    startPoll(core, device, req, onGone, (err, a) => (a ? resolve(a) : reject(err instanceof Error ? err : new Error(String(err))))),
  );
}

/**
 * The reads of a poll, after it has subscribed: an answer now, or null when it is to be held.
 * Rejects with refusals (a cursor ahead of the stream).
 */
function begin(core: Core, device: DeviceAuth, req: PollRequest, since: number): Promise<PollAnswer | null> {
  const now = Date.now();
  // Presence counts polls that were accepted (touched below): a refused one (bad cursor,
  // server full) says nothing about a device that is really following its stream.

  // The device first, again: it was authenticated before the poll subscribed, and a revocation
  // that came in between found no waiter to answer. Once subscribed, a revocation reaches the
  // waiter, and one before is seen here: either way the poll ends 401.
  return core.store.getDeviceAuth(device.id).then((current) => {
    if (!current) return answer('revoked', since, []);
    // The head next tells "nothing new" (the common case: a client polling again right after
    // its answer) and "ahead of the stream" without reading events: from memory on SQLite
    // (store/sqlite/heads.ts), one index probe on PostgreSQL. A cursor past it is refused only
    // once the database says so too (SQLite's head in memory lags a write by another process).
    const uid = device.userId;
    return core.store
      .headSeq(uid)
      .then((known) => (since > known ? core.store.headSeq(uid, true) : known))
      .then((head) => {
        if (since > head) throw Errors.invalidCursor('the cursor is ahead of the event stream; resynchronise from history');
        core.store.noteDeviceSeen(device.id, now, since);
        if (head === since) return nothingNew(core, device, req, since, now);
        // Published while its client was between polls: still in memory (recent-events.ts).
        const recent = core.hub.recentAfter(uid, since, req.limit, head);
        if (recent) {
          core.presence.touch(device.userId, device.username, device.id, now);
          return answer('immediate', since, recent);
        }
        return readEvents(core, device, since, req.limit).then((ready) => {
          if (ready.length === 0) return nothingNew(core, device, req, since, now);
          core.presence.touch(device.userId, device.username, device.id, now);
          return answer('immediate', since, ready);
        });
      });
  });
}

/** Nothing after the cursor: answered now when the poll may not wait, else null (hold it). */
function nothingNew(core: Core, device: DeviceAuth, req: PollRequest, since: number, now: number): PollAnswer | null {
  if (req.timeoutMs !== 0) return null;
  core.presence.touch(device.userId, device.username, device.id, now);
  return answer('timeout', since, []);
}

/** Answers a poll from what ended its wait (or came while it read the store). */
function woken(core: Core, device: DeviceAuth, since: number, limit: number, outcome: Outcome<StreamEvent>, done: PollDone): void {
  switch (outcome.kind) {
    case 'events': {
      // The published events are the ones committed after we subscribed; they follow on
      // directly from `since` when nothing was missed. If they do not (they always should),
      // read the store rather than risk a gap.
      const first = outcome.events[0];
      if (first && first.seq === since + 1) {
        done(null, answer('events', since, outcome.events.slice(0, limit)));
        return;
      }
      readEvents(core, device, since, limit).then(
        (events) => done(null, answer('events', since, events)),
        (err: unknown) => done(err),
      );
      return;
    }
    case 'revoked':
    case 'timeout':
    case 'superseded':
    case 'shutdown':
    case 'cancelled':
      done(null, answer(outcome.kind, since, []));
  }
}

/**
 * Wakes the polls of users whose streams another process wrote to: the admin command line
 * removing a member from a group appends to the streams of the group's members (#15), and only
 * this process can wake its held polls. Called when SQLite's data_version moved; reads only the
 * streams of users who have a waiter now, each from the smallest cursor among its waiters
 * (publish() hands every waiter only what is after its own). Returns how many streams had news.
 */
export async function wakeOutsideWrites(core: Core): Promise<number> {
  let woken = 0;
  for (const userId of core.hub.waitingUsers()) {
    const since = core.hub.waitingSince(userId);
    if (since === undefined || (await core.store.headSeq(userId)) <= since) continue;
    const rows = await core.store.eventsAfter(userId, since, core.config.pollLimitMax);
    core.hub.publish(
      userId,
      rows.map((e) => ({ seq: e.seq, json: eventRowJson(e, userId) })),
    );
    woken++;
  }
  return woken;
}
