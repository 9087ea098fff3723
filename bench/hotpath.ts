// The per-request pieces of the hot path that #18 changed, measured in one process, apart from
// HTTP and the disk: CPU µs per call (process.cpuUsage, median of rounds), of the build in REPO
// (default: this checkout), so that two builds can be compared on a machine too busy for W1's
// figures to tell a few µs apart (bench/README.md, #18). Results go to stderr; stdout takes the
// log lines, as a server's goes to a pipe:
//   node dist/bench/hotpath.js [REPO] | cat > /dev/null
// - re-poll: what a poll with nothing new asks of the store (stream.ts begin()): the device
//   again, the stream's head, the acknowledgement; plus authenticate() before it;
// - log line: one request line as the recorder (http/observe.ts) writes it, through createLogger.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROUNDS = 7;
const USERS = 500;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** CPU µs per call of `step`, called `calls` times in all, a new turn of the event loop every 100. */
async function perCall(calls: number, step: (i: number) => Promise<unknown> | undefined): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const p = step(i);
    if (p) await p;
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / calls;
}

async function main(): Promise<void> {
  const repo = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..'));
  // Loaded from REPO's build, so that the same script measures another version.
  /* eslint-disable @typescript-eslint/no-require-imports -- a build chosen at run time */
  const { openStore } = require(path.join(repo, 'dist/src/store')) as typeof import('../src/store');
  const auth = require(path.join(repo, 'dist/src/auth')) as typeof import('../src/auth');
  const { createLogger } = require(path.join(repo, 'dist/src/log')) as typeof import('../src/log');
  /* eslint-enable @typescript-eslint/no-require-imports */

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-hotpath-'));
  const store = openStore(path.join(dir, 'db.sqlite'), { synchronous: 'NORMAL' });
  const core = { store } as unknown as Parameters<typeof auth.authenticate>[0];
  const devices: { id: string; token: string; userId: number }[] = [];
  for (let i = 0; i < USERS; i++) {
    const user = (await store.createUser(`u${i}`, 'h')) ?? assert(`u${i}`);
    const c = auth.newDeviceCredentials();
    await store.createDevice({ id: c.id, userId: user.id, name: 'hotpath', tokenHash: c.tokenHash }, { passwordHash: 'h' }, 10);
    devices.push({ id: c.id, token: c.token, userId: user.id });
  }
  const first = devices[0] ?? assert('a device');
  const sender = { id: first.userId, username: 'u0' };
  await Promise.all(
    devices.map((d, i) => store.sendMessage({ sender, recipient: { id: d.userId, username: `u${i}` }, body: 'hello', clientId: null })),
  );
  const heads = await Promise.all(devices.map((d) => store.headSeq(d.userId)));

  const repoll = (i: number) => {
    const d = devices[i % USERS] ?? assert('a device');
    const since = heads[i % USERS] ?? 0;
    return auth.authenticate(core, d.token).then((device) =>
      store.getDeviceAuth(device.id).then(() =>
        store.headSeq(device.userId).then((head) => {
          store.noteDeviceSeen(device.id, Date.now(), since);
          if (head !== since) throw new Error('something new: not the case measured');
        }),
      ),
    );
  };
  const logger = createLogger('info');
  const line = (i: number) => {
    const d = devices[i % USERS] ?? assert('a device');
    logger.info(
      { method: 'GET', route: '/poll', status: 200, ms: 12.3, user: `u${i % USERS}`, device: d.id, outcome: 'events' },
      'request',
    );
    return undefined;
  };

  const results: Record<string, number[]> = { 're-poll (authenticate + store)': [], 'log line': [] };
  await perCall(20_000, repoll); // warm-up
  await perCall(20_000, line);
  for (let r = 0; r < ROUNDS; r++) {
    results['re-poll (authenticate + store)']?.push(await perCall(50_000, repoll));
    results['log line']?.push(await perCall(100_000, line));
  }
  for (const [name, xs] of Object.entries(results)) {
    process.stderr.write(`${name}: ${median(xs).toFixed(2)} µs (rounds ${xs.map((x) => x.toFixed(2)).join(' ')}) [${repo}]\n`);
  }
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  logger.flush();
}

function assert(what: string): never {
  throw new Error(`hotpath: no ${what}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
