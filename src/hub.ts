// The hub: who is waiting for which user's stream, and waking them. Timers and Maps only: no
// HTTP, no SQL. How the pieces fit is in README.md, "How long polling works here".
//
// A poll goes through three steps, and the order is what makes wake-ups impossible to lose:
//   1. subscribe(): from this moment every event published for the user reaches this waiter;
//   2. the caller reads the store for events after its cursor;
//   3. nothing there: hold() arms the timeout and counts the waiter against the caps.
// An event committed before step 1 is found by the read in step 2; one committed after step 1
// is published to the waiter. There is no moment in between, and the read in step 2 is
// asynchronous (the store's promises; a networked database takes milliseconds): an outcome that
// arrives while it is under way is delivered to the caller, which answers with it once the read
// has found nothing (stream.ts). ntfy's handleSubscribeHTTP subscribes before it replays for the
// same reason. Writers publish only after their commit, so a poll never answers with an event
// that could still be rolled back. The newest events published for each user are kept
// (recent-events.ts), so that step 2 finds them in memory when they are all it needs.

import type { RecentEvents } from './recent-events';
import { CallbackWaiter, type Waiter } from './waiter';

export { Waiter } from './waiter';

/** What ended a wait. */
export type Outcome<E> =
  | { kind: 'events'; events: E[] }
  | { kind: 'timeout' }
  /** The device opened more polls than it may hold; this, its oldest, was let go. */
  | { kind: 'superseded' }
  /** The device was logged out or revoked. */
  | { kind: 'revoked' }
  | { kind: 'shutdown' }
  /** The client went away or the caller answered from the store: nobody reads this outcome. */
  | { kind: 'cancelled' };

export type OutcomeKind = Outcome<unknown>['kind'];

export interface HubLimits {
  /** Held polls per device; past it the oldest one is answered. */
  pollsPerDevice: number;
  /** Held polls per user, all their devices together; past it hold() refuses ('limited'). */
  pollsPerUser: number;
  /** Held polls in all; past it hold() refuses ('overloaded'). */
  maxHeld: number;
}

/**
 * What hold() did: 'held', or refused because the user holds POLLS_PER_USER polls
 * ('limited') or the server holds MAX_HELD_POLLS ('overloaded').
 */
export type HoldResult = 'held' | 'limited' | 'overloaded';

/**
 * Told of what this process's writers publish and revoke, so it can be announced to other
 * server processes (src/cluster/: issue #16). What arrives from them is handed back through
 * deliver() and revokeHere(), which tell the observer nothing (no echo).
 */
export interface HubObserver {
  /** Events up to position `seq` of the user's stream were committed and published here. */
  published(userId: number, seq: number): void;
  /** These devices were ended here. */
  revoked(deviceIds: readonly string[]): void;
}

export interface HubStats {
  /** Polls held now (armed with a timeout). */
  held: number;
  /** Subscriptions, held or not yet (the short window between subscribe and hold). */
  waiters: number;
  /** Armed timeout timers: must equal `held`; a difference is a leak. */
  timers: number;
  /** Devices with at least one held poll. */
  devices: number;
  /** Users with at least one held poll. */
  users: number;
}

/**
 * Receives a waiter's outcome, once. Called in a microtask, never from inside the hub call that
 * settled it: a publish() finishes waking every waiter (and the writer that called it carries on)
 * before any answer is written, as it was when waiters were promises.
 */
export type Settle<E> = (outcome: Outcome<E>) => void;

// Outcomes without data are shared: nothing per wake-up.
const TIMEOUT: Outcome<never> = Object.freeze({ kind: 'timeout' });
const SUPERSEDED: Outcome<never> = Object.freeze({ kind: 'superseded' });
const REVOKED: Outcome<never> = Object.freeze({ kind: 'revoked' });
const SHUTDOWN: Outcome<never> = Object.freeze({ kind: 'shutdown' });

/**
 * Held polls time out in groups: every poll whose deadline falls in the same DEADLINE_TICK_MS
 * shares one timer, and is answered at the end of it, never before its own timeout and at
 * most this much after. One timer per poll cost about 180 bytes a held poll (Node's Timeout
 * and its argument list, bench/README.md, "What a held poll keeps"); a slot in a group costs 8.
 */
export const DEADLINE_TICK_MS = 50;

/** The waiters whose deadline ends with the same tick, and the one timer for them. */
export class Deadline<E extends { seq: number }> {
  readonly waiters: Waiter<E>[] = [];
  timer: NodeJS.Timeout | null = null;
  constructor(readonly tick: number) {}
}

/** A deadline's timer callback: one function for every deadline (no closure per group). */
function expire<E extends { seq: number }>(hub: Hub<E>, d: Deadline<E>): void {
  hub.expire(d);
}

