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
const CANCELLED: Outcome<never> = Object.freeze({ kind: 'cancelled' });

const SUBSCRIBED = 0;
const HELD = 1;
const SETTLED = 2;

/** The timer's callback: one function for every waiter (no closure per held poll). */
function expire<E extends { seq: number }>(w: Waiter<E>): void {
  w.settle(TIMEOUT);
}

/**
 * One poll's subscription. A plain object with a callback rather than a promise: a held poll is
 * the server's main cost in memory, and a promise with its resolver and the suspended async
 * frames awaiting it kept about 1.2 KB more per held poll (bench/README.md, "What a held poll
 * keeps").
 */
export class Waiter<E extends { seq: number }> {
  private state = SUBSCRIBED;
  timer: NodeJS.Timeout | null = null;
  /** @internal its index in its user's list (Hub.byUser), for removal in constant time; -1: in none */
  userSlot = -1;

  constructor(
    private readonly hub: Hub<E>,
    readonly userId: number,
    readonly deviceId: string,
    /** The cursor the poll started from: only events after it are for this waiter. */
    readonly since: number,
    private onSettle: Settle<E> | null,
  ) {}

  get isSettled(): boolean {
    return this.state === SETTLED;
  }

  get isHeld(): boolean {
    return this.state === HELD;
  }

  /**
   * Arms the timeout and takes a slot; refused ('limited', 'overloaded') past the caps. A waiter
   * woken between subscribe and hold is 'held' too: its outcome is already on its way.
   */
  hold(timeoutMs: number): HoldResult {
    if (this.state === SETTLED) return 'held';
    return this.hub.hold(this, timeoutMs);
  }

  /** The client went away, or the caller answered without waiting. Idempotent. */
  cancel(): void {
    this.settle(CANCELLED);
  }

  /** @internal called by the hub only */
  markHeld(): void {
    this.state = HELD;
  }

  /** @internal called by the hub: ends the wait once, releasing everything it held. */
  settle(outcome: Outcome<E>): void {
    if (this.state === SETTLED) return;
    this.hub.release(this); // while still HELD: release() frees the slot of a held waiter
    this.state = SETTLED;
    const f = this.onSettle;
    this.onSettle = null; // the caller's closure (and what it keeps) is not kept past the answer
    if (f) queueMicrotask(() => f(outcome));
  }
}

/**
 * Adds to a map of lists and returns the index; a new list is made for one (push() on []
 * reserves room for 17, and most users and devices hold one poll).
 */
function addTo<K, W>(map: Map<K, W[]>, key: K, w: W): number {
  const list = map.get(key);
  if (list) return list.push(w) - 1;
  map.set(key, [w]);
  return 0;
}

export class Hub<E extends { seq: number }> {
  /** Every subscribed waiter, by user: whom publish() wakes. */
  private readonly byUser = new Map<number, Waiter<E>[]>();
  /** Held waiters per device, oldest first: for the per-device cap. */
  private readonly heldByDevice = new Map<string, Waiter<E>[]>();
  /** Held waiters per user (users holding none are not kept): for the per-user cap. */
  private readonly heldPerUser = new Map<number, number>();
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
    const w = new Waiter<E>(this, userId, deviceId, since, onSettle);
    if (this.isClosed) {
      // Shutting down: answer at once with nothing, the client polls again after the restart.
      w.settle(SHUTDOWN);
      return w;
    }
    w.userSlot = addTo(this.byUser, userId, w);
    this.waiterCount++;
    return w;
  }

  /** @internal use Waiter.hold */
  hold(w: Waiter<E>, timeoutMs: number): HoldResult {
    // Per-device cap first: letting the device's own oldest poll go frees a slot, so a device
    // at its own limit (several tabs) is never told the whole server is full.
    for (
      let list = this.heldByDevice.get(w.deviceId);
      list && list.length >= this.limits.pollsPerDevice;
      list = this.heldByDevice.get(w.deviceId)
    ) {
      const oldest = list[0];
      if (!oldest) break;
      oldest.settle(SUPERSEDED);
    }
    // Then the user's cap (issue #13): one account with many devices cannot take every slot of
    // the server. Refused rather than letting the user's oldest poll go: that poll belongs to
    // another of their devices, which would poll again at once and push out the next one, round
    // and round. A refused client retries after Retry-After, and polls that have events waiting
    // are answered before they get here, so every device still gets its messages.
    const userHeld = this.heldPerUser.get(w.userId) ?? 0;
    if (userHeld >= this.limits.pollsPerUser) return 'limited';
    if (this.heldCount >= this.limits.maxHeld) return 'overloaded';
    addTo(this.heldByDevice, w.deviceId, w);
    this.heldPerUser.set(w.userId, userHeld + 1);
    this.heldCount++;
    w.markHeld();
    w.timer = setTimeout(expire, timeoutMs, w);
    this.timerCount++;
    return 'held';
  }

  /** @internal removes every trace of a settled waiter: lists, slot, timer. */
  release(w: Waiter<E>): void {
    const mine = w.userSlot < 0 ? undefined : this.byUser.get(w.userId);
    if (mine) {
      // The user's last waiter takes this one's place: order among a user's waiters does not
      // matter, and one user with thousands of polls must not make each removal a scan.
      const last = mine.pop();
      if (last && last !== w) {
        mine[w.userSlot] = last;
        last.userSlot = w.userSlot;
      }
      if (mine.length === 0) this.byUser.delete(w.userId);
      w.userSlot = -1;
      this.waiterCount--;
    }
    if (w.timer) {
      clearTimeout(w.timer);
      w.timer = null;
      this.timerCount--;
    }
    if (w.isHeld) {
      // Oldest first matters here (the per-device cap lets the oldest go), and the list is
      // short: at most POLLS_PER_DEVICE.
      const list = this.heldByDevice.get(w.deviceId);
      const i = list ? list.indexOf(w) : -1;
      if (list && i >= 0) {
        if (list.length === 1) this.heldByDevice.delete(w.deviceId);
        else list.splice(i, 1);
      }
      const userHeld = (this.heldPerUser.get(w.userId) ?? 1) - 1;
      if (userHeld > 0) this.heldPerUser.set(w.userId, userHeld);
      else this.heldPerUser.delete(w.userId);
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
    const list = this.byUser.get(userId);
    if (!list) return;
    for (const w of list.slice()) {
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
    const list = this.byUser.get(userId);
    if (!list || list.length === 0) return undefined;
    let since = Infinity;
    for (const w of list) if (w.since < since) since = w.since;
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
    for (const list of [...this.byUser.values()]) {
      for (const w of list.slice()) if (ended.has(w.deviceId)) w.settle(REVOKED);
    }
  }

  /** Shutdown: every waiter is answered at once, and later subscriptions are answered at once. */
  closeAll(): void {
    this.isClosed = true;
    for (const list of [...this.byUser.values()]) for (const w of list.slice()) w.settle(SHUTDOWN);
  }

  /** Devices holding at least one poll now. */
  heldDeviceIds(): string[] {
    return [...this.heldByDevice.keys()];
  }

  isUserHeld(userId: number): boolean {
    return this.heldPerUser.has(userId);
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
      users: this.heldPerUser.size,
    };
  }
}
