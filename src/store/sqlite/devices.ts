// The device ledger: what the SQLite store knows about devices between writes.
// - A cache of devices as authentication needs them, so that a request costs no query. Kept
//   coherent by every write of this process (the store calls forget() for each device it
//   deletes), and dropped whole when another process has written to the file (SQLite's
//   data_version moved): a device revoked from the command line is refused at once.
// - data_version itself, read once per turn of the event loop, not once per request: a busy
//   server authenticates many requests per turn, and a write from another process is seen from
//   the next turn on, a moment later; and again as every write transaction begins (began()), so
//   that the device check of a send or read marker is never older than its commit.
// - Acknowledgements (cursors) and last-seen times, kept in memory and written with the first
//   group commit at least DEVICE_WRITE_DELAY_MS later, all devices together (see noteSeen).
import type { Device, DeviceAuth } from '../../types';
import type { BatchExtras } from './group-commit';
import type { Queries } from './queries';

/** Delay before device acknowledgements and last-seen times are written (see noteSeen). */
const DEVICE_WRITE_DELAY_MS = 1000;

/** Bound on cached devices; past it the cache starts over (each entry is a few hundred bytes). */
const DEVICE_CACHE_MAX = 200_000;

interface PendingDevice {
  cursor: number;
  seenAt: number;
}

export class DeviceLedger implements BatchExtras {
  /** Device acknowledgements and last-seen times not yet written; folded into the next batch. */
  private readonly pendingDevices = new Map<string, PendingDevice>();
  private readonly cache = new Map<string, DeviceAuth>();
  private cacheVersion = -1;
  /** data_version as read in this turn of the event loop (-1: not yet). */
  private turnVersion = -1;
  private readonly endOfTurn = (): void => {
    this.turnVersion = -1;
  };
  /** When the pending device updates are due to be written (see noteSeen). */
  private dueAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private forceWrites = false;

  constructor(
    private readonly q: Pick<Queries, 'selectDeviceAuth' | 'updateDeviceSeen' | 'dataVersion'>,
    /** Asks the group commit for a batch soon (it then calls pending(), write(), committed()). */
    private readonly schedule: () => void,
  ) {}

  /**
   * A device as authentication needs it, with its newest acknowledgement; undefined when gone.
   * The cached object itself, kept up to date by noteSeen(): no copy per request.
   */
  get(id: string): DeviceAuth | undefined {
    const version = this.turnDataVersion();
    if (version !== this.cacheVersion) {
      this.cache.clear();
      this.cacheVersion = version;
    }
    let row = this.cache.get(id);
    if (!row) {
      const r = this.q.selectDeviceAuth.get(id);
      if (!r) return undefined;
      // Cached as one flat object with the hash as a string: a Buffer costs three objects and
      // memory outside the heap, and every device that polls is in this cache. With what is
      // pending for it folded in, as noteSeen() folds in what comes later.
      const p = this.pendingDevices.get(id);
      row = {
        id: r.id,
        userId: r.userId,
        name: r.name,
        createdAt: r.createdAt,
        lastSeenAt: p ? Math.max(r.lastSeenAt, p.seenAt) : r.lastSeenAt,
        cursor: p ? Math.max(r.cursor, p.cursor) : r.cursor,
        username: r.username,
        tokenHash: r.tokenHash.toString('hex'),
      };
      if (this.cache.size >= DEVICE_CACHE_MAX) this.cache.clear();
      this.cache.set(id, row);
    }
    return row;
  }

  /** A device as read from its row, with its acknowledgement not yet written. */
  withPending<T extends Device>(d: T): T {
    const p = this.pendingDevices.get(d.id);
    if (!p) return d;
    return { ...d, cursor: Math.max(d.cursor, p.cursor), lastSeenAt: Math.max(d.lastSeenAt, p.seenAt) };
  }

  /** When the device was last used: `stored` (its row's last_seen_at) or a later use not yet written. */
  lastUsed(id: string, stored: number): number {
    const p = this.pendingDevices.get(id);
    return p ? Math.max(stored, p.seenAt) : stored;
  }

  /** This process deleted the device: nothing of it is kept or written. */
  forget(id: string): void {
    this.pendingDevices.delete(id);
    this.cache.delete(id);
  }

  /**
   * Records that a device polled with `cursor` (its acknowledgement) at `now`. Kept in memory
   * (every read here sees it at once) and written with the first batch at least
   * DEVICE_WRITE_DELAY_MS later, all devices together: a device polling again after every
   * message then costs one row write per interval, not one per message (a sixth of the write
   * cost under load, measured). What a crash can lose is at most that interval of
   * acknowledgements, which only means that a device that also lost its own cursor sees those
   * events once more; a clean shutdown writes them all.
   */
  noteSeen(id: string, now: number, cursor: number): void {
    // The interval starts with the first update after the last write, so a steady stream of
    // polls cannot keep pushing the write back.
    const first = this.pendingDevices.size === 0;
    const p = this.pendingDevices.get(id);
    if (p) {
      p.cursor = Math.max(p.cursor, cursor);
      p.seenAt = Math.max(p.seenAt, now);
    } else {
      this.pendingDevices.set(id, { cursor, seenAt: now });
    }
    const cached = this.cache.get(id);
    if (cached) {
      cached.cursor = Math.max(cached.cursor, cursor);
      cached.lastSeenAt = Math.max(cached.lastSeenAt, now);
    }
    if (first && !this.timer) {
      this.dueAt = Date.now() + DEVICE_WRITE_DELAY_MS;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, DEVICE_WRITE_DELAY_MS);
      this.timer.unref();
    }
  }

  /**
   * SQLite's data_version, read now: it moves when another connection (the admin command line)
   * has written. What get() goes by for the rest of this turn, so that a caller that has just
   * seen it move (main's watcher) finds the cache already dropped.
   */
  dataVersion(): number {
    const v = this.q.dataVersion.get() ?? 0;
    if (this.turnVersion < 0) setImmediate(this.endOfTurn);
    this.turnVersion = v;
    return v;
  }

  /** data_version as read once in this turn of the event loop: what the caches here go by. */
  turnDataVersion(): number {
    return this.turnVersion < 0 ? this.dataVersion() : this.turnVersion;
  }

  /** While true, everything pending is written with the next batch, due or not (flush, close). */
  setForced(on: boolean): void {
    this.forceWrites = on;
  }

  /** No more timed writes (closing: what is pending goes with the last batch). */
  stop(): void {
    this.forceWrites = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // --- BatchExtras: called by the group commit ----------------------------------------------

  /**
   * A write transaction began (BEGIN IMMEDIATE: no other connection can commit until it ends):
   * data_version is read again, so the device checks of its sends and read markers go by the
   * database as it is now. The turn's value may predate a revocation by the command line that
   * committed since (in this very turn), and a message from the revoked device would be stored.
   * Returned for the stream heads (heads.ts), which go by it for the same reason.
   */
  began(): number {
    return this.dataVersion();
  }

  pending(): boolean {
    return this.pendingDevices.size > 0 && (this.forceWrites || Date.now() >= this.dueAt);
  }

  write(): void {
    for (const [id, p] of this.pendingDevices) this.q.updateDeviceSeen.run(p.cursor, p.seenAt, id);
  }

  /** The pending device updates are on disk (the cache has had them since noteSeen): forget them. */
  committed(): void {
    this.pendingDevices.clear();
  }
}
