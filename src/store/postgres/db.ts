// What every statement and transaction of the PostgreSQL backend goes through: named queries on
// a pool or a connection, transactions run again after a deadlock, and what an outage looks like
// from here (PostgreSQL restarted, stopped, or not yet accepting connections): the store says
// 503 overloaded with Retry-After instead of a fault, and whether it is reachable now.
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { Errors } from '../../errors';
import type { CommitStats } from '../store';
import type { Sql } from './queries';

/** Deadlock and serialization failures: the transaction is run again, a few times. */
const RETRYABLE = new Set(['40P01', '40001']);
const TX_ATTEMPTS = 3;

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Errors that say PostgreSQL cannot be reached now, not that a statement is wrong: refused or
 * broken connections (Node's codes), class 08 (connection exception), and 57P01-57P03 (the
 * server is shutting down, crashed, or still starting).
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01',
  '57P02',
  '57P03',
]);
/** node-postgres's own errors for the same, which carry no code. */
const UNREACHABLE_MESSAGE = /^Connection terminated|is not queryable|timeout exceeded when trying to connect/;

export function unreachable(err: unknown): boolean {
  const code = pgCode(err) ?? '';
  if (UNREACHABLE_CODES.has(code) || code.startsWith('08')) return true;
  return err instanceof Error && UNREACHABLE_MESSAGE.test(err.message);
}

/** Retry-After for an outage: 1 to 3 s, spread so that clients do not all come back at once. */
function outageRetryAfter(): number {
  return 1 + Math.floor(Math.random() * 3);
}

export type Queryable = Pick<Pool, 'query'> | PoolClient;

export async function rows<T extends QueryResultRow>(c: Queryable, q: Sql, values: unknown[]): Promise<T[]> {
  const res = await c.query<T>({ name: q.name, text: q.text, values });
  return res.rows;
}

export async function first<T extends QueryResultRow>(c: Queryable, q: Sql, values: unknown[]): Promise<T | undefined> {
  return (await rows<T>(c, q, values))[0];
}

/**
 * `fn` in one transaction opened by `begin` on one connection of `pool`: committed, or rolled
 * back when it throws.
 */
async function onOneConnection<T>(pool: Pool, begin: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  // The connection may break between two statements (the server stopped): without a listener
  // that would end the process; the statement after it fails, and the pool drops the client.
  const onError = (e: Error): void => {
    broken = e;
  };
  c.on('error', onError);
  try {
    await c.query(begin);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch((e: unknown) => {
      broken = asError(e); // the connection is gone: the pool drops it
    });
    throw asError(err);
  } finally {
    c.removeListener('error', onError);
    c.release(broken);
  }
}

/**
 * Runs `fn` in one transaction on one connection of `pool`, again after a deadlock or a
 * serialization failure (up to TX_ATTEMPTS); counts what it did in `stats`.
 */
export async function transaction<T>(pool: Pool, stats: CommitStats, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await onOneConnection(pool, 'BEGIN', fn);
      stats.batches++;
      stats.jobs++;
      return out;
    } catch (err) {
      if (attempt < TX_ATTEMPTS && RETRYABLE.has(pgCode(err) ?? '')) {
        stats.fallbacks++;
        continue;
      }
      throw err;
    }
  }
}

/** How often an unreachable database is tried again, for /healthz, while nothing else tries. */
const PROBE_MS = 1000;

/**
 * The pool as the store's parts share it: transactions (counted in `stats`), snapshots, and
 * reads, all refused once the store is closed. Each goes through guard(): an outage becomes
 * 503 overloaded (the client retries; a send with its client_id makes one message however
 * often it is retried) and marks the database unreachable until a statement succeeds again,
 * which a probe every PROBE_MS tries meanwhile. The pool itself reconnects: a broken
 * connection is dropped, the next one is made anew.
 */
export class PgDb {
  closed = false;
  readonly stats: CommitStats = { batches: 0, jobs: 0, fallbacks: 0 };
  private down = false;
  private probe: NodeJS.Timeout | null = null;

  constructor(readonly pool: Pool) {}

  /** Whether the last statement reached PostgreSQL (false from an outage until one does again). */
  get reachable(): boolean {
    return !this.down;
  }

  /** Runs `fn` on the pool (statements outside a transaction), as guard() says. */
  run<T>(fn: (pool: Queryable) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return this.guard(fn(this.pool));
  }

  /** `work`'s result; an outage becomes 503 overloaded and marks the database unreachable. */
  private async guard<T>(work: Promise<T>): Promise<T> {
    try {
      const out = await work;
      this.up();
      return out;
    } catch (err) {
      if (!unreachable(err)) throw err;
      this.markDown();
      throw Errors.storeUnavailable(outageRetryAfter());
    }
  }

  private up(): void {
    if (!this.down) return;
    this.down = false;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }

  private markDown(): void {
    this.down = true;
    if (this.probe || this.closed) return;
    this.probe = setInterval(() => {
      if (this.closed) return this.up();
      this.pool.query('SELECT 1').then(
        () => this.up(),
        () => undefined,
      );
    }, PROBE_MS);
    this.probe.unref();
  }

  /** No more probes (the store is closing). */
  stop(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }

  /** One transaction (transaction() above); refused once closed. */
  tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return this.guard(transaction(this.pool, this.stats, fn));
  }

  /**
   * Runs `fn`'s reads on one snapshot (REPEATABLE READ, read only): what one of them checked
   * (membership) still holds for the next (the rows it then reads). Not counted as a commit.
   */
  snapshot<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return this.guard(onOneConnection(this.pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn));
  }

  /** A read outside any transaction; refused once closed. */
  read<T extends QueryResultRow>(q: Sql, values: unknown[]): Promise<T[]> {
    return this.run((p) => rows<T>(p, q, values));
  }
}
