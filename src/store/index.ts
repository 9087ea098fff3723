// The store: the Store interface (store.ts) and the backend that implements it. Today that is
// SQLite (sqlite/); openStore() is where a second backend (PostgreSQL, issue #16) will be chosen.
import { openSqliteStore, type SqliteOptions, type SqliteStore } from './sqlite';

export * from './store';
export { MIGRATIONS_DIR, SqliteStore, type SqliteOptions } from './sqlite';
export { SchemaTooNewError } from './sqlite/migrate';
export { checkDatabaseFile, type FileCheck, type SqliteMaintenance } from './sqlite/maintenance';

/** Opens (creating and migrating when needed) the SQLite database at `file`. */
export function openStore(file: string, opts: SqliteOptions = {}): SqliteStore {
  return openSqliteStore(file, opts);
}
