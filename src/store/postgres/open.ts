// Opening the PostgreSQL store (issue #16): the pool with its settings, then the migrations. Apart
// from index.ts (the store itself) so that `pg` is required only here, when DATABASE_URL asks
// for PostgreSQL.
import path from 'node:path';
import { REPO_ROOT } from '../../config';
import { loadMigrations } from '../sqlite/migrate';
import { PostgresStore } from './index';
import { migratePostgres } from './migrate';
import { fillSearch } from './search';

export const POSTGRES_MIGRATIONS_DIR = path.join(REPO_ROOT, 'db', 'postgres');

export interface PostgresOptions {
  /** Connections in this process's pool. */
  poolSize?: number;
  migrationsDir?: string;
}

/** PostgreSQL's int8 and numeric type ids: read as numbers (ids, times, positions fit exactly). */
const INT8_OID = 20;
const NUMERIC_OID = 1700;
/** Longest wait for a new connection to PostgreSQL (or for a free one of the pool). */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens a pool on `url`, runs the migrations (under an advisory lock: N processes may start
 * together) and returns the store. `pg` is required here, not at the top: only a server on
 * PostgreSQL loads it.
 */
export async function openPostgresStore(url: string, opts: PostgresOptions = {}): Promise<PostgresStore> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when PostgreSQL is asked for
  const pg = require('pg') as typeof import('pg');
  // Ids, times and positions are bigint: numbers, exact up to 2^53.
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, Number);
  types.setTypeParser(NUMERIC_OID, Number);
  // A connection that cannot be made within CONNECT_TIMEOUT_MS is an outage (503), not a hang.
  // TCP keep-alive (first probe after 10 s of silence): a pooled connection to a database host
  // that vanished without a reset (a partition, a paused VM) is found dead by the kernel's
  // probes instead of being handed out again and again (a request in flight on it still waits
  // for TCP's own retransmission timeout).
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection that breaks (the server restarted) is dropped by the pool; without a
  // listener its error would end the process.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      // Messages stored before search existed are indexed by the process that holds the lock.
      await migratePostgres(client, loadMigrations(opts.migrationsDir ?? POSTGRES_MIGRATIONS_DIR), (c) => fillSearch(c));
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end();
    throw err;
  }
  return new PostgresStore(pool);
}
