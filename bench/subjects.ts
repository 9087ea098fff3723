// The servers under test: ours, the ceiling and the peers of #18 (Socket.IO, Faye), each with
// a way to start it holding `users` users (ours and the ceiling on a fresh database, optionally
// with a seeded history), the protocol the generator speaks to it, and its accounts.
import fs from 'node:fs';
import path from 'node:path';
import { type Account, bayeux, contract, type Protocol, socketIo } from './protocols.js';
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
  protocol: Protocol;
  /** Stores messages and answers GET /messages (W4 runs on it); the in-memory peers do not. */
  history: boolean;
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
    protocol: contract,
    history: true,
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
    protocol: contract,
    history: true,
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
        // As `npm start` and deploy/systemd/chat.service run the server (no flags of their
        // own); BENCH_OURS_NODE_ARGS adds some.
        nodeArgs: [
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
          ...(process.env.BENCH_OURS_ENV ? (JSON.parse(process.env.BENCH_OURS_ENV) as Record<string, string>) : {}),
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

/** The version of a peer's package installed from bench/package.json, or null when it is not. */
export function peerVersion(repo: string, pkg: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repo, 'bench', 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return null;
  }
}

/**
 * A peer of #18 (bench/peers/): Socket.IO 4.8 over Engine.IO polling, or Faye 1.4 (Bayeux),
 * both in memory, with the ceiling's users and tokens (u0.., tok0..). Run with Node's default
 * flags, as their users would.
 */
export function peerSubject(label: 'socket.io' | 'faye'): Subject {
  const script = label === 'socket.io' ? 'socketio.js' : 'faye.js';
  return {
    label,
    protocol: label === 'socket.io' ? socketIo : bayeux,
    history: false,
    unavailable: (repo) =>
      !peerVersion(repo, label) // the label is the package's name
        ? `bench/node_modules/${label} is not installed (npm --prefix bench ci)`
        : fs.existsSync(path.join(repo, 'dist', 'bench', 'peers', script))
          ? null
          : `dist/bench/peers/${script} not built`,
    start: (o) =>
      spawnServer({
        label,
        nodeArgs: [
          ...(process.env.BENCH_PEER_NODE_ARGS ?? '').split(' ').filter(Boolean),
          path.join(o.repo, 'dist', 'bench', 'peers', script),
        ],
        cwd: o.repo,
        cpu: o.cpu,
        // Socket.IO's ping is the only thing besides data that ends a held poll: beyond every
        // phase, so that a poll is held until data comes or the client leaves (W3 lets go).
        env: { PEER_USERS: String(o.users), ...(label === 'socket.io' ? { PEER_PING_INTERVAL_S: '300' } : {}) },
      }),
    accounts: async (_p, indices) => indices.map((i) => ({ username: `u${i}`, token: `tok${i}`, cursor: '' })),
  };
}
