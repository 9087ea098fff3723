// Opening the SQLite file for the store (index.ts): the directory, the pragmas, the migrations,
// the search index fill of older databases and what the index had not caught up with (search.ts),
// and the query catalog prepared once. Split from
// index.ts (issue #12); nothing here is used after the store is made.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { REPO_ROOT, type SqliteSynchronous } from '../../config';
import { loadMigrations, migrate } from './migrate';
import { prepareQueries, type Queries } from './queries';
import { catchUpSearchIndex } from './search';
import { type FillProgress, fillSearchIndex } from './search-fill';
import type { Fsync } from './wal-sync';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'db');

export interface SqliteOptions {
  synchronous?: SqliteSynchronous;
  migrationsDir?: string;
  /** Told after each batch while messages stored before search existed are indexed (issue #17). */
  onSearchFill?: (p: FillProgress) => void;
  /** Tests: what syncs the WAL after a group commit instead of fs.fsync (wal-sync.ts). */
  walFsync?: Fsync;
  /**
   * Every commit syncs the WAL itself (SQLite's FULL), none is left to wal-sync.ts: for the
   * admin command line, whose writes the server reads as soon as they are committed, with no
   * way to wait for another process's fsync.
   */
  syncInCommit?: boolean;
}

/** Pages of WAL (4 KiB each) that trigger a checkpoint. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** The open, migrated database and its prepared statements; the file is closed again on failure. */
export function openDatabase(file: string, opts: SqliteOptions): { db: Db; q: Queries } {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    // WAL: readers never block the writer and a commit is one append. FULL (the default)
    // syncs the WAL on every commit, so an acknowledged message survives a power loss;
    // group commit pays that once per batch, and syncs its own batches off the event loop
    // (wal-sync.ts). busy_timeout covers the admin CLI writing to the same file while the
    // server runs.
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma('busy_timeout = 5000');
    // Checkpoint every ~40 MiB of WAL instead of SQLite's 4 MiB: a checkpoint copies each page
    // once however often it was rewritten since the last one, and every message rewrites the
    // same few hot pages (stream tails, conversation rows). Measured in bench/README.md.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma('foreign_keys = ON');
    migrate(db, loadMigrations(opts.migrationsDir ?? MIGRATIONS_DIR));
    fillSearchIndex(db, opts.onSearchFill);
    const q = prepareQueries(db);
    catchUpSearchIndex(db, q);
    return { db, q };
  } catch (err) {
    db.close();
    throw err;
  }
}
