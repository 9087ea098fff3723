// No lost wake-up: sends racing polls, many times over (issue #2). A poll that looked for news
// just before a message was stored, and started waiting just after, would sit until its
// timeout and come back empty; here every poll must come back with the message, fast.
import assert from 'node:assert/strict';
import { begin, logIn, newUser, startApp, type TestApp } from '../support/app';
import { sleep } from '../support/util';

const ROUNDS = 300;

describe('no lost wake-ups (HTTP, #2)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off' }); // hundreds of sends from one user
  });
  after(() => t.close());

  it(`every poll racing a send gets the message, ${ROUNDS} rounds`, async function () {
    this.timeout(120_000);
    const a = await newUser(t);
    const b = await newUser(t);
    let cursor = b.cursor;
    let slowest = 0;
    for (let i = 0; i < ROUNDS; i++) {
      // Vary which one reaches the server first: the poll, the send, or both in one turn.
      const jitter = i % 3;
      const started = Date.now();
      const pollReq = begin(t.http().get(`/poll?since=${cursor}&timeout=10`).set(b.auth));
      if (jitter === 1) await new Promise((r) => setImmediate(r));
      if (jitter === 2) await sleep(1);
      const sendReq = begin(
        t
          .http()
          .post('/messages')
          .set(a.auth)
          .send({ to: b.username, body: `r${i}` }),
      );
      const [p, s] = await Promise.all([pollReq, sendReq]);
      assert.equal(s.status, 201);
      assert.equal(p.status, 200);
      assert.deepEqual(
        p.body.events.map((e: { message: { body: string } }) => e.message.body),
        [`r${i}`],
        `round ${i}: the poll must see exactly the racing message`,
      );
      cursor = p.body.cursor;
      slowest = Math.max(slowest, Date.now() - started);
    }
    // A lost wake-up would show as a 10 s wait; allow a generous margin for a loaded machine.
    assert.ok(slowest < 5000, `slowest round took ${slowest} ms`);
    assert.deepEqual(t.core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('many devices polling while many senders send: every device gets every message once, in order', async function () {
    this.timeout(120_000);
    const receiver = await newUser(t, 'rx');
    const devices = [receiver, ...(await Promise.all([1, 2, 3].map(() => logIn(t, receiver.username))))];
    const senders = await Promise.all([1, 2, 3, 4].map(() => newUser(t, 'tx')));
    const PER_SENDER = 40;
    const received = new Map<string, number[]>(devices.map((d) => [d.deviceId, []]));
    let stop = false;
    const loops = devices.map(async (d) => {
      let cursor = d.cursor;
      while (!stop) {
        const res = await t.http().get(`/poll?since=${cursor}&timeout=2`).set(d.auth);
        assert.equal(res.status, 200);
        for (const e of res.body.events) received.get(d.deviceId)?.push(e.message.id);
        cursor = res.body.cursor;
      }
    });
    const sentIds: number[] = [];
    await Promise.all(
      senders.map(async (s) => {
        for (let i = 0; i < PER_SENDER; i++) {
          const res = await t
            .http()
            .post('/messages')
            .set(s.auth)
            .send({ to: receiver.username, body: `${s.username}-${i}` });
          assert.equal(res.status, 201);
          sentIds.push(res.body.message.id);
        }
      }),
    );
    const expected = [...sentIds].sort((x, y) => x - y);
    const deadline = Date.now() + 10_000;
    while ([...received.values()].some((ids) => ids.length < expected.length) && Date.now() < deadline) await sleep(20);
    stop = true;
    await Promise.all(loops);
    for (const [id, ids] of received) assert.deepEqual(ids, expected, `device ${id}: all ${expected.length}, once, in order`);
  });
});
