// The two servers under test, each with a way to start it on a fresh database holding `users`
// users (and optionally a seeded history), and to hand the generator their accounts.
import fs from 'node:fs';
import path from 'node:path';
import type { Account } from './load.js';
import { spawnServer, type ServerProc } from './proc.js';
import { seedOurs } from './seed-ours.js';

export interface StartOptions {
  dbPath: string;
  users: number;
  seedMessages: number;
  cpu: number | null;
  sync: 'FULL' | 'NORMAL';
  repo: string;
}

export interface Subject {
  label: string;
  /** Why this server cannot be measured here, or null. */
  unavailable(repo: string): string | null;
  start(o: StartOptions): Promise<ServerProc>;
  /** Accounts (a logged-in device each) of the users with these indices. */
  accounts(p: ServerProc, indices: number[]): Promise<Account[]>;
}

/** The ceiling; `each` commits every message on its own (an fsync per message under FULL). */
export function ceilingSubject(commit: 'batch' | 'each'): Subject {
  const label = commit === 'batch' ? 'ceiling' : 'ceiling-each';
  return {
    label,
    unavailable: (repo) => (fs.existsSync(path.join(repo, 'dist', 'bench', 'ceiling.js')) ? null : 'dist/bench/ceiling.js not built'),
    start: (o) =>
      spawnServer({
        label,
        nodeArgs: [
          ...(process.env.BENCH_CEILING_NODE_ARGS ?? '').split(' ').filter(Boolean),
          path.join(o.repo, 'dist', 'bench', 'ceiling.js'),
        ],
        cwd: o.repo,
        cpu: o.cpu,
        env: {
          DB_PATH: o.dbPath,
          CEILING_USERS: String(o.users),
          CEILING_SYNC: o.sync,
          CEILING_COMMIT: commit,
          CEILING_SEED_MESSAGES: String(o.seedMessages),
        },
      }),
    // The ceiling makes its users and tokens at start-up; an empty cursor means "from now".
    accounts: async (_p, indices) => indices.map((i) => ({ username: `u${i}`, token: `tok${i}`, cursor: '' })),
  };
}

/**
 * Our server. `repo`: another checkout to run instead (a patched copy, to try a change against
 * the same run's baseline); its schema must be the one the bench seeds.
 */
export function oursSubject(label = 'ours', repo?: string): Subject {
  const root = (r: string) => repo ?? r;
  // Accounts of the database seeded last, by user index.
  let seededAccounts: Account[] = [];
  return {
    label,
    unavailable: (r) =>
      fs.existsSync(path.join(root(r), 'dist', 'src', 'main.js')) ? null : 'the server core (dist/src/main.js) has not landed yet',
    async start(o) {
      const seeded = await seedOurs(o.dbPath, o.users, o.seedMessages);
      seededAccounts = seeded.accounts;
      const s = seeded.seconds;
      console.error(
        s.copy > 0
          ? `[bench] ${label}: seeded history copied from the cache in ${s.copy.toFixed(1)} s, devices in ${s.devices.toFixed(1)} s`
          : `[bench] ${label}: seeded through the store in ${s.users.toFixed(1)} s (users) + ${s.messages.toFixed(1)} s (messages) + ${s.devices.toFixed(1)} s (devices)`,
      );
      return spawnServer({
        label,
        // The flags `npm start` and deploy/systemd/chat.service run the server with;
        // BENCH_NO_SEMI=1 leaves out the larger young generation (the memory/CPU trade-off
        // in bench/README.md).
        nodeArgs: [
          ...(process.env.BENCH_NO_SEMI ? [] : ['--max-semi-space-size=32']),
          ...(process.env.BENCH_OURS_NODE_ARGS ?? '').split(' ').filter(Boolean),
          path.join(root(o.repo), 'dist', 'src', 'main.js'),
        ],
        cwd: root(o.repo),
        cpu: o.cpu,
        env: {
          DB_PATH: o.dbPath,
          DB_SYNCHRONOUS: o.sync,
          // W3 holds 10,000 polls while W1's receivers may still be parked: room for both.
          MAX_HELD_POLLS: String(o.users + 1000),
          POLL_TIMEOUT_MAX: '50',
          // W1's senders send far faster than any person: the per-user message limit (a policy,
          // not a cost) would refuse most of them. Everything else stays at its default.
          RATE_MESSAGES_USER: 'off',
          ...(process.env.BENCH_OURS_ENV ? JSON.parse(process.env.BENCH_OURS_ENV) : {}),
          // All 10,552 devices connect from 127.0.0.1.
          MAX_CONNECTIONS_PER_IP: '0',
        },
      });
    },
    accounts: async (_p, indices) =>
      indices.map((i) => {
        const a = seededAccounts[i];
        if (!a) throw new Error(`no seeded account ${i}`);
        return { ...a };
      }),
  };
}
