// Wake-ups across server processes (issue #16): what one process commits reaches the polls held
// by every other, through a bus (Redis pub/sub: redis-bus.ts) that carries hints, never data.
// No HTTP, no SQL, no Redis here: the bus and the store's reads come in as interfaces.
//
// - After commit, the hub tells this link (HubObserver) which streams moved; the link sends one
//   hint per user, coalesced per turn of the event loop: "user 12 has events up to 40".
// - A hint from another process for a user with waiters here makes one read of the store for
//   that user (one in flight per user; hints arriving meanwhile make one more read after it),
//   delivered to the hub like a local publish. A waiter is registered in the hub before its poll
//   reads the store (hub.ts), so a hint either finds it or its read finds the event.
// - Pub/sub delivers at most once: a hint is lost while the subscription is down or the message
//   is dropped. So the link also re-checks every user with waiters here, in one query of their
//   stream heads, whenever the subscription comes back and on a jittered timer of a few seconds
//   (RECHECK_MS): a lost hint delays a message by that much, never loses it. The same pass asks
//   which held devices still exist, so a revocation whose message was lost (or made by the admin
//   command line without a bus) answers their polls 401 within the same bound.
// - Revocations through any process are announced too; every process answers the revoked
//   devices' held polls at once and stops counting them as online.
import type { Hub, HubObserver } from '../hub';
import type { Presence, SeenElsewhere } from '../presence';
import type { EventRow, StreamEvent } from '../types';
import { eventRowJson } from '../views';

/** A channel to every server process, at most once per message. */
export interface Bus {
  /** Sends a message to every subscribed process (this one included). Never throws; may drop it. */
  publish(text: string): void;
  /**
   * Starts listening: `message` for every message, `subscribed` whenever the subscription is
   * (re)established (the moment to re-check what may have been missed).
   */
  start(handlers: { message(text: string): void; subscribed(): void }): void;
  /** Connected and subscribed now. */
  readonly healthy: boolean;
  /** Stores this process's shared state (`id`: the process), kept `ttlMs` unless put again. */
  putState(id: string, text: string, ttlMs: number): Promise<void>;
  /** Every process's shared state that has not expired, by process. */
  readStates(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/** What the link reads from the store (PostgresStore has them). */
export interface StreamReads {
  eventsAfter(userId: number, afterSeq: number, limit: number): Promise<EventRow[]>;
  headSeqs(userIds: readonly number[]): Promise<Map<number, number>>;
  existingDevices(ids: readonly string[]): Promise<Set<string>>;
  /** Whether the store answered its last statement (PostgresStore: false during an outage); absent: always. */
  reachable?(): boolean;
}

export interface LinkOptions {
  /** Events read per catch-up read (the largest poll limit: one read answers any waiter). */
  readLimit: number;
  /** Middle of the re-check interval, in milliseconds; each wait is 0.5x to 1.5x of it. */
  recheckMs?: number;
  /** Told of failed reads (the link carries on; the next re-check tries again). */
  onError?: (err: unknown, what: string) => void;
}

/** Middle of the re-check interval: the longest a lost hint delays a message, on average. */
export const RECHECK_MS = 3000;

/**
 * How often each process shares who is online through it (presence) and reads the others':
 * how late a user online through one process appears in GET /presence through another.
 */
export const PRESENCE_SHARE_MS = 1000;
/** A process's shared presence outlives it by this much (it crashed: its users drop out). */
const PRESENCE_TTL_MS = 5 * PRESENCE_SHARE_MS;

/** The wire form of one bus message. */
interface Wire {
  /** The sending process. */
  o: string;
  /** Streams that moved: [user id, last position]. */
  u?: [number, number][];
  /** Devices ended. */
  r?: string[];
}

function parse(text: string): Wire | null {
  try {
    const w = JSON.parse(text) as unknown;
    if (typeof w !== 'object' || w === null || typeof (w as Wire).o !== 'string') return null;
    return w as Wire;
  } catch {
    return null;
  }
}

/** A shared presence snapshot (Presence.snapshot()), checked: whatever does not fit is left out. */
function parseSnapshot(text: string): [string, string, boolean][] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  return v.filter(
    (d): d is [string, string, boolean] =>
      Array.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string' && typeof d[2] === 'boolean',
  );
}

export interface LinkStatus {
  /** 'up': hints flow; 'down': the bus is disconnected (wake-ups by re-check only); 'off': no bus configured. */
  bus: 'up' | 'down' | 'off';
  /** 'down' from a statement that could not reach the database until one does again. */
  database: 'up' | 'down';
}

export class ClusterLink implements HubObserver {
  private hub: Hub<StreamEvent> | null = null;
  private presence: Presence | null = null;
  /** Hints and revocations of this turn, sent together at its end. */
  private outUsers = new Map<number, number>();
  private outRevoked: string[] = [];
  private flushScheduled = false;
  /** Users with a catch-up read in flight: true when another is wanted after it. */
  private readonly reading = new Map<number, boolean>();
  private timer: NodeJS.Timeout | null = null;
  private presenceTimer: NodeJS.Timeout | null = null;
  private rechecking = false;
  /** A re-check was asked for while one ran (Redis came back meanwhile): one more after it. */
  private recheckAgain = false;
  private stopped = false;
  private readonly recheckMs: number;

