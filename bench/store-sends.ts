// What a send costs the store alone (issue #17: the search index's share of it), in one process
// without HTTP: 550 users as in W1, sends of W1's body ("probe|N|" and 60 x's) from 50 senders
// to 500 receivers, queued BATCH at a time so that group commit forms batches as under load,
// `synchronous=NORMAL` (no fsync: CPU, not the disk). Prints the process's CPU time per message.
// A diagnosis aid beside W1, not part of `npm run bench`: a few µs show here within a few
// seconds, where W1's own noise on a shared machine is larger.
//
//   node dist/bench/store-sends.js [CHECKOUT ...]   # each a built checkout; default this one
//
// Given several checkouts, runs them alternately (ROUNDS times), each in a child process of its
// own, and prints each one's runs and median.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { User } from '../src/types.js';

const MESSAGES = 30_000;
const WARMUP = 5_000;
const BATCH = 50;
const ROUNDS = 5;

type OpenStore = typeof import('../src/store/index.js').openStore;

/** Sends through the store of `checkout`'s build; returns µs of CPU per message. */
async function measure(checkout: string): Promise<number> {
  const { openStore } = (await import(pathToFileURL(path.join(checkout, 'dist', 'src', 'store', 'index.js')).href)) as {
    openStore: OpenStore;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-store-sends-'));
  const store = openStore(path.join(dir, 'db.sqlite'), { synchronous: 'NORMAL' });
  try {
    const users: User[] = [];
    for (let i = 0; i < 550; i++) users.push((await store.createUser(`u${i}`, 'x')) ?? assert(`u${i}`));
    const pad = 'x'.repeat(60);
    let n = 0;
    const send = async (count: number) => {
      for (let done = 0; done < count; done += BATCH) {
        const batch: Promise<unknown>[] = [];
        for (let j = 0; j < BATCH; j++) {
          const sender = users[500 + (n % 50)] ?? assert('sender');
          const recipient = users[(n * 7919) % 500] ?? assert('recipient');
          batch.push(store.sendMessage({ sender, recipient, body: `probe|${n++}|${pad}`, clientId: null }));
        }
        await Promise.all(batch);
      }
    };
    await send(WARMUP);
    const cpu = process.cpuUsage();
    await send(MESSAGES);
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / MESSAGES;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function assert(what: string): never {
  throw new Error(`${what} missing`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    console.log((await measure(path.resolve(args[1] ?? '.'))).toFixed(1));
    return;
  }
  const checkouts = args.length > 0 ? args.map((a) => path.resolve(a)) : [path.resolve(__dirname, '..', '..')];
  const runs = new Map<string, number[]>(checkouts.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of checkouts) {
      const out = execFileSync(process.execPath, [__filename, '--child', c], { encoding: 'utf8' });
      runs.get(c)?.push(Number(out.trim()));
    }
  }
  for (const [c, r] of runs) {
    const sorted = [...r].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    console.log(`${c}: ${median.toFixed(1)} µs CPU per message (median of ${r.map((x) => x.toFixed(1)).join(', ')})`);
  }
}

void main();
