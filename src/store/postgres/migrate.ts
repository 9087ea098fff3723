// Schema migrations for PostgreSQL: db/postgres/NNN_name.sql, applied in order, each in its own
// transaction together with its row in schema_migrations, so a crash mid-migration leaves the
// previous version intact. N server processes starting together all call migrate(): they take
// one advisory lock first, so one applies what is missing and the others then find nothing to
// do. A database whose version is newer than the newest file here was written by a newer
// server: refused, as SQLite's migrate.ts refuses (ntfy's setupMessagesDB).
import type { PoolClient } from 'pg';
import { type Migration, SchemaTooNewError } from '../sqlite/migrate';

/** The advisory lock key migrations run under (any constant of this project's own: "lpch"). */
const MIGRATION_LOCK = 0x6c706368;

/**
 * Applies what is missing on `client` (a connection of its own), then runs `after` (work a
 * migration left to the server, such as filling the search index) still under the lock; returns
 * the version it ends at.
 */
export async function migratePostgres(
  client: PoolClient,
  migrations: readonly Migration[],
  after?: (client: PoolClient) => Promise<unknown>,
): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text    NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const res = await client.query<{ v: number }>('SELECT coalesce(max(version), 0)::integer AS v FROM schema_migrations');
    const current = res.rows[0]?.v ?? 0;
    const latest = migrations.length;
    if (current > latest) {
      throw new SchemaTooNewError(
        `database schema version ${current} is newer than this server supports (${latest}); run a newer server or restore a backup`,
      );
    }
    for (const m of migrations.slice(current)) {
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    await after?.(client);
    return latest;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