  constructor(
    private readonly store: StreamReads,
    private readonly bus: Bus | null,
    private readonly processId: string,
    private readonly opts: LinkOptions,
  ) {
    this.recheckMs = opts.recheckMs ?? RECHECK_MS;
  }

  /** Starts listening and re-checking, for this process's hub and presence. */
  start(hub: Hub<StreamEvent>, presence: Presence): void {
    this.hub = hub;
    this.presence = presence;
    this.bus?.start({
      message: (text) => this.received(text),
      subscribed: () => void this.recheck(),
    });
    this.arm();
    if (this.bus) {
      this.presenceTimer = setInterval(() => void this.sharePresence(), PRESENCE_SHARE_MS);
      this.presenceTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = null;
    this.flushOut();
    await this.bus?.close();
  }

  status(): LinkStatus {
    return {
      bus: this.bus === null ? 'off' : this.bus.healthy ? 'up' : 'down',
      database: this.store.reachable?.() === false ? 'down' : 'up',
    };
  }

  // --- HubObserver: what this process committed -------------------------------------------

  published(userId: number, seq: number): void {
    if (!this.bus) return;
    this.outUsers.set(userId, Math.max(seq, this.outUsers.get(userId) ?? 0));
    this.scheduleFlush();
  }

  revoked(deviceIds: readonly string[]): void {
    if (!this.bus) return;
    this.outRevoked.push(...deviceIds);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushOut());
  }

  private flushOut(): void {
    this.flushScheduled = false;
    if (!this.bus || (this.outUsers.size === 0 && this.outRevoked.length === 0)) return;
    const w: Wire = { o: this.processId };
    if (this.outUsers.size > 0) w.u = [...this.outUsers];
    if (this.outRevoked.length > 0) w.r = this.outRevoked;
    this.outUsers = new Map();
    this.outRevoked = [];
    this.bus.publish(JSON.stringify(w));
  }

  // --- what other processes committed ------------------------------------------------------

  private received(text: string): void {
    const w = parse(text);
    if (!w || w.o === this.processId || !this.hub) return;
    if (Array.isArray(w.r) && w.r.length > 0) {
      const ids = w.r.filter((id): id is string => typeof id === 'string');
      this.hub.revokeHere(ids);
      for (const id of ids) this.presence?.forgetDevice(id);
    }
    if (Array.isArray(w.u)) {
      for (const pair of w.u) {
        if (!Array.isArray(pair)) continue;
        const [userId, seq] = pair;
        if (typeof userId !== 'number' || typeof seq !== 'number') continue;
        const since = this.hub.waitingSince(userId);
        if (since !== undefined && seq > since) this.catchUp(userId);
      }
    }
  }

