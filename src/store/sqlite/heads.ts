// The head of each user's event stream (its newest seq), known in memory so that a poll with
// nothing newer than its cursor, the common case (a client polling again right after its answer),
// costs no query (E1 in bench/README.md, #18), and an event appended in a group commit takes the
// next position without reading it from the table first (next()).
//
// What is known is only ever what is committed:
// - a head read from the database (SqliteStore.headSeq), or
// - the seq appendEvent() handed out in a group commit, once that commit has returned.
// Inside a group commit's transaction the positions it hands out are kept apart (`pending`) and
// become known only if it commits; a transaction that rolls back forgets every head (should a
// position taken from memory ever have been wrong, the retry then reads them all again), and an
// append outside a group commit forgets its user's. And since
// every event of this process is appended through appendEvent(), the only writes it cannot see
// are other connections' (the admin command line on the same file): everything is forgotten
// when SQLite's data_version moves, as the device cache is (devices.ts, read once per turn of
// the event loop). A head older than the database's in that moment only makes a poll wait
// until main's watcher wakes it (wakeOutsideWrites), as it wakes polls held before such a
// write. No cursor is refused as ahead of the stream because of it: that is checked against the
// database (SqliteStore.headSeq with `fresh`).
//
// Only SQLite has this: on PostgreSQL other processes write the same streams all the time, and
// its store reads the head from the database on every poll.

/** Bound on heads kept; past it the map starts over (an entry is a few dozen bytes). */
const HEADS_MAX = 200_000;

export class StreamHeads {
  private readonly known = new Map<number, number>();
  /** data_version the known heads were taken under. */
  private version = -1;
  /** Inside a group commit: each user's newest seq appended by it, made known once it commits. */
  private readonly pending = new Map<number, number>();
  private inBatch = false;
  /** The transaction has read data_version and the known heads go by it (began()). */
  private checked = false;

  /** The user's head if known, under the database's data_version as read this turn. */
  get(userId: number, dataVersion: number): number | undefined {
    if (dataVersion !== this.version) {
      this.known.clear();
      this.version = dataVersion;
    }
    return this.known.get(userId);
  }

  /** A head just read from the database (outside any transaction). */
  set(userId: number, seq: number): void {
    if (this.known.size >= HEADS_MAX) this.known.clear();
    this.known.set(userId, seq);
  }

  /**
   * The position the user's next event takes in the group commit under way, when known here:
   * after what this transaction appended for them, or after their committed head. Undefined
   * (read it from the table) outside a group commit, or before its transaction has checked the
   * heads against data_version (began()).
   */
  next(userId: number): number | undefined {
    if (!this.checked) return undefined;
    const head = this.pending.get(userId) ?? this.known.get(userId);
    return head === undefined ? undefined : head + 1;
  }

  /** appendEvent() gave the user's stream this seq, in a transaction not yet committed. */
  noteAppended(userId: number, seq: number): void {
    if (this.inBatch) this.pending.set(userId, seq);
    else this.known.delete(userId);
  }

  /** A group commit's transaction is about to begin (group-commit.ts). */
  begin(): void {
    this.inBatch = true;
    this.checked = false;
    this.pending.clear();
  }

  /**
   * It holds the write lock and has read data_version (devices.ts, began()): the known heads
   * are forgotten if another connection has written since they were taken, and those left are
   * the database's until the transaction ends.
   */
  began(dataVersion: number): void {
    if (!this.inBatch) return;
    if (dataVersion !== this.version) {
      this.known.clear();
      this.version = dataVersion;
    }
    this.checked = true;
  }

  /** It ended: committed (what it appended is now the heads) or rolled back (nothing is). */
  end(committed: boolean): void {
    if (committed) for (const [userId, seq] of this.pending) this.set(userId, seq);
    else this.known.clear();
    this.pending.clear();
    this.inBatch = false;
    this.checked = false;
  }
}
