// What every statement and transaction of the PostgreSQL backend goes through: named queries on
// a pool or a connection, and transactions run again after a deadlock.
import type { Pool, PoolClient, QueryResultRow } from 'pg';
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

export type Queryable = Pick<Pool, 'query'> | PoolClient;

export async function rows<T extends QueryResultRow>(c: Queryable, q: Sql, values: unknown[]): Promise<T[]> {
  const res = await c.query<T>({ name: q.name, text: q.text, values });
  return res.rows;
}

export async function first<T extends QueryResultRow>(c: Queryable, q: Sql, values: unknown[]): Promise<T | undefined> {
  return (await rows<T>(c, q, values))[0];
}

/**
 * Runs `fn` in one transaction on one connection of `pool`, again after a deadlock or a
 * serialization failure (up to TX_ATTEMPTS); counts what it did in `stats`.
 */
export async function transaction<T>(pool: Pool, stats: CommitStats, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      stats.batches++;
      stats.jobs++;
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = asError(e); // the connection is gone: the pool drops it
      });
      if (attempt < TX_ATTEMPTS && RETRYABLE.has(pgCode(err) ?? '')) {
        stats.fallbacks++;
        continue;
      }
      throw asError(err);
    } finally {
      c.release(broken);
    }
  }
}

/**
 * The pool as the store's parts share it: transactions (counted in `stats`), snapshots, and
 * reads, all refused once the store is closed.
 */
export class PgDb {
  closed = false;
  readonly stats: CommitStats = { batches: 0, jobs: 0, fallbacks: 0 };

  constructor(readonly pool: Pool) {}

  /** One transaction (transaction() above); refused once closed. */
  tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return transaction(this.pool, this.stats, fn);
  }

  /**
   * Runs `fn`'s reads on one snapshot (REPEATABLE READ, read only): what one of them checked
   * (membership) still holds for the next (the rows it then reads). Not counted as a commit.
   */
  async snapshot<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = asError(e); // the connection is gone: the pool drops it
      });
      throw asError(err);
    } finally {
      c.release(broken);
    }
  }

  /** A read outside any transaction; refused once closed. */
  read<T extends QueryResultRow>(q: Sql, values: unknown[]): Promise<T[]> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return rows<T>(this.pool, q, values);
  }
}