  /** Reads the user's new events for their waiters here: one read in flight per user. */
  private catchUp(userId: number): void {
    if (this.reading.has(userId)) {
      this.reading.set(userId, true); // once more after the read in flight
      return;
    }
    this.reading.set(userId, false);
    void this.readFor(userId).finally(() => {
      const again = this.reading.get(userId) === true;
      this.reading.delete(userId);
      if (again && !this.stopped) this.catchUp(userId);
    });
  }

  private async readFor(userId: number): Promise<void> {
    const hub = this.hub;
    if (!hub) return;
    try {
      for (;;) {
        const since = hub.waitingSince(userId);
        if (since === undefined) return;
        const rows = await this.store.eventsAfter(userId, since, this.opts.readLimit);
        if (rows.length === 0) return;
        hub.deliver(
          userId,
          rows.map((e) => ({ seq: e.seq, json: eventRowJson(e, userId) })),
        );
        // A full page may leave waiters further on unanswered (their cursor past it): read on.
        const after = hub.waitingSince(userId);
        const last = rows[rows.length - 1]?.seq ?? since;
        if (rows.length < this.opts.readLimit || after === undefined || after < last) return;
      }
    } catch (err) {
      this.opts.onError?.(err, 'reading events for a hint');
    }
  }

  // --- presence ----------------------------------------------------------------------------

  /** Shares who is online through this process and takes in what the others share. */
  async sharePresence(): Promise<void> {
    const bus = this.bus;
    const presence = this.presence;
    if (!bus || !presence) return;
    if (!bus.healthy) {
      presence.setElsewhere(new Map()); // not known now: this process's own view only
      return;
    }
    try {
      await bus.putState(this.processId, JSON.stringify(presence.snapshot()), PRESENCE_TTL_MS);
      const states = await bus.readStates();
      const elsewhere = new Map<string, SeenElsewhere>();
      for (const [id, text] of states) {
        if (id === this.processId) continue;
        const devices = parseSnapshot(text);
        for (const [deviceId, username, held] of devices) {
          const known = elsewhere.get(deviceId);
          elsewhere.set(deviceId, { username, held: held || (known?.held ?? false) });
        }
      }
      presence.setElsewhere(elsewhere);
    } catch (err) {
      presence.setElsewhere(new Map());
      this.opts.onError?.(err, 'sharing presence');
    }
  }

  // --- the re-check ------------------------------------------------------------------------

  private arm(): void {
    if (this.stopped) return;
    const wait = Math.round(this.recheckMs * (0.5 + Math.random()));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.recheck().finally(() => this.arm());
    }, wait);
    this.timer.unref();
  }

  /**
   * Every user with waiters here whose stream moved past their smallest cursor gets a catch-up
   * read; every held device that no longer exists is answered 401. Two queries in all.
   */
  async recheck(): Promise<void> {
    const hub = this.hub;
    if (!hub || this.stopped) return;
    if (this.rechecking) {
      this.recheckAgain = true;
      return;
    }
    this.rechecking = true;
    try {
      const users = hub.waitingUsers();
      if (users.length > 0) {
        const heads = await this.store.headSeqs(users);
        for (const userId of users) {
          const since = hub.waitingSince(userId);
          const head = heads.get(userId);
          if (since !== undefined && head !== undefined && head > since) this.catchUp(userId);
        }
      }
      const held = hub.heldDeviceIds();
      if (held.length > 0) {
        const still = await this.store.existingDevices(held);
        const gone = held.filter((id) => !still.has(id));
        if (gone.length > 0) {
          hub.revokeHere(gone);
          for (const id of gone) this.presence?.forgetDevice(id);
        }
      }
    } catch (err) {
      this.opts.onError?.(err, 're-checking held polls');
    } finally {
      this.rechecking = false;
    }
    if (this.recheckAgain) {
      this.recheckAgain = false;
      await this.recheck();
    }
  }
}
