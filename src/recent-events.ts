// The newest events published for each user, kept by the hub (hub.ts) so that a poll whose
// cursor is just behind its stream's head is answered from memory, without reading the store
// (#18). That is the common case under load: a client gets its answer, and the next message
// for it is published while it is between polls; its next poll then finds it here.
//
// What is kept is only ever a run of consecutive events of the user's stream, as published
// (after their commit, and on SQLite after its fsync: store/sqlite/wal-sync.ts): an event that
// does not follow the last one kept (a write this process did not publish, such as the admin
// command line's, or one too large to keep) starts the run again, so an answer from here never
// skips an event; and an answer from here stops only at the poll's limit or the stream's head, so
// it never has fewer events than the store would give. Anything else is read from the store, as
// before.

/** Events kept per user: a client between two polls misses a few at most. */
const PER_USER = 8;
/** An event larger than this (its weight, the JSON's length) is not kept. */
const MAX_EVENT_WEIGHT = 4096;
/** Users kept; past it the one published to longest ago goes (as past MAX_KEPT_WEIGHT). */
export const MAX_USERS = 20_000;
/**
 * What all users' kept events may weigh together (characters of JSON): without it, MAX_USERS full
 * runs of the largest events would be over 600 MiB, held for polls that may never come. Past it,
 * the users published to longest ago are dropped first.
 */
export const MAX_KEPT_WEIGHT = 16 * 1024 * 1024;

export class RecentEvents<E extends { seq: number }> {
  private readonly byUser = new Map<number, E[]>();
  /** The weight of every event kept. */
  private weight = 0;

  constructor(private readonly weigh: (e: E) => number) {}

  /** Events just published for the user, in stream order. */
  add(userId: number, events: readonly E[]): void {
    let run = this.byUser.get(userId);
    for (const e of events) {
      const last = run?.[run.length - 1];
      const weight = this.weigh(e);
      const tooLarge = weight > MAX_EVENT_WEIGHT;
      if (tooLarge || (last && e.seq !== last.seq + 1)) {
        // Not kept, or not next: what is kept must stay one unbroken run.
        this.drop(userId);
        run = undefined;
        if (tooLarge) continue;
      }
      if (!run) {
        if (this.byUser.size >= MAX_USERS) this.dropOldest();
        run = [];
        this.byUser.set(userId, run);
      }
      run.push(e);
      this.weight += weight;
      const gone = run.length > PER_USER ? run.shift() : undefined;
      if (gone) this.weight -= this.weigh(gone);
    }
    // Past the bound, the users published to longest ago go first: this one moves to the end
    // (a Map iterates in insertion order), and is never dropped here, being alone far below it.
    if (run) {
      this.byUser.delete(userId);
      this.byUser.set(userId, run);
    }
    for (const id of this.byUser.keys()) {
      if (this.weight <= MAX_KEPT_WEIGHT) break;
      if (id !== userId) this.drop(id);
    }
  }

  private drop(userId: number): void {
    const run = this.byUser.get(userId);
    if (!run) return;
    for (const e of run) this.weight -= this.weigh(e);
    this.byUser.delete(userId);
  }

  /** The user published to longest ago (the first in the Map's order: see add). */
  private dropOldest(): void {
    for (const id of this.byUser.keys()) return this.drop(id);
  }

  /**
   * Up to `limit` events after `since`, when the one right after it and every one up to the
   * limit or the stream's `head` are here; null when not (the store has them). Never fewer than
   * the store would give: events past the newest kept that were not published here (another
   * process's) send the poll to the store, which answers with them too.
   */
  after(userId: number, since: number, limit: number, head: number): E[] | null {
    const run = this.byUser.get(userId);
    const first = run?.[0];
    const last = run?.[run.length - 1];
    if (!run || !first || !last || first.seq > since + 1) return null;
    const from = since + 1 - first.seq;
    if (from >= run.length) return null;
    const out = run.slice(from, from + limit);
    return out.length === limit || last.seq >= head ? out : null;
  }

  /** What the events kept weigh together (tests). */
  get keptWeight(): number {
    return this.weight;
  }
}
