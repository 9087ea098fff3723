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
