// Search speed on a large history (issue #17): W4's seeding (bench/seed-ours.ts: 1,000,000
// messages in the seed pattern, "seeded message N", a tenth of them between users 0 and 1),
// then a fixed mix of searches through the store (no HTTP: what the index and the query
// cost), timed one at a time, and the p50 / p99 / max of each kind and of all.
//
//   npm run build && node dist/bench/search.js [MESSAGES]      # default 1,000,000
//
// The mix is what people type: whole words and prefixes of 1 to 6 characters, of a word in
// every message ("message", "seeded") as of a rare one (a message number), two words, a word
// in no message; unnarrowed for the probe user (100,000 messages of their own) and for a user
// with about 200, narrowed to a conversation, and the second page (before=).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type SearchQuery } from '../src/store/index.js';
import { seedOurs } from './seed-ours.js';

const MESSAGES = Number(process.argv[2] ?? 1_000_000);
/** The users of W4's run (bench/run.ts: the probe pair, W1's 550, W3's 10,000 kiosks). */
const USERS = 2 + 500 + 50 + 10_000;
const WARMUP = 100;
const ROUNDS = 1000;

/** A small deterministic PRNG (mulberry32), so every run asks the same questions. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Kind {
  name: string;
  make(r: () => number): { user: number; query: SearchQuery };
}

async function main(): Promise<void> {
  const dbPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chat-bench-search-')), 'chat.sqlite');
  let t = performance.now();
  const seeded = await seedOurs(dbPath, USERS, MESSAGES);
  console.error(`seeded ${MESSAGES} messages in ${((performance.now() - t) / 1000).toFixed(0)} s`, seeded.seconds);
  const store = openStore(dbPath, { synchronous: 'NORMAL' });
  const ids: number[] = [];
  for (let i = 0; i < USERS; i++) ids.push((await store.userByName(`u${i}`))?.id ?? 0);
  const id = (i: number) => ids[i] ?? 0;
  const number = (r: () => number) => String(Math.floor(r() * MESSAGES));
  const prefix = (r: () => number, w: string) => w.slice(0, 1 + Math.floor(r() * Math.min(6, w.length)));
  const anyUser = (r: () => number) => 2 + Math.floor(r() * (USERS - 2));
  const kinds: Kind[] = [
    { name: 'common word, probe user', make: (r) => ({ user: id(r() < 0.5 ? 0 : 1), query: q(['message']) }) },
    { name: 'common word, any user', make: (r) => ({ user: id(anyUser(r)), query: q(['seeded']) }) },
    { name: 'prefix 1-6 of a common word', make: (r) => ({ user: id(anyUser(r)), query: q([prefix(r, 'message')]) }) },
    { name: 'prefix 1-6 of a common word, probe', make: (r) => ({ user: id(0), query: q([prefix(r, 'seeded')]) }) },
    { name: 'rare word (a number), any user', make: (r) => ({ user: id(anyUser(r)), query: q([number(r)]) }) },
    { name: 'rare word (a number), probe', make: (r) => ({ user: id(0), query: q([number(r)]) }) },
    { name: 'prefix of a number', make: (r) => ({ user: id(anyUser(r)), query: q([prefix(r, number(r))]) }) },
    { name: 'two words', make: (r) => ({ user: id(anyUser(r)), query: q(['seeded', prefix(r, 'message')]) }) },
    { name: 'word in no message', make: (r) => ({ user: id(r() < 0.5 ? 0 : anyUser(r)), query: q(['zebra']) }) },
    {
      name: 'narrowed to the probe conversation',
      make: (r) => ({ user: id(0), query: q([r() < 0.5 ? 'message' : number(r)], { peerId: id(1) }) }),
    },
    {
      name: 'second page (before)',
      make: (r) => ({ user: id(anyUser(r)), query: q(['message'], { before: Math.floor(MESSAGES * r()) }) }),
    },
  ];
  const r = prng(17);
  const all: number[] = [];
  const byKind = new Map<string, number[]>();
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const kind = kinds[i % kinds.length] as Kind;
    const { user, query } = kind.make(r);
    t = performance.now();
    const page = await store.search(user, query);
    const ms = performance.now() - t;
    if (!page) throw new Error(`no page for ${kind.name}`);
    if (i < WARMUP) continue;
    all.push(ms);
    const list = byKind.get(kind.name) ?? [];
    list.push(ms);
    byKind.set(kind.name, list);
  }
  await store.close();
  const row = (name: string, xs: number[]) =>
    `| ${name} | ${xs.length} | ${pct(xs, 0.5).toFixed(2)} | ${pct(xs, 0.99).toFixed(2)} | ${Math.max(...xs).toFixed(2)} |`;
  console.log(`search on ${MESSAGES} messages, ${USERS} users; ms per search through the store, one at a time`);
  console.log('| searches | n | p50 | p99 | max |');
  console.log('|---|---|---|---|---|');
  for (const [name, xs] of byKind) console.log(row(name, xs));
  console.log(row('**all**', all));
  fs.rmSync(path.dirname(dbPath), { recursive: true, force: true });
}

function q(words: string[], extra: Partial<SearchQuery> = {}): SearchQuery {
  return { words, limit: 20, ...extra };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
