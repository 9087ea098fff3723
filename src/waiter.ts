// A poll's subscription as the hub knows it (hub.ts): the base class of what a held poll is.
import type { Deadline, HoldResult, Hub, Outcome, Settle } from './hub';

const CANCELLED: Outcome<never> = Object.freeze({ kind: 'cancelled' });

const SUBSCRIBED = 0;
const HELD = 1;
const SETTLED = 2;

/**
 * One poll's subscription, and everything the poll keeps while it is held: a held poll is the
 * server's main cost in memory, so the caller's state lives in fields of a subclass (stream.ts's
 * Poll, the fast lane's) rather than in closures around it, and the hub's lists and deadline
 * groups link the waiter itself rather than holding arrays or timers for it (bench/README.md,
 * "What a held poll keeps"). Its outcome goes to settled(), once, in a microtask, never from
 * inside the hub call that settled it: a publish() finishes waking every waiter (and the writer
 * that called it carries on) before any answer is written.
 */
export abstract class Waiter<E extends { seq: number }> {
  private state = SUBSCRIBED;
  /** @internal the hub that has it (set by Hub.add) */
  hub: Hub<E> | null = null;
  /** @internal its neighbours among its user's waiters (Hub.byUser), in no particular order */
  prevOfUser: Waiter<E> | null = null;
  /** @internal */
  nextOfUser: Waiter<E> | null = null;
  /** @internal its neighbours among its device's held waiters (Hub.heldByDevice), oldest first */
  prevOfDevice: Waiter<E> | null = null;
  /** @internal */
  nextOfDevice: Waiter<E> | null = null;
  /**
   * @internal on the first of its user's list only: how many of the user's waiters are held.
   * Kept here rather than in a Map of its own (an entry per user holding a poll).
   */
  userHeld = 0;
  /** @internal the group it times out with, and its index there; null when not armed */
  deadline: Deadline<E> | null = null;
  /** @internal */
  deadlineSlot = -1;

  constructor(
    readonly userId: number,
    readonly deviceId: string,
    /** The cursor the poll started from: only events after it are for this waiter. */
    readonly since: number,
  ) {}

  /** Receives the outcome, once, in a microtask after the hub call that settled the waiter. */
  protected abstract settled(outcome: Outcome<E>): void;

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
    if (this.state === SETTLED || !this.hub) return 'held';
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
    this.hub?.release(this); // while still HELD: release() frees the slot of a held waiter
    this.hub = null;
    this.state = SETTLED;
    queueMicrotask(() => this.settled(outcome));
  }
}

/** A waiter that hands its outcome to a callback: for callers with little to keep (tests, the cluster). */
export class CallbackWaiter<E extends { seq: number }> extends Waiter<E> {
  constructor(
    userId: number,
    deviceId: string,
    since: number,
    private onSettle: Settle<E> | null,
  ) {
    super(userId, deviceId, since);
  }

  protected settled(outcome: Outcome<E>): void {
    const f = this.onSettle;
    this.onSettle = null;
    f?.(outcome);
  }
}
