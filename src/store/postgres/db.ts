// Connections and transactions of the PostgreSQL backend, and the one way to append to event
// streams (see the top of index.ts for the ordering they give). Shared by the store's parts
// (index.ts, groups.ts, search.ts); `pg` itself is only a type here.
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import type { Delivery } from '../../types';
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

/** The pool, with transactions that count towards commitStats and refuse work once closed. */
export class PgDb {
  closed = false;
  readonly stats: CommitStats = { batches: 0, jobs: 0, fallbacks: 0 };

  constructor(readonly pool: Pool) {}

  /** Runs `fn` in one transaction on one connection, again after a deadlock (up to TX_ATTEMPTS). */
  async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.run('BEGIN', fn, true);
  }

  /**
   * Runs `fn`'s reads on one snapshot (REPEATABLE READ, read only): what one of them checked
   * (membership) still holds for the next (the rows it then reads).
   */
  snapshot<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn, false);
  }

  private async run<T>(begin: string, fn: (c: PoolClient) => Promise<T>, writes: boolean): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await c.query(begin);
        const out = await fn(c);
        await c.query('COMMIT');
        if (writes) {
          this.stats.batches++;
          this.stats.jobs++;
        }
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch((e: unknown) => {
          broken = asError(e); // the connection is gone: the pool drops it
        });
        if (attempt < TX_ATTEMPTS && RETRYABLE.has(pgCode(err) ?? '')) {
          if (writes) this.stats.fallbacks++;
          continue;
        }
        throw asError(err);
      } finally {
        c.release(broken);
      }
    }
  }

  /** A read outside any transaction; refused once closed. */
  read<T extends QueryResultRow>(q: Sql, values: unknown[]): Promise<T[]> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return rows<T>(this.pool, q, values);
  }
}

const LOCK_STREAMS: Sql = {
  name: 'lock_streams',
  text: `SELECT user_id AS "userId", head FROM streams WHERE user_id = ANY($1::integer[]) ORDER BY user_id FOR NO KEY UPDATE`,
};
const APPEND_EVENTS: Sql = {
  name: 'append_events',
  text: `WITH v AS (SELECT * FROM unnest($1::integer[], $2::bigint[]) AS v(user_id, seq)),
              e AS (INSERT INTO events (user_id, seq, kind, message_id, peer_id) SELECT user_id, seq, $3, $4, $5 FROM v)
         UPDATE streams s SET head = v.seq FROM v WHERE s.user_id = v.user_id`,
};

/**
 * The streams a writer appends to, held until it commits: their rows taken in user id order
 * (two writers never wait for each other in a circle), positions handed out while they are
 * held. Append with appendEvents.
 */
export class Streams {
  private constructor(
    private readonly c: PoolClient,
    private readonly heads: Map<number, number>,
  ) {}

  /** Takes the rows of `userIds`' streams (every id must be a user's). */
  static async lock(c: PoolClient, userIds: readonly number[]): Promise<Streams> {
    const unique = [...new Set(userIds)];
    const held = await rows<{ userId: number; head: number }>(c, LOCK_STREAMS, [unique]);
    if (held.length !== unique.length) throw new Error('no such user');
    return new Streams(c, new Map(held.map((r) => [r.userId, r.head])));
  }

  /** Appends one event to each of these streams (held by lock()), in one statement; their positions. */
  async append(userIds: readonly number[], kind: number, ref: number, peer: number | null): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const userId of userIds) {
      const head = this.heads.get(userId);
      if (head === undefined) throw new Error(`stream ${userId} is not held`);
      this.heads.set(userId, head + 1);
      out.push({ userId, seq: head + 1 });
    }
    if (out.length === 0) return out;
    await rows(this.c, APPEND_EVENTS, [out.map((d) => d.userId), out.map((d) => d.seq), kind, ref, peer]);
    return out;
  }

  /** append() for one stream: its new position. */
  async appendOne(userId: number, kind: number, ref: number, peer: number | null): Promise<number> {
    const [d] = await this.append([userId], kind, ref, peer);
    if (!d) throw new Error('appending returned no position');
    return d.seq;
  }
}
