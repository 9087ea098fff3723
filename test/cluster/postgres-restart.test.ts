// PostgreSQL restarted under a cluster's sends (#16): on a PostgreSQL of this test's own
// (startPostgres() of npm run cluster: initdb and pg_ctl in a temp dir, a free port; the
// machine's shared one is never touched), three processes behind nginx round-robin. Clients send
// with client_ids while the database is stopped (fast, then immediate: a crash) and started
// again, retrying every failed send with the same client_id: each retry ends as exactly one
// message, every device's stream has each once and no gaps, an outage is answered 503
// overloaded with Retry-After (never 500, never a hang), and the processes say so in /healthz
// and recover on their own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { call, signUpAndLogIn } from '../support/client';
import { REDIS_TEST_URL, startCluster, stopAll } from '../support/cluster';
import type { RunningServer } from '../support/server';
import { freePort, sleep } from '../support/util';
import {
  clusterSite,
  ensureDatabase,
  NGINX_BIN,
  pgBin,
  startNginx,
  startPostgres,
  type OwnPostgres,
  type Started,
} from '../../src/cli/cluster';

interface Event {
  type: string;
  message?: { id: number; body: string; from: string };
}

/** Longest any one request may take: longer is a hang. */
const REQUEST_DEADLINE_MS = 15_000;

