// The fsync of the group commit, taken off the event loop (#18).
//
// With synchronous=FULL SQLite syncs the WAL inside COMMIT, on the thread that commits: the
// event loop, which then waits on the disk (about a third of a send's commit on the machine of
// bench/README.md). So the group commit's transactions run with synchronous=NORMAL (the WAL
// written, not synced) and this class syncs the WAL file itself, in libuv's thread pool, while
// the event loop goes on parsing and answering requests (the group commit queues the next batch
// and commits it when the fsync returns: onIdle). What FULL promised is
// kept by holding back everything that could show a commit until an fsync that began after it
// has returned:
// - a write's promise (a send's 201, a read marker, a group change) resolves only then
//   (group-commit.ts), so the hub publishes it, and a woken poll delivers it, only then;
// - every read that could return what such a commit wrote (a poll's events, history, search,
//   the conversation list, a retried send's client_id) hands its result back only then
//   (SqliteStore.released in index.ts), though it ran at once.
// So nothing is acknowledged or shown to anyone before it is on disk, as with FULL. Writes
// outside the group commit (accounts, devices) still commit with FULL, which syncs the WAL
// before they return, and with it every group commit before them; so do all the commits of the
// admin command line (SqliteOptions.syncInCommit), which the server reads as soon as they are
// made, with no way to wait for another process's fsync.
//
// Why an fsync of the WAL file is enough: a commit in WAL mode appends frames to that file and
// nothing else; a checkpoint, which copies frames into the database file, syncs the WAL before
// and the database file after (also under NORMAL), so frames a checkpoint moved are durable
// there. On Linux fsync flushes the file, whatever descriptor wrote it.
//
// One fsync at a time: a commit made while one is in flight (by a forced flush: flushAll) waits
// for the next, which then covers all of them.
//
// Once an fsync has failed, no later one proves
// anything: Linux may drop the dirty pages a failed fsync was writing and report success the next
// time, so a commit made visible before the failure could be vouched for by a later fsync and yet
// be gone after a power loss. (SQLite's own FULL never shows a commit whose sync failed.) So the
// failure sticks: every write and read waiting here is refused from then on, until a restart,
// whose recovery reads what the disk really holds.
import fs from 'node:fs';

type Waiter = (err: Error | null) => void;

/** fs.fsync's shape: what syncs the WAL file (tests stand in for it to hold a sync back). */
export type Fsync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

export class WalSync {
  /** The WAL, open from the start to the end (see the constructor). */
  private fd: number;
  private syncing = false;
  private closed = false;
  /** A commit was made after the fsync in flight began (or none is in flight): not yet covered. */
  private dirty = false;
  /** Released when the fsync in flight returns. */
  private covered: Waiter[] = [];
  /** Released by the fsync after that one (their commits came after it began). */
  private next: Waiter[] = [];
  private failures = 0;
  /** The first failure: from then on nothing is vouched for (see above). */
  private broken: Error | null = null;
  /** Told when an fsync has returned with nothing committed since it began (group-commit.ts). */
  private idle: (() => void) | null = null;

  /**
   * Opens the WAL now, as the store opens (its migrations have made it): a WAL that cannot be
   * opened stops the server from starting, rather than failing for good (above) on a later
   * commit, when a flood of connections may have used up the descriptors for a moment.
   */
  constructor(
    private readonly walPath: string,
    private readonly fsync: Fsync = fs.fsync,
  ) {
    this.fd = fs.openSync(walPath, 'r');
  }

  /** A transaction run with synchronous=NORMAL has just committed: its frames are to be synced. */
  committed(): void {
    this.dirty = true;
    if (!this.syncing) this.start();
  }

  /**
   * Calls `done` once every commit made so far is on disk (at once when all are), with the
   * error of the fsync if it failed.
   */
  whenDurable(done: Waiter): void {
    if (this.broken) done(this.broken);
    else if (this.dirty) this.next.push(done);
    else if (this.syncing) this.covered.push(done);
    else done(null);
  }

  /** Whether a commit is not yet known to be on disk (never again, after a failure). */
  get pending(): boolean {
    return this.dirty || this.syncing || this.broken !== null;
  }

  /** Whether an fsync is in flight. */
  get busy(): boolean {
    return this.syncing;
  }

  /** `fn` is called each time an fsync returns and none is started after it. */
  onIdle(fn: () => void): void {
    this.idle = fn;
  }

  /** fsyncs that failed since start (their waiters were given the error). */
  get failed(): number {
    return this.failures;
  }

  /** Syncs now, on this thread, and releases every waiter: before the database closes, or a flush(). */
  syncNow(): void {
    if (!this.pending) return;
    const waiters = this.covered.concat(this.next);
    this.covered = [];
    this.next = [];
    this.dirty = false;
    let error = this.broken;
    if (!error) {
      try {
        fs.fsyncSync(this.fd);
      } catch (err) {
        error = this.fail(err);
      }
    }
    // An fsync still in flight finds nothing to release when it returns.
    for (const w of waiters) w(error);
  }

  /** No fsync is started after this; one in flight still releases its waiters. */
  close(): void {
    this.syncNow();
    this.closed = true;
    if (!this.syncing) this.closeFd();
  }

  private start(): void {
    if (this.closed || this.broken) return;
    const fd = this.fd;
    this.syncing = true;
    this.dirty = false;
    this.covered = this.next;
    this.next = [];
    this.fsync(fd, (err) => {
      this.syncing = false;
      const waiters = this.covered;
      this.covered = [];
      this.release(waiters, err ? this.fail(err) : this.broken);
      if (this.closed) this.closeFd();
      else if (this.dirty) this.start();
      else this.idle?.();
    });
  }

  private release(waiters: Waiter[], err: Error | null): void {
    for (const w of waiters) w(err);
  }

  private fail(err: unknown): Error {
    this.failures++;
    const reason = err instanceof Error ? err.message : String(err);
    const error = new Error(`the disk did not confirm a commit (fsync of ${this.walPath}: ${reason}); restart the server`);
    this.broken ??= error;
    return error;
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}
