// Group commit: writes that arrive in the same turn of the event loop are committed together in
// one transaction, and none of them is acknowledged before that commit returns.
//
// Why: with synchronous=FULL an acknowledged message survives a power loss, but every commit
// then waits for an fsync of the WAL. One commit for every message that arrived meanwhile pays
// that wait once per batch instead of once per message (measured in bench/README.md).
//
// Each job runs inside its own savepoint (better-sqlite3 turns a nested transaction function
// into SAVEPOINT/RELEASE), so one failing job (a constraint, bad input that slipped through)
// rolls back only itself and rejects only its own caller. If the commit itself fails, every job
// of the batch is rejected: nothing in it was acknowledged, and nothing of it is visible.
import type { Database, Transaction } from 'better-sqlite3';

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Upper bound of jobs per transaction, so one huge burst cannot hold the event loop for long. */
const MAX_BATCH = 2000;

export class GroupCommit {
  private jobs: Job[] = [];
  private scheduled = false;
  private readonly batchTx: Transaction<(jobs: Job[]) => Outcome[]>;
  private readonly savepoint: Transaction<(fn: () => unknown) => unknown>;

  private closed = false;
  /** Committed batches and the jobs in them, since start: for metrics and tests. */
  private batches = 0;
  private committedJobs = 0;

  /**
   * @param beforeJobs writes to fold into every batch (coalesced device updates)
   * @param hasExtra whether beforeJobs has anything to write, so an idle turn commits nothing
   */
  constructor(
    db: Database,
    private readonly beforeJobs: () => void,
    private readonly hasExtra: () => boolean,
  ) {
    this.savepoint = db.transaction((fn: () => unknown) => fn());
    this.batchTx = db.transaction((jobs: Job[]) => {
      this.beforeJobs();
      return jobs.map((job): Outcome => {
        try {
          return { ok: true, value: this.savepoint(job.run) };
        } catch (error) {
          return { ok: false, error };
        }
      });
    });
  }

  /** Queues a synchronous write; resolves with its result once the batch has committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Asks for a commit soon even with no job queued (coalesced device updates). */
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

  stats(): { batches: number; jobs: number } {
    return { batches: this.batches, jobs: this.committedJobs };
  }

  /** Commits one batch; a longer queue continues on the next turn so other work can run. */
  flush(): void {
    this.scheduled = false;
    const jobs = this.jobs.splice(0, MAX_BATCH);
    if (this.closed) {
      for (const job of jobs) job.reject(new Error('the store is closed'));
      return;
    }
    if (jobs.length === 0 && !this.hasExtra()) return;
    let outcomes: Outcome[];
    try {
      outcomes = this.batchTx.immediate(jobs);
      this.batches++;
      this.committedJobs += jobs.length;
    } catch (error) {
      for (const job of jobs) job.reject(error);
      if (this.jobs.length > 0) this.schedule();
      return;
    }
    outcomes.forEach((o, i) => {
      const job = jobs[i];
      if (!job) return;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error);
    });
    if (this.jobs.length > 0) this.schedule();
  }

  /** Commits everything queued, synchronously: used on shutdown before the database closes. */
  flushAll(): void {
    do this.flush();
    while (this.jobs.length > 0 && !this.closed);
  }

  /** Commits what is queued; later jobs are refused. */
  close(): void {
    this.flushAll();
    this.closed = true;
  }
}
