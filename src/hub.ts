// The hub: who is waiting for which user's stream, and waking them. Timers and Maps only: no
// HTTP, no SQL. How the pieces fit is in README.md, "How long polling works here".
//
// A poll goes through two steps, and the order is what makes wake-ups impossible to lose:
//   1. subscribe(): from this moment every event published for the user reaches this waiter;
//   2. the caller reads the store for events after its cursor;
//   3. nothing there: hold() arms the timeout and counts the waiter against the caps.
// An event committed before step 1 is found by the read in step 2; one committed after step 1
// is published to the waiter. There is no moment in between, even if the read in step 2 were
// asynchronous (a networked database): ntfy's handleSubscribeHTTP subscribes before it replays
// for the same reason. Writers publish only after their commit, so a poll never answers with
// an event that could still be rolled back.

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
  /** Held polls in all; past it hold() refuses. */
  maxHeld: number;
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

type Settle<E> = (outcome: Outcome<E>) => void;

export class Waiter<E extends { seq: number }> {
  readonly promise: Promise<Outcome<E>>;
  private resolve!: Settle<E>;
  private settled = false;
  private heldFlag = false;
  timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: Hub<E>,
    readonly userId: number,
    readonly deviceId: string,
    /** The cursor the poll started from: only events after it are for this waiter. */
    readonly since: number,
  ) {
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  get isHeld(): boolean {
    return this.heldFlag;
  }

  /** Arms the timeout and takes a slot; 'overloaded' when the server holds its maximum. */
  hold(timeoutMs: number): 'held' | 'overloaded' {
    if (this.settled) return 'held'; // woken between subscribe and hold: the promise is ready
    return this.hub.hold(this, timeoutMs);
  }

  /** The client went away, or the caller answered without waiting. Idempotent. */
  cancel(): void {
    this.settle({ kind: 'cancelled' });
  }

  /** @internal called by the hub only */
  markHeld(): void {
    this.heldFlag = true;
  }

  /** @internal called by the hub: ends the wait once, releasing everything it held. */
  settle(outcome: Outcome<E>): void {
    if (this.settled) return;
    this.settled = true;
    this.hub.release(this);
    this.heldFlag = false;
    this.resolve(outcome);
  }
}

export class Hub<E extends { seq: number }> {
  private readonly byUser = new Map<number, Set<Waiter<E>>>();
  /** Held waiters per device, oldest first. */
  private readonly heldByDevice = new Map<string, Waiter<E>[]>();
  private readonly heldUsers = new Map<number, number>();
  private heldCount = 0;
  private waiterCount = 0;
  private timerCount = 0;
  private isClosed = false;

  constructor(private readonly limits: HubLimits) {}

  /** True once closeAll() was called: the server is shutting down. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Step 1 of a poll: from now on every event published for the user reaches this waiter. */
  subscribe(userId: number, deviceId: string, since: number): Waiter<E> {
    const w = new Waiter<E>(this, userId, deviceId, since);
    if (this.isClosed) {
      // Shutting down: answer at once with nothing, the client polls again after the restart.
      w.settle({ kind: 'shutdown' });
      return w;
    }
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(w);
    this.waiterCount++;
    return w;
  }

  /** @internal use Waiter.hold */
  hold(w: Waiter<E>, timeoutMs: number): 'held' | 'overloaded' {
    const list = this.heldByDevice.get(w.deviceId) ?? [];
    // Per-device cap first: letting the device's own oldest poll go frees a slot, so a device
    // at its own limit (several tabs) is never told the whole server is full.
    while (list.length >= this.limits.pollsPerDevice) {
      const oldest = list[0];
      if (!oldest) break;
      oldest.settle({ kind: 'superseded' });
    }
    if (this.heldCount >= this.limits.maxHeld) return 'overloaded';
    list.push(w);
    this.heldByDevice.set(w.deviceId, list);
    this.heldUsers.set(w.userId, (this.heldUsers.get(w.userId) ?? 0) + 1);
    this.heldCount++;
    w.markHeld();
    w.timer = setTimeout(() => w.settle({ kind: 'timeout' }), timeoutMs);
    this.timerCount++;
    return 'held';
  }

  /** @internal removes every trace of a settled waiter: sets, slot, timer. */
  release(w: Waiter<E>): void {
    const set = this.byUser.get(w.userId);
    if (set?.delete(w)) {
      this.waiterCount--;
      if (set.size === 0) this.byUser.delete(w.userId);
    }
    if (w.timer) {
      clearTimeout(w.timer);
      w.timer = null;
      this.timerCount--;
    }
    if (w.isHeld) {
      const list = this.heldByDevice.get(w.deviceId);
      if (list) {
        const i = list.indexOf(w);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.heldByDevice.delete(w.deviceId);
      }
      const n = (this.heldUsers.get(w.userId) ?? 1) - 1;
      if (n > 0) this.heldUsers.set(w.userId, n);
      else this.heldUsers.delete(w.userId);
      this.heldCount--;
    }
  }

  /**
   * Wakes every waiter of the user with the events (in stream order). Called by writers after
   * their commit. Each waiter keeps only the events after its own cursor.
   */
  publish(userId: number, events: readonly E[]): void {
    const set = this.byUser.get(userId);
    if (!set || events.length === 0) return;
    for (const w of [...set]) {
      const mine = events.filter((e) => e.seq > w.since);
      if (mine.length > 0) w.settle({ kind: 'events', events: mine });
    }
  }

  /** The device's token no longer works: its waiters are answered at once. */
  revokeDevice(deviceId: string): void {
    for (const set of this.byUser.values()) {
      for (const w of [...set]) if (w.deviceId === deviceId) w.settle({ kind: 'revoked' });
    }
  }

  /** Shutdown: every waiter is answered at once, and later subscriptions are answered at once. */
  closeAll(): void {
    this.isClosed = true;
    for (const set of [...this.byUser.values()]) for (const w of [...set]) w.settle({ kind: 'shutdown' });
  }

  /** Devices holding at least one poll now. */
  heldDeviceIds(): string[] {
    return [...this.heldByDevice.keys()];
  }

  isUserHeld(userId: number): boolean {
    return this.heldUsers.has(userId);
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
      users: this.heldUsers.size,
    };
  }
}
