// The per-request pieces of the hot path that #18 changed, measured in one process, apart from
// HTTP and the disk: CPU µs per call (process.cpuUsage, median of rounds), of the build in REPO
// (default: this checkout), so that two builds can be compared on a machine too busy for W1's
// figures to tell a few µs apart (bench/README.md, #18). Results go to stderr; stdout takes the
// log lines, as a server's goes to a pipe:
//   node dist/bench/hotpath.js [REPO] | cat > /dev/null
// (HOTPATH_ONLY=name,name: only the pieces whose names start so.)
// - re-poll: what a poll with nothing new asks of the store (stream.ts begin()): the device
//   again, the stream's head, the acknowledgement; plus authenticate() before it;
// - log line: one request line as the recorder (http/observe.ts) writes it, through createLogger;
// - authenticate: authenticate() alone, the device in the store's cache (twice per W1 message);
// - send handler: sendAnswer() (http/messages-routes.ts: validation, the views, the answer's
//   JSON, the two events published) around a stub store that answers at once;
// - body read: readBody() of a send's 70-byte JSON body from a stream (the stream included);
// - request record: the recorder's metrics and log line for one answer (twice per W1 message).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';

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
  const { sendAnswer } = require(path.join(repo, 'dist/src/http/messages-routes')) as typeof import('../src/http/messages-routes');
  const { readBody } = require(path.join(repo, 'dist/src/http/body')) as typeof import('../src/http/body');
  const { recorder } = require(path.join(repo, 'dist/src/http/observe')) as typeof import('../src/http/observe');
  const { Metrics } = require(path.join(repo, 'dist/src/metrics')) as typeof import('../src/metrics');
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

  const authenticate = (i: number) => auth.authenticate(core, (devices[i % USERS] ?? assert('a device')).token);

  // The send handler around a store that answers at once: what is left is the handler's own work.
  const recipient = { id: 2, username: 'u1' };
  const sentAt = Date.now();
  const sendCore = {
    store: {
      userByName: () => Promise.resolve(recipient),
      sendMessage: (m: { body: string; clientId: string | null }) =>
        Promise.resolve({
          status: 'created',
          message: {
            id: 1234,
            senderId: 1,
            recipientId: 2,
            groupId: null,
            from: 'u0',
            to: 'u1',
            body: m.body,
            clientId: m.clientId,
            sentAt,
          },
          senderSeq: 100,
          recipientSeq: 200,
        }),
    },
    limits: { message: () => Promise.resolve(), messageNotStored: () => Promise.resolve() },
    presence: { touch: () => undefined },
    hub: { publish: () => undefined },
  } as unknown as Parameters<typeof sendAnswer>[0];
  const sendDevice = { id: first.id, userId: 1, username: 'u0' } as Parameters<typeof sendAnswer>[1];
  const send = (i: number) => sendAnswer(sendCore, sendDevice, { to: 'u1', body: `hello, this is message ${i}`, client_id: `c-${i}` });

  const bodyText = Buffer.from(JSON.stringify({ to: 'u1', body: 'hello, this is message 12345', client_id: 'c-12345' }));
  const body = () => {
    const req = Object.assign(new PassThrough(), {
      headers: { 'content-length': String(bodyText.length), 'content-type': 'application/json' },
    });
    const p = readBody(req as unknown as Parameters<typeof readBody>[0], 'json', 65536);
    req.end(bodyText);
    return p;
  };

  const metricsCore = {
    hub: { stats: () => ({ held: 0, waiters: 0 }) },
    presence: { onlineDeviceCount: () => 0 },
  } as unknown as ConstructorParameters<typeof Metrics>[0];
  const record = recorder(new Metrics(metricsCore), logger);
  const deviceAuths = await Promise.all(devices.map((d) => auth.authenticate(core, d.token)));
  const finished = (i: number) => {
    record({ method: 'GET', route: '/poll', status: 200, seconds: 0.0123, device: deviceAuths[i % USERS], pollOutcome: 'events' });
    return undefined;
  };

  const pieces: [string, number, (i: number) => Promise<unknown> | undefined][] = [
    ['re-poll (authenticate + store)', 50_000, repoll],
    ['log line', 100_000, line],
    ['authenticate', 100_000, authenticate],
    ['send handler', 50_000, send],
    ['body read', 50_000, body],
    ['request record (metrics + log line)', 100_000, finished],
  ];
  const only = process.env.HOTPATH_ONLY?.split(',');
  const chosen = pieces.filter(([name]) => !only || only.some((o) => name.startsWith(o)));
  const results = new Map<string, number[]>(chosen.map(([name]) => [name, []]));
  for (const [, , step] of chosen) await perCall(20_000, step); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, calls, step] of chosen) results.get(name)?.push(await perCall(calls, step));
  }
  for (const [name, xs] of results) {
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
