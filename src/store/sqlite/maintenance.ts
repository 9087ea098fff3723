// Maintenance of a SQLite database file: online backups, integrity checks, and checking a file
// (a backup, say) without opening it as a store. SQLite-only, so none of it is in the Store
// interface: the server and the admin command line reach it through SqliteStore.sqlite.
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';

/** What SqliteStore offers beyond Store: the file itself, for the process that runs on it. */
export interface SqliteMaintenance {
  /** The connection (tests and maintenance only; the store's own SQL is in queries.ts). */
  readonly db: Db;
  /**
   * SQLite's data_version, read now: it moves when another connection (the admin command line)
   * has written, so the server can notice revocations it did not make itself.
   */
  dataVersion(): number;
  /** An online backup to `file` (see backupTo). */
  backup(file: string): Promise<void>;
  /** PRAGMA integrity_check: 'ok', or what is wrong. */
  integrityCheck(): string;
}

/**
 * An online backup of `db` to `file` (SQLite's backup API: consistent while the server writes).
 * The copy is switched out of WAL mode so it is one self-contained file, with no -wal or -shm
 * beside it, that can be moved, checked or restored on its own.
 */
export async function backupTo(db: Db, file: string): Promise<void> {
  await db.backup(file);
  const copy = new Database(file);
  try {
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
}

export function integrityCheck(db: Db): string {
  // With simple: true, the first column of the first row: "ok", or the first problem found.
  const first = db.pragma('integrity_check', { simple: true }) as string | undefined;
  return first ?? 'unknown';
}

export interface FileCheck {
  integrity: string;
  schemaVersion: number;
  users: number;
  messages: number;
}

/**
 * Checks a database file (a backup, say) without changing it: opened read-only, no migrations,
 * no pragmas written.
 */
export function checkDatabaseFile(file: string): FileCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const integrity = integrityCheck(db);
    const schemaVersion = Number(db.pragma('user_version', { simple: true }));
    const count = (table: 'users' | 'messages'): number =>
      schemaVersion > 0 ? (db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? 0) : 0;
    return { integrity, schemaVersion, users: count('users'), messages: count('messages') };
  } finally {
    db.close();
  }
}
