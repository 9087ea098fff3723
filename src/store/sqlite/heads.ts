// The head of each user's event stream (its newest seq), known in memory so that a poll with
// nothing newer than its cursor, the common case (a client polling again right after its answer),
// costs no query (E1 in bench/README.md, #18).
//
// What is known is only ever what is committed:
// - a head read from the database (SqliteStore.headSeq), or
// - the seq appendEvent() handed out in a group commit, once that commit has returned.
// appendEvent() forgets the user's head at once, so a transaction that rolls back (or one that
// is not a group commit) leaves nothing behind: the next read goes to the database. And since
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
  /** Inside a group commit: (userId, seq) pairs appended, made known once it commits. */
  private readonly appended: number[] = [];
  private inBatch = false;

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

  /** appendEvent() gave the user's stream this seq, in a transaction not yet committed. */
  noteAppended(userId: number, seq: number): void {
    this.known.delete(userId);
    if (this.inBatch) this.appended.push(userId, seq);
  }

  /** A group commit's transaction begins (group-commit.ts). */
  begin(): void {
    this.inBatch = true;
    this.appended.length = 0;
  }

  /** It ended: committed (what it appended is now the heads) or rolled back (nothing is). */
  end(committed: boolean): void {
    const a = this.appended;
    // In append order, so a user's last pair is their newest seq.
    if (committed) for (let i = 0; i < a.length; i += 2) this.set(a[i] as number, a[i + 1] as number);
    a.length = 0;
    this.inBatch = false;
  }
}
