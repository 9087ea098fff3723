// Several real server processes on one fresh PostgreSQL database and Redis (#16): every
// promise of the contract across processes, a client reaching a different process on every
// request. PostgreSQL from PG_URL, Redis from REDIS_TEST_URL (defaults: the machine's own); the
// test of a Redis outage starts a redis-server of its own.
import assert from 'node:assert/strict';
import { call, signUpAndLogIn } from '../support/client';
import {
  clusterEnv,
  heldPolls,
  ownRedis,
  REDIS_TEST_URL,
  redisCommand,
  startCluster,
  stopAll,
  untilHeld,
  type OwnRedis,
} from '../support/cluster';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { type RunningServer, startServer } from '../support/server';
import { freePort, sleep } from '../support/util';
import { clusterSite, startNginx } from '../../src/cli/cluster';

interface Event {
  type: string;
  message?: { id: number; body: string; from: string };
}

function poll(s: RunningServer, token: string, query: string) {
  return call(s.url, 'GET', `/poll?${query}`, { token });
}

function send(s: RunningServer, token: string, to: string, body: string, clientId?: string) {
  return call(s.url, 'POST', '/messages', { token, body: { to, body, ...(clientId ? { client_id: clientId } : {}) } });
}

describe('Several processes on PostgreSQL and Redis (#16)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let servers: RunningServer[] = [];
  const at = (i: number): RunningServer => servers[i % servers.length] ?? assert.fail('no server');

  before(async () => {
    db = await freshDatabase('chat_cluster');
    servers = await startCluster(3, db.url, REDIS_TEST_URL);
  });
  after(async () => {
    await stopAll(servers);
    await db.drop();
  });

  it('a poll held on one process is woken by a send through another, within milliseconds, exactly once', async () => {
    const bob = await signUpAndLogIn(at(0).url, 'wake_bob');
    const alice = await signUpAndLogIn(at(1).url, 'wake_alice');
    const held = poll(at(0), bob.token, `since=${bob.cursor}&timeout=20`);
    await untilHeld(at(0), 1);
    const t0 = Date.now();
    assert.equal((await send(at(1), alice.token, 'wake_bob', 'across')).status, 201);
    const answer = await held;
    const ms = Date.now() - t0;
    assert.equal(answer.status, 200);
    assert.deepEqual(
      (answer.body.events as Event[]).map((e) => e.message?.body),
      ['across'],
    );
    // The re-check runs every 1.5 s at the soonest: this fast, it was the Redis hint.
    assert.ok(ms < 1000, `woken after ${ms} ms`);
    const again = await poll(at(2), bob.token, `since=${answer.body.cursor}&timeout=0`);
    assert.deepEqual(again.body.events, [], 'nothing twice');
  });

  it('concurrent sends through three processes to one user: every device sees one gap-free, duplicate-free stream in order', async () => {
    const bob = await signUpAndLogIn(at(0).url, 'many_bob');
    const senders = await Promise.all(Array.from({ length: 6 }, (_, i) => signUpAndLogIn(at(i).url, `many_s${i}`)));
    const total = 150;
    // A device that polls a different process on every request, following its cursor.
    const seen: Event[] = [];
    let cursor = bob.cursor;
    let polls = 0;
    const reader = (async () => {
      while (seen.length < total) {
        const r = await poll(at(polls++), bob.token, `since=${cursor}&timeout=10`);
        assert.equal(r.status, 200);
        seen.push(...(r.body.events as Event[]));
        cursor = r.body.cursor as string;
      }
    })();
    const results = await Promise.all(
      Array.from({ length: total }, (_, i) => send(at(i), (senders[i % senders.length] ?? assert.fail()).token, 'many_bob', `m${i}`)),
    );
    assert.ok(results.every((r) => r.status === 201));
    await reader;
    assert.equal(seen.length, total, 'no duplicates');
    const ids = seen.map((e) => e.message?.id ?? 0);
    assert.equal(new Set(ids).size, total);
    assert.deepEqual(new Set(seen.map((e) => e.message?.body)), new Set(Array.from({ length: total }, (_, i) => `m${i}`)));
    // Message ids are taken while the writer holds the recipient's stream: they increase along it.
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    // A second device reading the whole stream from the start, in one go, on yet another process.
    const other = await call(at(1).url, 'GET', `/poll?since=${bob.cursor}&timeout=0&limit=1000`, { token: bob.token });
    assert.deepEqual(
      (other.body.events as Event[]).map((e) => e.message?.id),
      ids,
      'the same order from every process',
    );
  });

  it('the same client_id sent to two processes at once makes one message', async () => {
    const bob = await signUpAndLogIn(at(0).url, 'idem_bob');
    const alice = await signUpAndLogIn(at(0).url, 'idem_alice');
    const answers = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => send(at(i), alice.token, 'idem_bob', 'once', 'same-key')));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(answers.map((a) => a.body.message.id as number)).size, 1);
    const events = await poll(at(2), bob.token, `since=${bob.cursor}&timeout=0`);
    assert.equal(events.body.events.length, 1);
  });

  it('per-device cursors across processes: polling with since acknowledges on one, polling without since resumes on another', async () => {
    const bob = await signUpAndLogIn(at(0).url, 'cur_bob', 'kiosk');
    const alice = await signUpAndLogIn(at(0).url, 'cur_alice');
    for (let i = 0; i < 3; i++) assert.equal((await send(at(i), alice.token, 'cur_bob', `c${i}`)).status, 201);
    const first = await poll(at(0), bob.token, `since=${bob.cursor}&timeout=0&limit=2`);
    assert.equal(first.body.events.length, 2);
    // Acknowledge the first two on process 1, then lose the cursor and ask process 2.
    await poll(at(1), bob.token, `since=${first.body.cursor}&timeout=0`);
    // Acknowledgements are written in batches (a fifth of a second): wait until process 2 sees it.
    const deadline = Date.now() + 3000;
    for (;;) {
      const devices = await call(at(2).url, 'GET', '/devices', { token: bob.token });
      if (devices.body.devices[0].cursor === first.body.cursor) break;
      if (Date.now() > deadline) assert.fail('the acknowledgement never reached process 2');
      await sleep(20);
    }
    const resumed = await poll(at(2), bob.token, 'timeout=0');
    assert.deepEqual(
      (resumed.body.events as Event[]).map((e) => e.message?.body),
      ['c2'],
      'resumes after what it acknowledged, missing nothing',
    );
  });

  it('revoking a device through one process answers its polls held on the others at once', async () => {
    const phone = await signUpAndLogIn(at(0).url, 'rev_bob', 'phone');
    const laptop = await signUpAndLogIn(at(1).url, 'rev_bob', 'laptop');
    const onA = poll(at(0), phone.token, `since=${phone.cursor}&timeout=20`);
    const onC = poll(at(2), phone.token, `since=${phone.cursor}&timeout=20`);
    await untilHeld(at(0), 1);
    await untilHeld(at(2), 1);
    const t0 = Date.now();
    assert.equal((await call(at(1).url, 'DELETE', `/devices/${phone.deviceId}`, { token: laptop.token })).status, 204);
    const [a, c] = await Promise.all([onA, onC]);
    assert.equal(a.status, 401);
    assert.equal(c.status, 401);
    assert.ok(Date.now() - t0 < 1000, `answered after ${Date.now() - t0} ms`);
    assert.equal((await poll(at(0), phone.token, 'timeout=0')).status, 401, 'refused on every process');
  });

  it('a process killed mid-hold: the client polls another with its cursor and loses nothing', async () => {
    const extra = await startServer({ env: clusterEnv(db.url, REDIS_TEST_URL), startTimeoutMs: 30_000 });
    try {
      const bob = await signUpAndLogIn(extra.url, 'kill_bob');
      const alice = await signUpAndLogIn(at(0).url, 'kill_alice');
      const held = poll(extra, bob.token, `since=${bob.cursor}&timeout=20`).catch(() => null);
      await untilHeld(extra, 1);
      await extra.stop('SIGKILL');
      assert.equal(await held, null, 'the connection broke');
      assert.equal((await send(at(1), alice.token, 'kill_bob', 'after the crash')).status, 201);
      const resumed = await poll(at(2), bob.token, `since=${bob.cursor}&timeout=5`);
      assert.deepEqual(
        (resumed.body.events as Event[]).map((e) => e.message?.body),
        ['after the crash'],
      );
    } finally {
      await extra.stop('SIGKILL');
    }
  });

  it('through nginx round-robin (the shipped site, no sticky sessions): every poll on whichever process, nothing lost, none twice', async () => {
    const port = await freePort();
    const nginx = await startNginx(
      clusterSite(
        servers.map((s) => s.port),
        port,
      ),
      port,
    );
    const proxy = { url: `http://127.0.0.1:${port}` } as RunningServer;
    try {
      const bob = await signUpAndLogIn(proxy.url, 'rr_bob');
      const senders = await Promise.all(Array.from({ length: 3 }, (_, i) => signUpAndLogIn(proxy.url, `rr_s${i}`)));
      const total = 60;
      const seen: Event[] = [];
      let cursor = bob.cursor;
      const reader = (async () => {
        while (seen.length < total) {
          const r = await poll(proxy, bob.token, `since=${cursor}&timeout=10`);
          assert.equal(r.status, 200);
          seen.push(...(r.body.events as Event[]));
          cursor = r.body.cursor as string;
        }
      })();
      const sent = await Promise.all(
        Array.from({ length: total }, (_, i) => send(proxy, (senders[i % 3] ?? assert.fail()).token, 'rr_bob', `p${i}`, `k${i}`)),
      );
      assert.ok(sent.every((r) => r.status === 201));
      await reader;
      const ids = seen.map((e) => e.message?.id ?? 0);
      assert.equal(new Set(ids).size, total, 'every message once');
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'in order',
      );
      // A held poll behind the proxy is answered within milliseconds of a send through it.
      const held = poll(proxy, bob.token, `since=${cursor}&timeout=20`);
      const deadline = Date.now() + 5000;
      while ((await Promise.all(servers.map(heldPolls))).reduce((a, b) => a + b, 0) < 1) {
        if (Date.now() > deadline) assert.fail('the poll was never held');
        await sleep(10);
      }
      const t0 = Date.now();
      assert.equal((await send(proxy, (senders[0] ?? assert.fail()).token, 'rr_bob', 'last')).status, 201);
      assert.deepEqual(
        ((await held).body.events as Event[]).map((e) => e.message?.body),
        ['last'],
      );
      assert.ok(Date.now() - t0 < 1000, `woken after ${Date.now() - t0} ms`);
    } finally {
      await nginx.stop();
    }
  });

  it('presence across processes: online through one is online through all within seconds; a log-out anywhere ends it at once', async () => {
    const watcher = await signUpAndLogIn(at(1).url, 'pres_watch');
    const phone = await signUpAndLogIn(at(0).url, 'pres_bob', 'phone');
    const online = async (s: RunningServer) =>
      ((await call(s.url, 'GET', '/presence', { token: watcher.token })).body.online as string[]).includes('pres_bob');
    const held = poll(at(0), phone.token, `since=${phone.cursor}&timeout=20`);
    await untilHeld(at(0), 1);
    const deadline = Date.now() + 5000;
    while (!(await online(at(1))) || !(await online(at(2)))) {
      if (Date.now() > deadline) assert.fail('never online through the other processes');
      await sleep(50);
    }
    const devices = await call(at(2).url, 'GET', '/devices', { token: phone.token });
    assert.equal(devices.body.devices[0].online, true, 'holding a poll on process 0: online in GET /devices through process 2');
    assert.equal((await call(at(2).url, 'DELETE', '/sessions/current', { token: phone.token })).status, 204);
    assert.equal((await held).status, 401);
    // Through process 1 too, sooner than a share of presence (every second) could say it.
    const t0 = Date.now();
    while (await online(at(1))) {
      if (Date.now() - t0 > 900) assert.fail('still online through process 1');
      await sleep(10);
    }
  });

  it('says how the processes are linked in /healthz', async () => {
    const h = await call(at(0).url, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { ok: true, store: 'postgresql', redis: 'up' });
  });
});