describe('PostgreSQL restarted during sends (#16)', function () {
  this.timeout(180_000);
  let pg: OwnPostgres | undefined;
  let servers: RunningServer[] = [];
  let nginx: Started | undefined;
  let proxy = '';

  before(async function () {
    try {
      pgBin();
    } catch (err) {
      console.log(`      (skipped: ${(err as Error).message})`);
      this.skip();
    }
    if (!fs.existsSync(NGINX_BIN)) {
      console.log(`      (skipped: no nginx at ${NGINX_BIN})`);
      this.skip();
    }
    pg = await startPostgres();
    const url = await ensureDatabase(pg.url, 'chat_restart');
    servers = await startCluster(3, url, REDIS_TEST_URL);
    const port = await freePort();
    nginx = await startNginx(
      clusterSite(
        servers.map((s) => s.port),
        port,
      ),
      port,
    );
    proxy = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await nginx?.stop();
    await stopAll(servers);
    await pg?.destroy();
  });

  const health = async (s: RunningServer) => (await call(s.url, 'GET', '/healthz')).body as Record<string, unknown>;

  it('each send retried with its client_id until it succeeds is one message; no gaps; 503 with Retry-After meanwhile; the processes recover', async () => {
    const db = pg ?? assert.fail();
    const recipients = ['rs_bob', 'rs_carol'];
    const readers = await Promise.all(recipients.flatMap((r) => [signUpAndLogIn(proxy, r, 'phone'), signUpAndLogIn(proxy, r, 'laptop')]));
    const senders = await Promise.all(Array.from({ length: 4 }, (_, i) => signUpAndLogIn(proxy, `rs_s${i}`)));
    const perSender = 40;
    const refusals: { status: number; code: unknown; retryAfter: string | null }[] = [];
    let accepted = 0;
    const watching = { on: true };

    /** POST /messages until it is 201 or 200 (the earlier send found), the same client_id every time. */
    const sendUntilStored = async (token: string, to: string, body: string, clientId: string): Promise<number> => {
      for (;;) {
        const signal = AbortSignal.timeout(REQUEST_DEADLINE_MS);
        const r = await call(proxy, 'POST', '/messages', { token, body: { to, body, client_id: clientId }, signal });
        if (r.status === 201 || r.status === 200) {
          accepted++;
          return r.body.message.id as number;
        }
        const refusal = {
          status: r.status,
          code: r.body?.error?.code,
          message: r.body?.error?.message,
          retryAfter: r.headers.get('retry-after'),
        };
        // Refused only as an outage, by the server process itself: 503 overloaded with a
        // Retry-After (no 500; not nginx's own 503 for a process that died or hung).
        assert.equal(refusal.status, 503, JSON.stringify(refusal));
        assert.equal(refusal.code, 'overloaded');
        assert.match(refusal.message ?? '', /database cannot be reached/, JSON.stringify(refusal));
        assert.match(refusal.retryAfter ?? '', /^[1-9]\d*$/);
        refusals.push(refusal);
        // What a client does with Retry-After, shortened: the test needs many retries in a short outage.
        await sleep(100);
      }
    };
    const sending = Promise.all(
      senders.map(async (s, i) => {
        const ids: number[] = [];
        for (let k = 0; k < perSender; k++) {
          ids.push(await sendUntilStored(s.token, recipients[k % 2] ?? assert.fail(), `s${i}-${k}`, `rs-${i}-${k}`));
          await sleep(20);
        }
        return ids;
      }),
    );

    sending.catch(() => undefined); // awaited below; a refusal fails it at once
    // The outages, while the sends go on: a clean stop, then a crash.
    const seenDown = new Set<number>();
    const notDegraded: unknown[] = [];
    const watchHealth = (async () => {
      while (watching.on) {
        const hs = await Promise.all(servers.map(health));
        hs.forEach((h, i) => {
          if (h.database === 'down') seenDown.add(i);
          if (h.database === 'down' && h.degraded !== true) notDegraded.push(h);
        });
        await sleep(100);
      }
    })();
    let idsBySender: number[][];
    try {
      for (const mode of ['fast', 'immediate'] as const) {
        const before = accepted;
        const until = Date.now() + 30_000;
        while (accepted < before + 10 && Date.now() < until) await sleep(20);
        await db.stop(mode);
        await sleep(1500);
        await db.start();
      }
      idsBySender = await sending;
    } finally {
      watching.on = false;
      await watchHealth.catch(() => undefined);
    }
    assert.ok(refusals.length > 0, 'the outages refused some sends (else this test proved nothing)');
    assert.ok(seenDown.size > 0, '/healthz said database down on some process during the outages');
    assert.deepEqual(notDegraded, [], 'database down is degraded');

    // Every process recovers: /healthz says so (its probe reconnects within seconds) and it serves.
    const deadline = Date.now() + 10_000;
    for (const s of servers) {
      while ((await health(s)).database !== undefined) {
        if (Date.now() > deadline) assert.fail(`${s.url} still says the database is down`);
        await sleep(100);
      }
      assert.deepEqual(await health(s), { ok: true, store: 'postgresql', redis: 'up' });
    }

    // Each client_id exactly once in every device's stream, in order, without gaps.
    const allIds = idsBySender.flat();
    assert.equal(new Set(allIds).size, senders.length * perSender, 'one message per client_id');
    for (const [d, reader] of readers.entries()) {
      const who = recipients[Math.floor(d / 2)] ?? assert.fail();
      const r = await call(servers[d % servers.length]?.url ?? assert.fail(), 'GET', `/poll?since=${reader.cursor}&timeout=0&limit=1000`, {
        token: reader.token,
      });
      assert.equal(r.status, 200);
      const bodies = (r.body.events as Event[]).map((e) => e.message?.body ?? '');
      const expected = senders.flatMap((_, i) =>
        Array.from({ length: perSender }, (__, k) => k)
          .filter((k) => recipients[k % 2] === who)
          .map((k) => `s${i}-${k}`),
      );
      assert.equal(bodies.length, expected.length, `${who}: every message once`);
      assert.deepEqual(new Set(bodies), new Set(expected), `${who}: nothing missing`);
      // Each sender's messages in the order it sent them (it waited for each).
      for (const [i] of senders.entries()) {
        const mine = bodies.filter((b) => b.startsWith(`s${i}-`));
        assert.deepEqual(
          mine,
          expected.filter((b) => b.startsWith(`s${i}-`)),
          `${who}: s${i}'s in order`,
        );
      }
      // Positions without gaps: a cursor is a position in the stream (docs/API.md), and it moved
      // by exactly as many events as were read; nothing more after it.
      assert.equal(Number(r.body.cursor) - Number(reader.cursor), bodies.length, `${who}: no gaps`);
      const after = await call(proxy, 'GET', `/poll?since=${r.body.cursor}&timeout=0`, { token: reader.token });
      assert.deepEqual(after.body.events, []);
    }
  });
});
