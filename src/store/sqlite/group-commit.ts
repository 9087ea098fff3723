// Group commit: writes that arrive in the same turn of the event loop are committed together in
// one transaction, and none of them is acknowledged before that commit is on disk.
//
// Why: with synchronous=FULL an acknowledged message survives a power loss, but every commit
// then waits for an fsync of the WAL. One commit for every message that arrived meanwhile pays
// that wait once per batch instead of once per message (measured in bench/README.md). And with
// a WalSync (wal-sync.ts, the FULL default) the batch commits without syncing and the fsync runs
// in the thread pool: the jobs' promises resolve when it returns, while the event loop goes on
// parsing and answering, and queues the next batch until then (#18, see flush).
//
// A batch is optimistic: its jobs run one after another in one transaction with no savepoints
// (a SAVEPOINT and a RELEASE per write cost as much as the write). Should any job throw, the
// whole transaction rolls back and the jobs are committed again one by one, each in its own
// transaction, so that only the failing one is refused. Jobs are deterministic functions of
// their input and the database, so running one again after a rollback is safe. If a commit
// itself fails, the jobs it carried are rejected: nothing in it was acknowledged, and nothing
// of it is visible.
import type { Database, Transaction } from 'better-sqlite3';
import type { StreamHeads } from './heads';
import type { WalSync } from './wal-sync';

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** A write of a request (a send, a read marker): counted in stats(); not a wait for a commit (nextCommit). */
  counted: boolean;
}

/** Upper bound of jobs per transaction, so one huge burst cannot hold the event loop for long. */
const MAX_BATCH = 2000;

/** Writes folded into a batch when they are due (coalesced device updates), forgotten only once committed. */
export interface BatchExtras {
  /**
   * Called first in every transaction that runs jobs, once it holds the write lock; returns
   * SQLite's data_version as read then, which the stream heads check themselves against.
   */
  began(): number;
  pending(): boolean;
  write(): void;
  committed(): void;
}

/**
 * Writes left for the end of a transaction (the search index catching up with the messages:
 * search.ts), told how the transaction ended.
 */
export interface TransactionTail {
  /** Whether it has writes to make: a transaction is run for them, with or without jobs. */
  due(): boolean;
  /** The last statements of every transaction that ran jobs (or ran for it). */
  write(): void;
  committed(): void;
  /** Nothing of it is in the database: what the jobs left is forgotten (they run again). */
  rolledBack(): void;
}

export class GroupCommit {
  private jobs: Job[] = [];
  private scheduled = false;
  private closed = false;
  private readonly batchTx: Transaction<(jobs: Job[], withExtras: boolean) => unknown[]>;
  private readonly singleTx: Transaction<(job: Job) => unknown>;
  private readonly extrasTx: Transaction<() => void>;
  /** synchronous=NORMAL for the group's own transactions and back to FULL, when a WalSync syncs them. */
  private readonly syncOff: (() => void) | null;
  private readonly syncOn: (() => void) | null;
  /** Committed transactions and the jobs in them, since start: for metrics and tests. */
  private batches = 0;
  private committedJobs = 0;
  private fallbacks = 0;

  constructor(
    db: Database,
    private readonly extras: BatchExtras,
    /** Told when each transaction of jobs begins and how it ended: what it appended becomes the heads once committed. */
    private readonly heads: StreamHeads,
    /** The search index catching up, the last statements of every transaction of jobs (search.ts). */
    private readonly tail: TransactionTail,
    /**
     * Syncs the WAL after each commit off the event loop (synchronous=FULL on a file); null: the
     * commit itself is as durable as the connection's synchronous setting makes it.
     */
    private readonly wal: WalSync | null = null,
  ) {
    // Other writes on the connection (accounts, devices) keep FULL: only these transactions
    // leave their fsync to `wal`. A pragma, not a statement of the catalog: it is no SQL of the
    // store's data.
    const normal = wal ? db.prepare('PRAGMA synchronous = NORMAL') : null;
    const full = wal ? db.prepare('PRAGMA synchronous = FULL') : null;
    this.syncOff = normal ? () => normal.run() : null;
    this.syncOn = full ? () => full.run() : null;
    // The next batch is committed when the fsync in flight returns (see flush).
    wal?.onIdle(() => {
      if (this.jobs.length > 0 || this.extras.pending() || this.tail.due()) this.schedule();
    });
    this.batchTx = db.transaction((jobs: Job[], withExtras: boolean) => {
      this.heads.began(this.extras.began());
      if (withExtras) this.extras.write();
      const values = jobs.map((job) => job.run());
      this.tail.write();
      return values;
    });
    this.singleTx = db.transaction((job: Job) => {
      this.heads.began(this.extras.began());
      const value = job.run();
      this.tail.write();
      return value;
    });
    this.extrasTx = db.transaction(() => this.extras.write());
  }