describe('Several processes when Redis goes away (#16)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let redis: OwnRedis | undefined;
  let servers: RunningServer[] = [];

  before(async () => {
    db = await freshDatabase('chat_cluster');
    const own = await ownRedis();
    redis = own;
    servers = await startCluster(2, db.url, own.url);
  });
  after(async () => {
    await stopAll(servers);
    await redis?.kill();
    await db.drop();
  });

  it('the subscriptions killed (CLIENT KILL TYPE pubsub): a send meanwhile still arrives, within the re-check bound, and they come back', async () => {
    const [a, b] = [servers[0] ?? assert.fail(), servers[1] ?? assert.fail()];
    const bob = await signUpAndLogIn(a.url, 'kill_sub_bob');
    const alice = await signUpAndLogIn(b.url, 'kill_sub_alice');
    const held = poll(a, bob.token, `since=${bob.cursor}&timeout=20`);
    await untilHeld(a, 1);
    const killed = await redisCommand(redis?.port ?? assert.fail(), 'CLIENT KILL TYPE pubsub');
    assert.match(killed, /^:[1-9]/, 'the subscriptions of both processes were killed');
    const t0 = Date.now();
    assert.equal((await send(b, alice.token, 'kill_sub_bob', 'while resubscribing')).status, 201);
    const answer = await held;
    assert.deepEqual(
      (answer.body.events as Event[]).map((e) => e.message?.body),
      ['while resubscribing'],
    );
    assert.ok(Date.now() - t0 < 6000, `answered after ${Date.now() - t0} ms`);
    const deadline = Date.now() + 5000;
    while ((await call(a.url, 'GET', '/healthz')).body.redis !== 'up') {
      if (Date.now() > deadline) assert.fail('never subscribed again');
      await sleep(50);
    }
  });

  it('Redis killed: sends succeed, held polls are answered by the re-check, /healthz says degraded; back: hints flow again', async () => {
    const [a, b] = [servers[0] ?? assert.fail(), servers[1] ?? assert.fail()];
    const bob = await signUpAndLogIn(a.url, 'out_bob');
    const alice = await signUpAndLogIn(b.url, 'out_alice');
    const held = poll(a, bob.token, `since=${bob.cursor}&timeout=20`);
    await untilHeld(a, 1);
    await redis?.kill();
    const t0 = Date.now();
    assert.equal((await send(b, alice.token, 'out_bob', 'during the outage')).status, 201, 'a send does not need Redis');
    const answer = await held;
    const ms = Date.now() - t0;
    assert.deepEqual(
      (answer.body.events as Event[]).map((e) => e.message?.body),
      ['during the outage'],
    );
    assert.ok(ms < 6000, `answered by the re-check after ${ms} ms`);
    const health = await call(a.url, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { ok: true, store: 'postgresql', redis: 'down', degraded: true });

    await redis?.start();
    const deadline = Date.now() + 10_000;
    while ((await call(a.url, 'GET', '/healthz')).body.redis !== 'up' || (await call(b.url, 'GET', '/healthz')).body.redis !== 'up') {
      if (Date.now() > deadline) assert.fail('never reconnected to Redis');
      await sleep(50);
    }
    const next = poll(a, bob.token, `since=${answer.body.cursor}&timeout=20`);
    await untilHeld(a, 1);
    const t1 = Date.now();
    assert.equal((await send(b, alice.token, 'out_bob', 'after')).status, 201);
    const woken = await next;
    assert.deepEqual(
      (woken.body.events as Event[]).map((e) => e.message?.body),
      ['after'],
    );
    assert.ok(Date.now() - t1 < 1000, `woken by a hint again after ${Date.now() - t1} ms`);
  });
});
