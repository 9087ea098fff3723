// Durability (issue #6): "acknowledged" means the 201 was sent after the transaction holding
// the message committed with synchronous=FULL in WAL mode. Here the real server is killed with
// SIGKILL in the middle of a sustained burst of concurrent sends, several rounds on one
// database file, and after every restart each acknowledged message must be there exactly once,
// in id order, in the streams of both of its users. Sends whose answer was lost in the crash
// are retried with their client_id, as a client would: each lands exactly once.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { SCALE, metrics, readStream, report, type WireEvent, type WireMessage } from './harness';

const ENV = { RATE_MESSAGES_USER: 'off', RATE_LOGIN_IP: 'off', SCRYPT_COST: '10' };

interface Spec {
  clientId: string;
  from: string;
  to: string;
  body: string;
}

interface Acked extends Spec {
  id: number;
}

interface Who {
  name: string;
  token: string;
}

/** Bodies that are easy to get wrong on the way to disk and back. */
const FLAVOURS = [
  'plain',
  'ünïcødé ✓',
  '😀 astral',
  'nul\u0000inside',
  'line\nbreaks\r\n',
  '<b>html</b> & "quotes"',
  "'; DROP TABLE messages; --",
];

function messagesOf(events: WireEvent[]): WireMessage[] {
  return events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
}

