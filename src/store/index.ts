// The store: the Store interface (store.ts) and the backends that implement it. SQLite
// (sqlite/) is the default; PostgreSQL (postgres/) is chosen by DATABASE_URL (issue #16) and
// loads its driver only then (postgres/open.ts requires `pg` inside openPostgresStore).
import { openSqliteStore, type SqliteOptions, type SqliteStore } from './sqlite';

export * from './store';
export { MIGRATIONS_DIR, SqliteStore, type SqliteOptions } from './sqlite';
export { SchemaTooNewError } from './sqlite/migrate';
export { checkDatabaseFile, type FileCheck, type SqliteMaintenance } from './sqlite/maintenance';
export { PostgresStore } from './postgres';
export { openPostgresStore, POSTGRES_MIGRATIONS_DIR, type PostgresOptions } from './postgres/open';

/** Opens (creating and migrating when needed) the SQLite database at `file`. */
export function openStore(file: string, opts: SqliteOptions = {}): SqliteStore {
  return openSqliteStore(file, opts);
}
