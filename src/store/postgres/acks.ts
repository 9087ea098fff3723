// Device acknowledgements (the cursor a device polled with) and last-seen times, for the
// PostgreSQL backend. Every poll records one; writing each at once would make a device row hot,
// rewritten once per message the device receives. They are kept in memory, visible at once to
// this process's reads, and written together every ACK_WRITE_DELAY_MS, all devices in one
// statement: one row write per device per interval, however many polls.
//
// Across processes this means a device's stored cursor, read by another process, may be up to
// that interval behind what it last acknowledged. That only ever errs one way: a device that
// polls without `since` on another process within the interval is given a few events it has
// seen again, never fewer (the contract's "misses nothing"). A crash loses at most the interval,
// with the same effect.
import type { Device } from '../../types';

/** Delay before acknowledgements are written. Shorter than SQLite's second: another process may read them. */
export const ACK_WRITE_DELAY_MS = 200;

interface Ack {
  cursor: number;
  seenAt: number;
}

export type AckWriter = (ids: string[], cursors: number[], seenAts: number[]) => Promise<void>;

export class AckLedger {
  /** Recorded, not yet being written. */
  private pending = new Map<string, Ack>();
  /** Being written now: still overlaid on reads until the write has committed. */
  private writing = new Map<string, Ack>();
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private failures = 0;

  constructor(private readonly write: AckWriter) {}

  /** Writes that failed (they are kept and tried again with the next). */
  get failed(): number {
    return this.failures;
  }

  note(id: string, now: number, cursor: number): void {
    const p = this.pending.get(id);
    if (p) {
      p.cursor = Math.max(p.cursor, cursor);
      p.seenAt = Math.max(p.seenAt, now);
    } else {
      this.pending.set(id, { cursor, seenAt: now });
    }
    if (!this.timer && !this.inFlight) this.arm();
  }

  /** Arms the timer for what was recorded while a write was under way. */
  private armIfPending(): void {
    if (this.pending.size > 0 && this.timer === null) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ACK_WRITE_DELAY_MS);
    this.timer.unref();
  }

  /** A device as read from its row, with what this process has recorded since. */
  withPending<T extends Device>(d: T): T {
    const a = this.pending.get(d.id);
    const b = this.writing.get(d.id);
    if (!a && !b) return d;
    const cursor = Math.max(d.cursor, a?.cursor ?? 0, b?.cursor ?? 0);
    const lastSeenAt = Math.max(d.lastSeenAt, a?.seenAt ?? 0, b?.seenAt ?? 0);
    return { ...d, cursor, lastSeenAt };
  }

  /** When the device was last used as this process knows it: `stored`, or a later use recorded here. */
  lastUsed(id: string, stored: number): number {
    return Math.max(stored, this.pending.get(id)?.seenAt ?? 0, this.writing.get(id)?.seenAt ?? 0);
  }

  /** The device is gone: nothing of it is written. */
  forget(id: string): void {
    this.pending.delete(id);
    this.writing.delete(id);
  }

  /** Writes everything recorded so far; resolves once it has committed (or failed, kept for later). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.pending.size === 0) return;
    this.writing = this.pending;
    this.pending = new Map();
    const ids = [...this.writing.keys()].sort();
    const acks = ids.map((id) => this.writing.get(id) ?? { cursor: 0, seenAt: 0 });
    this.inFlight = this.write(
      ids,
      acks.map((a) => a.cursor),
      acks.map((a) => a.seenAt),
    ).then(
      () => {
        this.writing = new Map();
      },
      () => {
        // Kept: folded back into what is pending, written with the next attempt.
        this.failures++;
        for (const [id, a] of this.writing) this.note(id, a.seenAt, a.cursor);
        this.writing = new Map();
      },
    );
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
      this.armIfPending();
    }
  }

  /** No more timed writes (closing: the caller flushes once more). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
