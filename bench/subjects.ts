// The two servers under test, each with a way to start it on a fresh database holding `users`
// users (and optionally a seeded history), and to hand the generator their accounts.
import fs from 'node:fs';
import path from 'node:path';
import { Client, pool } from './client.js';
import type { Account } from './load.js';
import { spawnServer, type ServerProc } from './proc.js';

export interface StartOptions {
  dbPath: string;
  users: number;
  seedMessages: number;
  cpu: number | null;
  sync: 'FULL' | 'NORMAL';
  repo: string;
}

export interface Subject {
  label: 'ours' | 'ceiling';
  /** Why this server cannot be measured here, or null. */
  unavailable(repo: string): string | null;
  start(o: StartOptions): Promise<ServerProc>;
  /** Accounts (a logged-in device each) of the users with these indices. */
  accounts(p: ServerProc, indices: number[]): Promise<Account[]>;
}

export const ceilingSubject: Subject = {
  label: 'ceiling',
  unavailable: (repo) => (fs.existsSync(path.join(repo, 'dist', 'bench', 'ceiling.js')) ? null : 'dist/bench/ceiling.js not built'),
  start: (o) =>
    spawnServer({
      label: 'ceiling',
      nodeArgs: [path.join(o.repo, 'dist', 'bench', 'ceiling.js')],
      cwd: o.repo,
      cpu: o.cpu,
      env: {
        DB_PATH: o.dbPath,
        CEILING_USERS: String(o.users),
        CEILING_SYNC: o.sync,
        CEILING_SEED_MESSAGES: String(o.seedMessages),
      },
    }),
  // The ceiling makes its users and tokens at start-up; an empty cursor means "from now".
  accounts: async (_p, indices) => indices.map((i) => ({ username: `u${i}`, token: `tok${i}`, cursor: '' })),
};

const PASSWORD = 'bench-password-not-secret';

export const oursSubject: Subject = {
  label: 'ours',
  unavailable: (repo) => (fs.existsSync(path.join(repo, 'dist', 'src', 'main.js')) ? null : 'the server core (dist/src/main.js) has not landed yet'),
  async start(o) {
    if (o.seedMessages > 0) throw new Error('seeding a history into our server needs the store (phase 2)');
    return spawnServer({
      label: 'ours',
      nodeArgs: [path.join(o.repo, 'dist', 'src', 'main.js')],
      cwd: o.repo,
      cpu: o.cpu,
      env: { DB_PATH: o.dbPath, LOG_LEVEL: 'warn', POLL_TIMEOUT_MAX: '50' },
    });
  },
  // Through the public API: every sign-up and log-in pays for a slow password hash, so this is
  // only good for a few hundred users.
  async accounts(p, indices) {
    const c = new Client(p, 4);
    try {
      return await pool(indices, 4, async (i) => {
        const username = `u${i}`;
        const u = await c.request('POST', '/users', null, { username, password: PASSWORD });
        if (u.status !== 201 && u.status !== 409) throw new Error(`POST /users ${username}: ${u.status} ${JSON.stringify(u.body)}`);
        const s = await c.request('POST', '/sessions', null, { username, password: PASSWORD, device_name: 'bench' });
        if (s.status !== 201) throw new Error(`POST /sessions ${username}: ${s.status} ${JSON.stringify(s.body)}`);
        const b = s.body as { token: string; cursor: string };
        return { username, token: b.token, cursor: b.cursor };
      });
    } finally {
      c.close();
    }
  },
};