describe('faults: durability under kill -9 (#6)', function () {
  this.timeout(180_000);
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
  });

  it('kill -9 in the middle of concurrent bursts, 4 rounds: every 201 is stored exactly once, in id order; lost answers retried by client_id land once', async () => {
    const ROUNDS = 4 * SCALE;
    const LOOPS_PER_SENDER = 6;
    server = await startServer({ env: ENV });
    const { dbPath, port } = server;
    let url = server.url;
    const names = ['s0', 's1', 's2', 'r0', 'r1'];
    const users = new Map<string, Who>();
    for (const name of names) users.set(name, { name, token: (await signUpAndLogIn(url, name, 'burst')).token });
    const senders = ['s0', 's1', 's2'];
    // A second device per recipient that long-polls through every crash: what it was shown
    // must have been durable (a poll never answers with an uncommitted message).
    const pollers = new Map<string, { token: string; cursor: string; seen: WireEvent[]; start: string }>();
    for (const r of ['r0', 'r1']) {
      const d = await signUpAndLogIn(url, r, 'poller');
      pollers.set(r, { token: d.token, cursor: d.cursor, start: d.cursor, seen: [] });
    }

    const acked: Acked[] = [];
    let inDoubtTotal = 0;
    let inDoubtCommitted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const roundAcked: Acked[] = [];
      const inDoubt: Spec[] = [];
      const unexpected: string[] = [];
      const loopIds: number[][] = [];
      let alive = true;

      const sendLoop = async (from: string, loop: number): Promise<void> => {
        const ids: number[] = [];
        loopIds.push(ids);
        const token = users.get(from)!.token;
        for (let n = 0; alive; n++) {
          const to = n % 5 === 4 ? from : n % 2 === 0 ? 'r0' : 'r1'; // notes to self too
          const spec: Spec = {
            clientId: `r${round}-${from}-l${loop}-${n}`,
            from,
            to,
            body: `${FLAVOURS[n % FLAVOURS.length]} r${round} ${from} l${loop} #${n}`,
          };
          try {
            const res = await call(url, 'POST', '/messages', { token, body: { to, body: spec.body, client_id: spec.clientId } });
            if (res.status !== 201) {
              unexpected.push(`${res.status} ${res.text.slice(0, 100)}`);
              return;
            }
            const m = res.body.message as WireMessage;
            roundAcked.push({ ...spec, id: m.id });
            ids.push(m.id);
          } catch {
            // No answer: the server died with this request somewhere between our socket and
            // its disk. The client does not know, so it will retry after the restart.
            inDoubt.push(spec);
            return;
          }
        }
      };

      const pollLoop = async (p: { token: string; cursor: string; seen: WireEvent[] }): Promise<void> => {
        while (alive) {
          try {
            const res = await call(url, 'GET', `/poll?since=${p.cursor}&timeout=10`, { token: p.token });
            if (res.status !== 200) {
              unexpected.push(`poll ${res.status} ${res.text.slice(0, 100)}`);
              return;
            }
            p.seen.push(...(res.body.events as WireEvent[]));
            p.cursor = res.body.cursor;
          } catch {
            return; // the server is gone; resume from p.cursor after the restart
          }
        }
      };

      const started = Date.now();
      const loops = [
        ...senders.flatMap((s) => Array.from({ length: LOOPS_PER_SENDER }, (_, l) => sendLoop(s, l))),
        ...[...pollers.values()].map(pollLoop),
      ];
      // Kill once the burst is well under way, at a random moment 0.5 to 1.5 s into it,
      // with sends in flight.
      while (roundAcked.length < 100 && Date.now() - started < 15_000) await sleep(2);
      await sleep(500 + Math.floor(Math.random() * 1000));
      const ackedAtKill = roundAcked.length;
      await server.stop('SIGKILL');
      alive = false;
      await Promise.all(loops);
      const burstMs = Date.now() - started;
      assert.deepEqual(unexpected, [], 'every answer before the kill was a 201 (or a poll answer)');
      assert.ok(ackedAtKill >= 100, `burst under way before the kill (${ackedAtKill} acknowledged)`);

      server = await startServer({ dbPath, port, env: ENV });
      url = server.url;

      // A client whose send got no answer retries it with the same client_id.
      let committed = 0;
      for (const spec of inDoubt) {
        const res = await call(url, 'POST', '/messages', {
          token: users.get(spec.from)!.token,
          body: { to: spec.to, body: spec.body, client_id: spec.clientId },
        });
        assert.ok(res.status === 200 || res.status === 201, `retry of ${spec.clientId}: ${res.status} ${res.text}`);
        const m = res.body.message as WireMessage;
        assert.equal(m.body, spec.body);
        assert.equal(m.to, spec.to);
        assert.equal(m.client_id, spec.clientId);
        if (res.status === 200) committed++;
        roundAcked.push({ ...spec, id: m.id });
      }
      inDoubtTotal += inDoubt.length;
      inDoubtCommitted += committed;
      acked.push(...roundAcked);

      // Each loop sent one at a time, so its acknowledged ids must increase.
      for (const ids of loopIds) for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, 'one sender loop: ids increase');

      // Every acknowledged message, from every round so far, is in the stream of each of its
      // users exactly once, unchanged, and each stream is in id order.
      const where = new Map<string, Map<number, number>>(); // user -> id -> occurrences
      let streamed = 0;
      for (const [name, who] of users) {
        const msgs = messagesOf((await readStream(url, who.token)).events);
        streamed += msgs.length;
        for (let i = 1; i < msgs.length; i++) assert.ok(msgs[i]!.id > msgs[i - 1]!.id, `${name}'s stream is in id order`);
        const count = new Map<number, number>();
        for (const m of msgs) count.set(m.id, (count.get(m.id) ?? 0) + 1);
        where.set(name, count);
        const byId = new Map(msgs.map((m) => [m.id, m]));
        for (const a of acked) {
          if (a.from !== name && a.to !== name) continue;
          const m = byId.get(a.id);
          assert.ok(m, `acknowledged message ${a.id} (${a.clientId}) is in ${name}'s stream`);
          assert.deepEqual([m.from, m.to, m.body], [a.from, a.to, a.body], `message ${a.id} unchanged`);
        }
      }
      for (const [name, count] of where) for (const [id, n] of count) assert.equal(n, 1, `message ${id} once in ${name}'s stream`);
      const stored = (await metrics(url)).get('chat_messages_stored');
      assert.equal(stored, acked.length, 'nothing stored that was not acknowledged (or answered on retry)');
      assert.equal(new Set(acked.map((a) => a.id)).size, acked.length, 'no two acknowledgements share an id');

      // The long-polling devices: what they were shown before the crash is exactly the start
      // of their stream, and they resume from their cursor with nothing lost or repeated.
      for (const [r, p] of pollers) {
        const full = (await readStream(url, p.token, p.start)).events;
        assert.deepEqual(p.seen, full.slice(0, p.seen.length), `${r}: what the poller was shown is durable and in order`);
        const rest = await readStream(url, p.token, p.cursor);
        p.seen.push(...rest.events);
        p.cursor = rest.cursor;
        assert.deepEqual(p.seen, full, `${r}: after resuming, the poller has the whole stream exactly once`);
      }

      report(
        `round ${round + 1}: burst ${burstMs} ms, ${ackedAtKill} acknowledged before kill -9, ${inDoubt.length} in doubt ` +
          `(${committed} had been committed, ${inDoubt.length - committed} had not); after restart ${stored} stored, ` +
          `${streamed} stream entries checked, 0 missing, 0 duplicated`,
      );
    }
    report(
      `total: ${acked.length} messages acknowledged over ${ROUNDS} kill -9 rounds, ${inDoubtTotal} retried after the crash (${inDoubtCommitted} found committed)`,
    );

    // The file itself, opened directly after a clean stop: consistent, and every message has
    // exactly its events (the multi-row write of a send is atomic across crashes).
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    server = undefined;
    const db = new Database(dbPath, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      assert.equal(db.prepare('SELECT count(*) FROM messages').pluck().get(), acked.length);
      const torn = db
        .prepare(
          `SELECT count(*) FROM messages m
           WHERE (SELECT count(*) FROM events e WHERE e.kind = 1 AND e.message_id = m.id)
                 <> CASE WHEN m.sender_id = m.recipient_id THEN 1 ELSE 2 END`,
        )
        .pluck()
        .get();
      assert.equal(torn, 0, 'every message has one event per user who should see it');
      const gaps = db
        .prepare(
          'SELECT count(*) FROM events e WHERE seq > 1 AND NOT EXISTS (SELECT 1 FROM events p WHERE p.user_id = e.user_id AND p.seq = e.seq - 1)',
        )
        .pluck()
        .get();
      assert.equal(gaps, 0, 'every user stream is numbered without gaps');
    } finally {
      db.close();
    }
  });

  it('measures the cost of FULL against NORMAL, and that concurrent sends share commits', async () => {
    const SECONDS = 2;
    const rows: string[] = [];
    const results = new Map<string, { perS: number; batch: number }>();
    for (const mode of ['FULL', 'NORMAL']) {
      for (const concurrency of [1, 32]) {
        server = await startServer({ env: { ...ENV, DB_SYNCHRONOUS: mode } });
        const { url } = server;
        const a = await signUpAndLogIn(url, 'bench-a');
        await signUpAndLogIn(url, 'bench-b');
        const m0 = await metrics(url);
        let ok = 0;
        const until = Date.now() + SECONDS * 1000;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (Date.now() < until) {
              const r = await call(url, 'POST', '/messages', { token: a.token, body: { to: 'bench-b', body: 'x'.repeat(100) } });
              assert.equal(r.status, 201);
              ok++;
            }
          }),
        );
        const m1 = await metrics(url);
        const batches = (m1.get('chat_write_batches_committed') ?? 0) - (m0.get('chat_write_batches_committed') ?? 0);
        const jobs = (m1.get('chat_write_jobs_committed') ?? 0) - (m0.get('chat_write_jobs_committed') ?? 0);
        const perS = ok / SECONDS;
        const batch = jobs / Math.max(1, batches);
        results.set(`${mode}/${concurrency}`, { perS, batch });
        rows.push(
          `${mode.padEnd(6)} concurrency ${String(concurrency).padStart(2)}: ${perS.toFixed(0).padStart(5)} sends/s, ${batch.toFixed(1)} sends per commit`,
        );
        await server.stop('SIGTERM');
        server = undefined;
      }
    }
    for (const r of rows) report(r);
    // Group commit is what pays for FULL: with many senders, commits carry several sends each.
    // (Throughput is only printed: on a shared 2-core machine it is too noisy to assert on.)
    assert.ok(results.get('FULL/32')!.batch > 1.5, `FULL with 32 senders: ${results.get('FULL/32')!.batch.toFixed(2)} sends per commit`);
  });
});
