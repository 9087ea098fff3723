// The long poll (GET /poll), following Zulip's fetch_events: if anything is newer than the
// client's cursor, answer now; otherwise park the request until an event or the timeout. The
// client acknowledges by sending back the cursor it was given, which gives exactly-once,
// in-order delivery even when an answer is lost on the way. See hub.ts for why subscribing
// comes before reading.
import type { Core } from './core';
import { formatCursor } from './cursor';
import { type AppError, Errors } from './errors';
import { type HoldResult, type Outcome, type OutcomeKind, Waiter } from './hub';
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

/** What a poll's caller can do with it once started: end it (its client went away). */
export interface Cancellable {
  cancel(): void;
}

// Where a poll is: reading the store (subscribed, not yet held), held, or answered.
const READING = 0;
const HELD = 1;
const ANSWERED = 2;

/**
 * One poll, and all that it keeps while held: its subscription (it is the hub's waiter), its
 * state, and in a subclass what answers it (the fast lane's response; a promise's resolvers).
 * One object with fields rather than closures over closures: a held poll is the server's main
 * cost in memory, and the closures, their contexts and the callbacks between them were about a
 * third of what a held poll kept beyond the bare ceiling (bench/README.md, "What a held poll
 * keeps"). No suspended async frame and no pending promise either: the store's promises have
 * all settled by the time it holds.
 *
 * The order is hub.ts's: subscribe, then read the store, then hold. The reads are
 * asynchronous, so an outcome may reach the waiter while they are under way (a send committed
 * meanwhile, the device revoked, the client gone, the server shutting down): it is kept and
 * answered once the reads have found nothing to answer with, never dropped.
 */
export abstract class Poll extends Waiter<StreamEvent> {
  private phase = READING;
  private early: Outcome<StreamEvent> | null = null;
  private readonly limit: number;

  constructor(
    readonly core: Core,
    readonly device: DeviceAuth,
    req: PollRequest,
  ) {
    super(device.userId, device.id, req.since ?? device.cursor);
    this.limit = req.limit;
  }

  /** How the poll ends for its caller, once: an answer, or an error (an AppError or a fault). */
  protected abstract answered(err: unknown, answer?: PollAnswer): void;

  /**
   * Subscribes, reads, holds, and calls answered() once. The caller then cancels it when its
   * client goes away (unless it is already settled: the server began shutting down), so the
   * waiter is freed at once rather than at the timeout.
   */
  start(timeoutMs: number): void {
    const { core, device } = this;
    core.hub.add(this);
    // The handlers below keep only this object (no request, no query) until the reads are done.
    begin(core, device, this.since, this.limit, timeoutMs).then(
      (ready) => {
        if (ready) {
          this.phase = ANSWERED;
          this.cancel();
          this.answered(null, ready);
        } else if (this.early) {
          this.phase = ANSWERED;
          this.wokenBy(this.early);
        } else {
          const held = this.hold(timeoutMs);
          if (held === 'held') {
            // Held (or woken after the reads, before this line: its answer is on its way).
            this.phase = HELD;
            core.presence.touch(device.userId, device.username, device.id);
          } else {
            this.phase = ANSWERED;
            this.cancel();
            this.answered(refusedAt(held, overloadRetryAfter(core.config.overloadRetryAfterS)));
          }
        }
      },
      (err: unknown) => {
        this.phase = ANSWERED;
        this.cancel();
        this.answered(err);
      },
    );
  }

  /** From the hub: what ended the wait (or came while the store was read). */
  protected settled(outcome: Outcome<StreamEvent>): void {
    if (this.phase === READING) this.early = outcome;
    else if (this.phase === HELD) {
      this.phase = ANSWERED;
      this.wokenBy(outcome);
    }
    // ANSWERED: the cancellation of a poll answered from the store; nobody reads it.
  }

  /** Answers from what ended its wait (or came while it read the store). */
  private wokenBy(outcome: Outcome<StreamEvent>): void {
    const { core, device, since, limit } = this;
    // A poll that ends shows its device was there until now, unless it ended because the
    // device was logged out or revoked: that one must stop counting at once (#14).
    if (outcome.kind !== 'revoked') core.presence.touch(device.userId, device.username, device.id);
    switch (outcome.kind) {
      case 'events': {
        // The published events are the ones committed after we subscribed; they follow on
        // directly from `since` when nothing was missed. If they do not (they always should),
        // read the store rather than risk a gap.
        const first = outcome.events[0];
        if (first && first.seq === since + 1) {
          this.answered(null, answer('events', since, outcome.events.slice(0, limit)));
          return;
        }
        readEvents(core, device, since, limit).then(
          (events) => this.answered(null, answer('events', since, events)),
          (err: unknown) => this.answered(err),
        );
        return;
      }
      case 'revoked':
      case 'timeout':
      case 'superseded':
      case 'shutdown':
      case 'cancelled':
        this.answered(null, answer(outcome.kind, since, []));
    }
  }
}

/** A poll answered through a promise: for the Koa route and tests. */
class PromisedPoll extends Poll {
  constructor(
    core: Core,
    device: DeviceAuth,
    req: PollRequest,
    private readonly resolve: (a: PollAnswer) => void,
    private readonly reject: (err: Error) => void,
  ) {
    super(core, device, req);
  }

  protected answered(err: unknown, a?: PollAnswer): void {
    if (a) this.resolve(a);
    else this.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * A poll as a promise: for the Koa route and tests.
 *
 * @param onGone given the poll once it has started (unless already settled), to cancel it when
 *   the client goes away; called at once, not kept.
 */
export function poll(core: Core, device: DeviceAuth, req: PollRequest, onGone: (poll: Cancellable) => void): Promise<PollAnswer> {
  return new Promise((resolve, reject) => {
    const p = new PromisedPoll(core, device, req, resolve, reject);
    p.start(req.timeoutMs);
    if (!p.isSettled) onGone(p);
  });
}

/**
 * The reads of a poll, after it has subscribed: an answer now, or null when it is to be held.
 * Rejects with refusals (a cursor ahead of the stream).
 */
function begin(core: Core, device: DeviceAuth, since: number, limit: number, timeoutMs: number): Promise<PollAnswer | null> {
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
        if (head === since) return nothingNew(core, device, timeoutMs, since, now);
        // Published while its client was between polls: still in memory (recent-events.ts).
        const recent = core.hub.recentAfter(uid, since, limit, head);
        if (recent) {
          core.presence.touch(device.userId, device.username, device.id, now);
          return answer('immediate', since, recent);
        }
        return readEvents(core, device, since, limit).then((ready) => {
          if (ready.length === 0) return nothingNew(core, device, timeoutMs, since, now);
          core.presence.touch(device.userId, device.username, device.id, now);
          return answer('immediate', since, ready);
        });
      });
  });
}

/** Nothing after the cursor: answered now when the poll may not wait, else null (hold it). */
function nothingNew(core: Core, device: DeviceAuth, timeoutMs: number, since: number, now: number): PollAnswer | null {
  if (timeoutMs !== 0) return null;
  core.presence.touch(device.userId, device.username, device.id, now);
  return answer('timeout', since, []);
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