export class Hub<E extends { seq: number }> {
  /** Every subscribed waiter, by user: whom publish() wakes. The first of a list linked through the waiters. */
  private readonly byUser = new Map<number, Waiter<E>>();
  /** Held waiters per device: the oldest of a list linked through the waiters, for the per-device cap. */
  private readonly heldByDevice = new Map<string, Waiter<E>>();
  /** Users with at least one held waiter. */
  private heldUsers = 0;
  /** Armed deadlines by their tick (see DEADLINE_TICK_MS). */
  private readonly deadlines = new Map<number, Deadline<E>>();
  private heldCount = 0;
  private waiterCount = 0;
  private timerCount = 0;
  private isClosed = false;

  constructor(
    private readonly limits: HubLimits,
    private readonly observer: HubObserver | null = null,
    /** The newest events published for each user, for polls just behind (recent-events.ts). */
    private readonly recent: RecentEvents<E> | null = null,
  ) {}

  /** True once closeAll() was called: the server is shutting down. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Step 1 of a poll: from now on every event published for the user reaches this waiter.
   * `onSettle` gets its outcome once (see Settle).
   */
  subscribe(userId: number, deviceId: string, since: number, onSettle: Settle<E>): Waiter<E> {
    const w = new CallbackWaiter<E>(userId, deviceId, since, onSettle);
    this.add(w);
    return w;
  }

  /** subscribe() for a waiter of the caller's own kind (stream.ts's polls). */
  add(w: Waiter<E>): void {
    if (this.isClosed) {
      // Shutting down: answer at once with nothing, the client polls again after the restart.
      w.settle(SHUTDOWN);
      return;
    }
    w.hub = this;
    const first = this.byUser.get(w.userId);
    if (first) {
      first.prevOfUser = w;
      w.nextOfUser = first;
      w.userHeld = first.userHeld;
    }
    this.byUser.set(w.userId, w);
    this.waiterCount++;
  }

  /** How many polls the user holds (kept on the first of their list). */
  private heldOf(userId: number): number {
    return this.byUser.get(userId)?.userHeld ?? 0;
  }

  /** The user's waiters (a copy: settling one unlinks it). */
  private waitersOf(userId: number): Waiter<E>[] {
    const out: Waiter<E>[] = [];
    for (let w: Waiter<E> | null | undefined = this.byUser.get(userId); w; w = w.nextOfUser) out.push(w);
    return out;
  }

  /** @internal use Waiter.hold */
  hold(w: Waiter<E>, timeoutMs: number): HoldResult {
    // Per-device cap first: letting the device's own oldest poll go frees a slot, so a device
    // at its own limit (several tabs) is never told the whole server is full.
    for (let oldest = this.heldByDevice.get(w.deviceId); oldest; oldest = this.heldByDevice.get(w.deviceId)) {
      let n = 1;
      for (let x = oldest.nextOfDevice; x; x = x.nextOfDevice) n++;
      if (n < this.limits.pollsPerDevice) break;
      oldest.settle(SUPERSEDED);
    }
    // Then the user's cap (issue #13): one account with many devices cannot take every slot of
    // the server. Refused rather than letting the user's oldest poll go: that poll belongs to
    // another of their devices, which would poll again at once and push out the next one, round
    // and round. A refused client retries after Retry-After, and polls that have events waiting
    // are answered before they get here, so every device still gets its messages.
    const userHeld = this.heldOf(w.userId);
    if (userHeld >= this.limits.pollsPerUser) return 'limited';
    if (this.heldCount >= this.limits.maxHeld) return 'overloaded';
    // The device's list, oldest first: this one goes last (the list is at most POLLS_PER_DEVICE long).
    let last = this.heldByDevice.get(w.deviceId);
    if (!last) this.heldByDevice.set(w.deviceId, w);
    else {
      while (last.nextOfDevice) last = last.nextOfDevice;
      last.nextOfDevice = w;
      w.prevOfDevice = last;
    }
    if (userHeld === 0) this.heldUsers++;
    const first = this.byUser.get(w.userId);
    if (first) first.userHeld = userHeld + 1;
    this.heldCount++;
    w.markHeld();
    this.arm(w, timeoutMs);
    return 'held';
  }

  /** Puts the waiter in the group of its deadline: the end of the tick its timeout ends in. */
  private arm(w: Waiter<E>, timeoutMs: number): void {
    const now = performance.now(); // monotonic: a clock set back cannot end a poll early
    const tick = Math.ceil((now + timeoutMs) / DEADLINE_TICK_MS);
    let d = this.deadlines.get(tick);
    if (!d) {
      d = new Deadline<E>(tick);
      this.deadlines.set(tick, d);
      d.timer = setTimeout(expire, tick * DEADLINE_TICK_MS - now, this, d);
    }
    w.deadline = d;
    w.deadlineSlot = d.waiters.push(w) - 1;
    this.timerCount++;
  }

  /** @internal a deadline's timer fired: its waiters time out. */
  expire(d: Deadline<E>): void {
    this.deadlines.delete(d.tick);
    d.timer = null;
    for (const w of d.waiters) {
      w.deadline = null;
      this.timerCount--;
    }
    for (const w of d.waiters) w.settle(TIMEOUT);
  }

