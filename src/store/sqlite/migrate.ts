// Schema migrations: db/NNN_name.sql files applied in order, each in its own transaction
// together with `PRAGMA user_version = NNN`, so a crash mid-migration leaves the previous
// version intact. A database whose version is newer than the newest file here was written by
// a newer server: refuse to touch it rather than guess (ntfy's setupMessagesDB does the same).
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class SchemaTooNewError extends Error {}

export function loadMigrations(dir: string): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f));
  const migrations = files
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 001, 002, ... without gaps; found ${m.name}`);
  });
  return migrations;
}

/** Applies what is missing; returns the schema version the database ends at. */
export function migrate(db: Database, migrations: readonly Migration[]): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length;
  if (current > latest) {
    throw new SchemaTooNewError(
      `database schema version ${current} is newer than this server supports (${latest}); run a newer server or restore a backup`,
    );
  }
  for (const m of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return latest;
}
