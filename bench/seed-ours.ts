// Seeds our server's database through the store's own exported functions (no SQL here: the
// schema belongs to src/store), so set-up does not pay a slow password hash per user.
// Runs before the server starts on that file.
import crypto from 'node:crypto';
import { hashPassword } from '../src/auth.js';
import { openStore } from '../src/store/index.js';
import type { User } from '../src/types.js';
import type { Account } from './load.js';
import { seedPair } from './seed-pattern.js';

export const PASSWORD = 'bench-password-not-secret';

/**
 * A device token in the server's format ("<16-char id>.<43-char secret>", sha256(secret)
 * stored), mirroring logIn() in src/auth.ts, which makes them inline and needs a password check.
 */
function deviceCredentials(): { id: string; secret: string; tokenHash: Buffer } {
  const id = crypto.randomBytes(12).toString('base64url');
  const secret = crypto.randomBytes(32).toString('base64url');
  return { id, secret, tokenHash: crypto.createHash('sha256').update(secret).digest() };
}

export interface SeedResult {
  accounts: Account[];
  seconds: { users: number; messages: number; devices: number };
}

/**
 * Users u0..u{users-1} (all with PASSWORD, so POST /sessions works too), then `messages`
 * messages in the seed pattern, then one device per user, made last so that each device's
 * stored cursor is the head of its stream.
 */
export async function seedOurs(dbPath: string, users: number, messages: number): Promise<SeedResult> {
  // NORMAL while seeding: the seed need not survive a power cut, and the server reopens the file
  // with its own setting.
  const store = openStore(dbPath, { synchronous: 'NORMAL' });
  try {
    let t = performance.now();
    const hash = await hashPassword(PASSWORD, 15);
    const list: User[] = [];
    for (let i = 0; i < users; i++) {
      const u = store.createUser(`u${i}`, hash);
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
    const tMessages = performance.now() - t;
    t = performance.now();
    const accounts: Account[] = list.map((u) => {
      const c = deviceCredentials();
      store.createDevice({ id: c.id, userId: u.id, name: 'bench', tokenHash: c.tokenHash });
      return { username: u.username, token: `${c.id}.${c.secret}`, cursor: '' };
    });
    return { accounts, seconds: { users: tUsers / 1000, messages: tMessages / 1000, devices: (performance.now() - t) / 1000 } };
  } finally {
    store.close();
  }
}