  /** @internal removes every trace of a settled waiter: lists, slot, deadline. */
  release(w: Waiter<E>): void {
    if (w.hub === this) {
      // Unlinked from its user's list: order among a user's waiters does not matter, and one
      // user with thousands of polls must not make each removal a scan.
      const prev = w.prevOfUser;
      const next = w.nextOfUser;
      if (next) next.prevOfUser = prev;
      if (prev) prev.nextOfUser = next;
      else if (next) {
        next.userHeld = w.userHeld;
        this.byUser.set(w.userId, next);
      } else this.byUser.delete(w.userId);
      w.prevOfUser = w.nextOfUser = null;
      this.waiterCount--;
    }
    const d = w.deadline;
    if (d) {
      const last = d.waiters.pop();
      if (last && last !== w) {
        d.waiters[w.deadlineSlot] = last;
        last.deadlineSlot = w.deadlineSlot;
      }
      if (d.waiters.length === 0) {
        if (d.timer) clearTimeout(d.timer);
        this.deadlines.delete(d.tick);
      }
      w.deadline = null;
      this.timerCount--;
    }
    if (w.isHeld) {
      const prev = w.prevOfDevice;
      const next = w.nextOfDevice;
      if (next) next.prevOfDevice = prev;
      if (prev) prev.nextOfDevice = next;
      else if (next) this.heldByDevice.set(w.deviceId, next);
      else this.heldByDevice.delete(w.deviceId);
      w.prevOfDevice = w.nextOfDevice = null;
      const first = this.byUser.get(w.userId); // (this one is out of the user's list by now)
      if (first) first.userHeld--;
      if (!first || first.userHeld === 0) this.heldUsers--;
      this.heldCount--;
    }
  }

  /**
   * Wakes every waiter of the user with the events (in stream order). Called by writers after
   * their commit. Each waiter keeps only the events after its own cursor.
   */
  publish(userId: number, events: readonly E[]): void {
    const last = events[events.length - 1];
    if (this.observer && last) this.observer.published(userId, last.seq);
    this.deliver(userId, events);
  }

  /**
   * publish() without telling the observer: events another process committed, read from the
   * store here after its hint (src/cluster/).
   */
  deliver(userId: number, events: readonly E[]): void {
    if (events.length === 0) return;
    this.recent?.add(userId, events);
    if (!this.byUser.has(userId)) return;
    for (const w of this.waitersOf(userId)) {
      const mine = events.filter((e) => e.seq > w.since);
      if (mine.length > 0) w.settle({ kind: 'events', events: mine });
    }
  }

  /**
   * The events published here after `since`, when they follow on from it and none is missing
   * (up to `limit`, or to the stream's `head`); null when the store is to be read instead.
   */
  recentAfter(userId: number, since: number, limit: number, head: number): E[] | null {
    return this.recent ? this.recent.after(userId, since, limit, head) : null;
  }

  /** The smallest cursor among the user's waiters (held or about to be); undefined with none. */
  waitingSince(userId: number): number | undefined {
    const first = this.byUser.get(userId);
    if (!first) return undefined;
    let since = first.since;
    for (let w = first.nextOfUser; w; w = w.nextOfUser) if (w.since < since) since = w.since;
    return since;
  }

  /** Users with at least one waiter now. */
  waitingUsers(): number[] {
    return [...this.byUser.keys()];
  }

  /** The device's token no longer works: its waiters are answered at once. */
  revokeDevice(deviceId: string): void {
    this.revokeDevices([deviceId]);
  }

  /**
   * The devices' tokens no longer work: their waiters are answered at once. One pass over the
   * waiters however many devices end together (a password reset, a sweep of expired devices).
   */
  revokeDevices(deviceIds: Iterable<string>): void {
    const ended = new Set(deviceIds);
    if (ended.size === 0) return;
    this.observer?.revoked([...ended]);
    this.revokeHere(ended);
  }

  /** revokeDevices() without telling the observer: devices another process ended (src/cluster/). */
  revokeHere(deviceIds: Iterable<string>): void {
    const ended = new Set(deviceIds);
    if (ended.size === 0) return;
    for (const userId of [...this.byUser.keys()]) {
      for (const w of this.waitersOf(userId)) if (ended.has(w.deviceId)) w.settle(REVOKED);
    }
  }

  /** Shutdown: every waiter is answered at once, and later subscriptions are answered at once. */
  closeAll(): void {
    this.isClosed = true;
    for (const userId of [...this.byUser.keys()]) for (const w of this.waitersOf(userId)) w.settle(SHUTDOWN);
  }

  /** Devices holding at least one poll now. */
  heldDeviceIds(): string[] {
    return [...this.heldByDevice.keys()];
  }

  isUserHeld(userId: number): boolean {
    return this.heldOf(userId) > 0;
  }

  isDeviceHeld(deviceId: string): boolean {
    return this.heldByDevice.has(deviceId);
  }

  stats(): HubStats {
    return {
      held: this.heldCount,
      waiters: this.waiterCount,
      timers: this.timerCount,
      devices: this.heldByDevice.size,
      users: this.heldUsers,
    };
  }
}
