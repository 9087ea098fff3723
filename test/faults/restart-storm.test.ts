// Restarts and reconnect storms (issue #6): hundreds of devices hold polls through a SIGTERM
// restart and a kill -9, then all come back at once. Every held poll is answered on SIGTERM,
// the excess over MAX_HELD_POLLS is told 503 with Retry-After while the server keeps serving,
// and every device, resuming from its own cursor, ends with its user's whole stream exactly
// once and in order.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { call, logInAs, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { SCALE, metrics, readStream, report, waitMetrics, type WireEvent } from './harness';

const BASE_ENV = {
  RATE_MESSAGES_USER: 'off',
  RATE_LOGIN_IP: 'off',
  RATE_LOGIN_USER: 'off',
  RATE_SIGNUP_IP: 'off',
  SCRYPT_COST: '10',
  OVERLOAD_RETRY_AFTER: '1',
};

/**
 * A yardstick: a trivial HTTP server in a process of its own, doing nothing else. The time the
 * test takes to get its answer is what this machine, as loaded right now (other processes, and
 * this test's own event loop with hundreds of clients), adds to any request; whatever a request
 * to the chat server takes beyond that is the server's own.
 */
async function startYardstick(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/** How long `f` takes, in ms. */
async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

interface Client {
  user: string;
  token: string;
  start: string;
  cursor: string;
  events: WireEvent[];
  /** When the last 200 arrived (ms since epoch). */
  lastAnswerAt: number;
  overloaded: number;
  badRetryAfter: number;
  networkErrors: number;
  unexpected: string[];
}

describe('faults: restarts and reconnect storms (#6)', function () {
  this.timeout(180_000);
  let server: RunningServer | undefined;
  let yardstick: ChildProcess | undefined;
  let alive = false;
  /** One controller per request in flight, so stopping the clients can cut their held polls. */
  const inFlight = new Set<AbortController>();
  const abortAll = (): void => {
    for (const c of inFlight) c.abort();
  };
  afterEach(async () => {
    alive = false;
    abortAll();
    await server?.stop('SIGKILL');
    server = undefined;
    yardstick?.kill();
    yardstick = undefined;
  });

  it('hundreds of held polls through SIGTERM and kill -9 restarts and a reconnect storm at the cap: all answered, none lost or repeated', async () => {
    const USERS = 30 * SCALE;
    const DEVICES = 10;
    const CLIENTS = USERS * DEVICES;
    const CAP = Math.floor(CLIENTS * 0.66);
    server = await startServer({ env: BASE_ENV });
    const { dbPath, port } = server;
    const yard = await startYardstick();
    yardstick = yard.child;
    let url = server.url;
    const sender = await signUpAndLogIn(url, 'announcer');
    const clients: Client[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = `storm${u}`;
      const first = await signUpAndLogIn(url, user, 'd0');
      const logins = [first, ...(await Promise.all(Array.from({ length: DEVICES - 1 }, (_, d) => logInAs(url, user, `d${d + 1}`))))];
      for (const l of logins) {
        clients.push({
          user,
          token: l.token,
          start: l.cursor,
          cursor: l.cursor,
          events: [],
          lastAnswerAt: 0,
          overloaded: 0,
          badRetryAfter: 0,
          networkErrors: 0,
          unexpected: [],
        });
      }
    }

    // A client as the contract asks: poll with the cursor it was given; on 503 wait
    // Retry-After; on a dropped connection (server down) try again shortly with the same cursor.
    alive = true;
    const run = async (c: Client): Promise<void> => {
      while (alive) {
        const ac = new AbortController();
        inFlight.add(ac);
        try {
          const res = await call(url, 'GET', `/poll?since=${c.cursor}&timeout=40`, { token: c.token, signal: ac.signal });
          if (res.status === 200) {
            c.events.push(...(res.body.events as WireEvent[]));
            c.cursor = res.body.cursor;
            c.lastAnswerAt = Date.now();
          } else if (res.status === 503 && res.body?.error?.code === 'overloaded') {
            c.overloaded++;
            const retry = Number(res.headers.get('retry-after'));
            if (!Number.isInteger(retry) || retry < 1) c.badRetryAfter++;
            await sleep((Number.isFinite(retry) ? retry : 1) * 1000);
          } else {
            c.unexpected.push(`${res.status} ${res.text.slice(0, 100)}`);
            await sleep(500);
          }
        } catch {
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another task while this one awaits
          if (!alive) return;
          c.networkErrors++;
          await sleep(100 + Math.random() * 100);
        } finally {
          inFlight.delete(ac);
        }
      }
    };
    const running = clients.map(run);

    const announce = async (text: string): Promise<void> => {
      for (let u = 0; u < USERS; u++) {
        const r = await call(url, 'POST', '/messages', { token: sender.token, body: { to: `storm${u}`, body: text } });
        assert.equal(r.status, 201, `send: ${r.status} ${r.text}`);
      }
    };
    const everyoneHas = async (messages: number, withinMs: number): Promise<number> => {
      const t0 = Date.now();
      while (clients.some((c) => c.events.length < messages) && Date.now() - t0 < withinMs) await sleep(50);
      const behind = clients.filter((c) => c.events.length < messages).length;
      assert.equal(behind, 0, `${behind} of ${CLIENTS} clients still miss messages after ${withinMs} ms`);
      return Date.now() - t0;
    };

    let m = await waitMetrics(url, (x) => x.get('chat_held_polls') === CLIENTS, 20_000);
    assert.equal(m.get('chat_held_polls'), CLIENTS, 'every client holds a poll');
    await announce('before the restarts');
    await everyoneHas(1, 10_000);
    await waitMetrics(url, (x) => x.get('chat_held_polls') === CLIENTS, 10_000);

    // 1. SIGTERM with every client holding: all answered at once, then the process exits.
    const stopAt = Date.now();
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    const exitedMs = Date.now() - stopAt;
    await sleep(300);
    const answeredOnStop = clients.filter((c) => c.lastAnswerAt >= stopAt).length;
    report(`SIGTERM with ${CLIENTS} held polls: ${answeredOnStop} answered, process exited after ${exitedMs} ms`);
    assert.equal(answeredOnStop, CLIENTS, 'SIGTERM answered every held poll');

    // 2. Back up with a cap below the number of clients: they all return at once.
    server = await startServer({ dbPath, port, env: { ...BASE_ENV, MAX_HELD_POLLS: String(CAP) } });
    url = server.url;
    // Responsiveness during the storm, as the server's own share of each request's time: each
    // request to it is measured between two to the yardstick, and what it took beyond the slower
    // of those two is counted. The machine's load (2 cores shared with other work) and this
    // test's own busy event loop slow all three alike and cancel out; a server that stalls (its
    // event loop held by the storm, say for a synchronous pass over every waiter) does not, and
    // fails this (checked: a 1.5 s stall in one /healthz failed it). 1 s of its own is far past
    // what a healthy server takes here (18 and 40 ms at most, with the machine's load average at
    // 11 on 2 cores, 2026-12-03) and well short of a client's patience.
    const upAt = Date.now();
    let worstHealth = 0;
    let worstSend = 0;
    let worstYard = 0;
    const beyondYardstick = async (request: () => Promise<number>): Promise<number> => {
      const before = await timed(() => call(yard.url, 'GET', '/'));
      const own = await timed(async () => assert.equal(await request(), 200));
      const after = await timed(() => call(yard.url, 'GET', '/'));
      worstYard = Math.max(worstYard, before, after);
      return own - Math.max(before, after);
    };
    while (Date.now() - upAt < 3000) {
      worstHealth = Math.max(worstHealth, await beyondYardstick(async () => (await call(url, 'GET', '/healthz')).status));
      worstSend = Math.max(
        worstSend,
        await beyondYardstick(async () => (await call(url, 'GET', '/conversations', { token: sender.token })).status),
      );
      await sleep(50);
    }
    m = await metrics(url);
    const refused = clients.reduce((n, c) => n + c.overloaded, 0);
    report(
      `restart under a cap of ${CAP}: ${m.get('chat_held_polls')} held, ${refused} answers 503 overloaded so far; beyond the yardstick (slowest ${worstYard.toFixed(0)} ms): /healthz at most ${worstHealth.toFixed(0)} ms, an authenticated read ${worstSend.toFixed(0)} ms`,
    );
    assert.equal(m.get('chat_held_polls'), CAP, 'the server holds exactly its cap');
    assert.ok(refused >= CLIENTS - CAP, 'the excess was told 503');
    assert.ok(
      worstHealth < 1000 && worstSend < 1000,
      'the server stays responsive during the storm (its own time, beyond the machine load)',
    );
    await announce('after the SIGTERM restart');
    const deliveredMs = await everyoneHas(2, 20_000);
    report(`a message to every user reached all ${CLIENTS} clients in ${deliveredMs} ms (the refused ones after their Retry-After)`);

    // 3. kill -9 with every client holding or waiting out a Retry-After: nothing is answered,
    // clients see their connections drop and come back with the cursors they had.
    await server.stop('SIGKILL');
    const errorsBefore = clients.reduce((n, c) => n + c.networkErrors, 0);
    await sleep(300);
    server = await startServer({ dbPath, port, env: BASE_ENV });
    url = server.url;
    await announce('after the kill -9 restart');
    await everyoneHas(3, 20_000);
    const dropped = clients.reduce((n, c) => n + c.networkErrors, 0) - errorsBefore;
    m = await waitMetrics(url, (x) => x.get('chat_held_polls') === CLIENTS, 20_000);
    report(`kill -9: ${dropped} dropped connections retried; all ${CLIENTS} clients holding again, all have every message`);
    assert.equal(m.get('chat_held_polls'), CLIENTS);

    alive = false;
    abortAll();
    await Promise.all(running);
    const overloadedTotal = clients.reduce((n, c) => n + c.overloaded, 0);
    assert.deepEqual(
      clients.flatMap((c) => c.unexpected),
      [],
      'only 200, 503 overloaded, or a dropped connection',
    );
    assert.equal(
      clients.reduce((n, c) => n + c.badRetryAfter, 0),
      0,
      'every 503 carried Retry-After in whole seconds',
    );

    // Each device has exactly its user's stream from where it logged in: once each, in order.
    const streams = new Map<string, WireEvent[]>();
    for (const c of clients) {
      if (!streams.has(c.user)) streams.set(c.user, (await readStream(url, c.token, c.start)).events);
      const expected = streams.get(c.user)!;
      assert.equal(expected.length, 3);
      assert.deepEqual(c.events, expected, `${c.user}: a device's events are its stream, exactly once, in order`);
    }
    report(
      `${CLIENTS} clients, 3 restarts' worth of messages: every client has all 3, none twice; ${overloadedTotal} 503s in all, each with Retry-After`,
    );
  });
});