  /** Queues a synchronous write; resolves with its result once the batch has committed. */
  run<T>(fn: () => T): Promise<T> {
    return this.queue(fn, true);
  }

  /**
   * Resolves once a transaction has run and is on disk, with whatever is queued or due (the
   * search index catching up before a search: SqliteStore.search). Not counted as a write.
   */
  nextCommit(): Promise<void> {
    return this.queue(() => undefined, false);
  }

  private queue<T>(fn: () => T, counted: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ run: fn, resolve: resolve as (v: unknown) => void, reject, counted });
      this.schedule();
    });
  }

  /** Asks for a commit soon even with no job queued (coalesced device updates, the search index). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every request that is already readable on a socket gets
    // parsed and queued first, which is what makes batches form under load.
    setImmediate(() => this.flush());
  }

  get pending(): number {
    return this.jobs.length;
  }

  stats(): { batches: number; jobs: number; fallbacks: number } {
    return { batches: this.batches, jobs: this.committedJobs, fallbacks: this.fallbacks };
  }

  /**
   * Commits one batch; a longer queue continues on the next turn so other work can run.
   *
   * While the fsync of the batch before is in flight, the jobs wait for it to return (unless
   * `force`d): what arrives during one fsync is committed as one batch, as it was when the fsync
   * held the event loop and the requests waited in the sockets (measured in bench/README.md: a
   * commit at every turn instead halved the batches, and each commit has a cost of its own, the
   * pages every batch rewrites). The event loop meanwhile parses, authenticates and answers.
   */
  flush(force = false): void {
    this.scheduled = false;
    if (!force && this.wal?.busy) return; // onIdle schedules it

    const jobs = this.jobs.splice(0, MAX_BATCH);
    if (this.closed) {
      for (const job of jobs) job.reject(new Error('the store is closed'));
      return;
    }
    const withExtras = this.extras.pending();
    if (jobs.length > 0 || withExtras || this.tail.due()) {
      this.syncOff?.();
      try {
        this.commitBatch(jobs, withExtras);
      } finally {
        this.syncOn?.();
      }
    }
    if (this.jobs.length > 0) this.schedule();
  }

  private commitBatch(jobs: Job[], withExtras: boolean): void {
    let values: unknown[] | null = null;
    this.heads.begin();
    try {
      values = this.batchTx.immediate(jobs, withExtras);
    } catch {
      values = null; // one of them failed (or the commit did): sort it out one by one
      this.tail.rolledBack();
    }
    this.heads.end(values !== null);
    if (values) {
      this.tail.committed();
      this.committed(countOf(jobs), withExtras);
      this.durable(() => jobs.forEach((job, i) => job.resolve(values[i])), jobs);
    } else {
      this.oneByOne(jobs);
    }
  }

  /**
   * Runs `acknowledge` once what was just committed is on disk: at once without a WalSync (the
   * commit synced it, or the setting does not ask for it), else when its fsync returns. Should
   * that fail, the jobs are rejected: their writes are in the database, but not known to be on
   * disk, so nothing of them was acknowledged (nor is anything after it: wal-sync.ts).
   */
  private durable(acknowledge: () => void, jobs: Job[]): void {
    const wal = this.wal;
    if (!wal) return acknowledge();
    wal.committed();
    if (jobs.length === 0) return;
    wal.whenDurable((err) => {
      if (!err) acknowledge();
      else for (const job of jobs) job.reject(err);
    });
  }

  private committed(jobs: number, withExtras: boolean): void {
    this.batches++;
    this.committedJobs += jobs;
    if (withExtras) this.extras.committed();
  }

  private oneByOne(jobs: Job[]): void {
    this.fallbacks++;
    if (this.extras.pending()) {
      try {
        this.extrasTx.immediate();
        this.committed(0, true);
        this.durable(() => undefined, []);
      } catch {
        // acknowledgements of polls only: kept pending, retried with the next batch
      }
    }
    for (const job of jobs) {
      let value: unknown;
      this.heads.begin();
      try {
        value = this.singleTx.immediate(job);
      } catch (error) {
        this.heads.end(false);
        this.tail.rolledBack();
        job.reject(error);
        continue;
      }
      this.heads.end(true);
      this.tail.committed();
      this.committed(job.counted ? 1 : 0, false);
      this.durable(() => job.resolve(value), [job]);
    }
  }

  /**
   * Commits everything queued and syncs it, synchronously: on shutdown before the database
   * closes, before a backup, and for flush(). Every job queued so far is settled on return.
   */
  flushAll(): void {
    do this.flush(true);
    while (this.jobs.length > 0 && !this.closed);
    this.wal?.syncNow();
  }

  /** Commits what is queued; later jobs are refused. */
  close(): void {
    this.flushAll();
    this.closed = true;
    this.wal?.close();
  }
}

/** The writes of requests among `jobs` (see Job.counted). */
function countOf(jobs: Job[]): number {
  let n = 0;
  for (const job of jobs) if (job.counted) n++;
  return n;
}
