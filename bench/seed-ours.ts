// Seeds our server's database through the store's own exported functions (no SQL here: the
// schema belongs to src/store), so set-up does not pay a slow password hash per user.
// Runs before the server starts on that file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashPassword, newDeviceCredentials } from '../src/auth.js';
import { openStore } from '../src/store/index.js';
import type { User } from '../src/types.js';
import type { Account } from './load.js';
import { seedPair } from './seed-pattern.js';

export const PASSWORD = 'bench-password-not-secret';

export interface SeedResult {
  accounts: Account[];
  seconds: { users: number; messages: number; devices: number; copy: number };
}

/**
 * Users u0..u{users-1}, then `messages` messages in the seed pattern (or a cached copy of both),
 * then one device per user, made last so that each device's stored cursor is the head of its
 * stream.
 */
export async function seedOurs(dbPath: string, users: number, messages: number): Promise<SeedResult> {
  let t = performance.now();
  const cached = cachePath(users, messages);
  let tUsers = 0,
    tMessages = 0;
  if (cached && fs.existsSync(cached)) {
    fs.copyFileSync(cached, dbPath);
  } else {
    const r = await seedHistory(dbPath, users, messages);
    tUsers = r.users;
    tMessages = r.messages;
    if (cached) {
      fs.mkdirSync(path.dirname(cached), { recursive: true });
      // Older seeds (another schema or store) are of no further use: 100 MB each.
      for (const f of fs.readdirSync(path.dirname(cached))) if (f.endsWith('.sqlite')) fs.rmSync(path.join(path.dirname(cached), f));
      fs.copyFileSync(dbPath, `${cached}.tmp`);
      fs.renameSync(`${cached}.tmp`, cached);
    }
  }
  const tCopy = cached && tUsers === 0 ? performance.now() - t : 0;
  t = performance.now();
  const store = openStore(dbPath, { synchronous: 'NORMAL' });
  try {
    const accounts: Account[] = [];
    for (let i = 0; i < users; i++) {
      const u = await store.findUser(`u${i}`);
      if (!u) throw new Error(`u${i} missing from the seeded database`);
      const c = newDeviceCredentials();
      const made = await store.createDevice(
        { id: c.id, userId: u.id, name: 'bench', tokenHash: c.tokenHash },
        { passwordHash: u.passwordHash },
        1,
      );
      if (made.status !== 'created') throw new Error(`no device for u${i}: ${made.status}`);
      accounts.push({ username: u.username, token: c.token, cursor: '' });
    }
    return {
      accounts,
      seconds: { users: tUsers / 1000, messages: tMessages / 1000, devices: (performance.now() - t) / 1000, copy: tCopy / 1000 },
    };
  } finally {
    await store.close();
  }
}

/**
 * Seeding a large history through the store takes about 40 s for 1,000,000 messages, so the
 * file (users and messages, no devices) is kept in the temp directory, keyed by everything
 * that shapes it: the migrations, the compiled store, the seed pattern and the counts.
 * BENCH_NO_SEED_CACHE=1 turns it off.
 */
function cachePath(users: number, messages: number): string | null {
  if (messages < 100_000 || process.env.BENCH_NO_SEED_CACHE === '1') return null;
  const h = crypto.createHash('sha256').update(`${users}/${messages}/${PASSWORD}`);
  const repo = path.resolve(__dirname, '..', '..');
  const inputs = [
    ...fs
      .readdirSync(path.join(repo, 'db'))
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((f) => path.join(repo, 'db', f)),
    ...jsFiles(path.join(repo, 'dist', 'src', 'store')),
    path.join(__dirname, 'seed-pattern.js'),
    __filename,
  ];
  for (const f of inputs) h.update(f).update(fs.readFileSync(f));
  return path.join(os.tmpdir(), 'chat-bench-seed-cache', `${h.digest('hex').slice(0, 16)}.sqlite`);
}

/** The compiled .js files under `dir` (the store and its backends), sorted. */
function jsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Users u0..u{users-1}, all with PASSWORD (so POST /sessions works too), then the messages. */
async function seedHistory(dbPath: string, users: number, messages: number): Promise<{ users: number; messages: number }> {
  // NORMAL while seeding: the seed need not survive a power cut, and the server reopens the file
  // with its own setting.
  const store = openStore(dbPath, { synchronous: 'NORMAL' });
  try {
    let t = performance.now();
    const hash = await hashPassword(PASSWORD, 15);
    const list: User[] = [];
    for (let i = 0; i < users; i++) {
      const u = await store.createUser(`u${i}`, hash);
      if (!u) throw new Error(`u${i} exists already in ${dbPath}`);
      list.push(u);
    }
    const tUsers = performance.now() - t;
    t = performance.now();
    // sendMessage goes through group commit (one transaction per batch of queued sends), so
    // feeding it a batch at a time is the fast path the store offers.
    const BATCH = 2000;
    for (let k = 0; k < messages; k += BATCH) {
      const batch: Promise<unknown>[] = [];
      for (let j = k; j < Math.min(messages, k + BATCH); j++) {
        const [a, b] = seedPair(j, users);
        batch.push(store.sendMessage({ sender: list[a] as User, recipient: list[b] as User, body: `seeded message ${j}`, clientId: null }));
      }
      await Promise.all(batch);
    }
    return { users: tUsers, messages: performance.now() - t };
  } finally {
    await store.close();
  }
}
