// The event stream: GET /poll and GET /presence (issue #2).
import assert from 'node:assert/strict';
import http from 'node:http';
import type request from 'supertest';
import { begin, expectError, logIn, newUser, send, startApp, type TestApp, waitHeld } from '../support/app';
import { sleep } from '../support/util';

interface PollBody {
  cursor: string;
  events: Array<{ type: string; message?: { id: number; body: string; from: string; to: string; client_id: string | null } }>;
}

describe('long poll (HTTP, #2)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  const poll = (auth: Record<string, string>, q = '') => t.http().get(`/poll?${q}`).set(auth);

  it('answers at once with what is newer than the cursor, oldest first', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    for (const body of ['one', 'two', 'three']) await send(t, a, b.username, body);
    const started = Date.now();
    const res = await poll(b.auth, `since=${b.cursor}&timeout=20`).expect(200);
    assert.ok(Date.now() - started < 2000, 'not held');
    const body = res.body as PollBody;
    assert.deepEqual(
      body.events.map((e) => [e.type, e.message?.body]),
      [
        ['message', 'one'],
        ['message', 'two'],
        ['message', 'three'],
      ],
    );
    assert.equal(body.events[0]?.message?.client_id, null);
    const next = await poll(b.auth, `since=${body.cursor}&timeout=0`).expect(200);
    assert.deepEqual(next.body, { cursor: body.cursor, events: [] });
  });

  it('holds until a message arrives and answers within milliseconds of the write', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const held = begin(poll(b.auth, `since=${b.cursor}&timeout=20`));
    await waitHeld(t, 1);
    const sentAt = Date.now();
    await send(t, a, b.username, 'wake up');
    const res = await held;
    const latency = Date.now() - sentAt;
    assert.equal(res.status, 200);
    assert.deepEqual(
      (res.body as PollBody).events.map((e) => e.message?.body),
      ['wake up'],
    );
    assert.ok(latency < 1000, `answered ${latency} ms after the send`);
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)));
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it("delivers a message to the sender's other devices and to the sending device itself", async () => {
    const a1 = await newUser(t);
    const a2 = await logIn(t, a1.username, 'correct horse', 'phone');
    const b = await newUser(t);
    const other = begin(poll(a2.auth, `since=${a2.cursor}&timeout=20`));
    const self = begin(poll(a1.auth, `since=${a1.cursor}&timeout=20`));
    const recipient = begin(poll(b.auth, `since=${b.cursor}&timeout=20`));
    await waitHeld(t, 3);
    await t.http().post('/messages').set(a1.auth).send({ to: b.username, body: 'from the laptop', client_id: 'L1' }).expect(201);
    const [o, s, r] = await Promise.all([other, self, recipient]);
    for (const res of [o, s, r])
      assert.deepEqual(
        (res.body as PollBody).events.map((e) => e.message?.body),
        ['from the laptop'],
      );
    assert.equal((o.body as PollBody).events[0]?.message?.client_id, 'L1', "sender's devices see client_id");
    assert.equal((r.body as PollBody).events[0]?.message?.client_id, null, 'the recipient does not');
  });

  it('notes to self reach the other devices once', async () => {
    const a1 = await newUser(t);
    const a2 = await logIn(t, a1.username);
    const held = begin(poll(a2.auth, `since=${a2.cursor}&timeout=20`));
    await waitHeld(t, 1);
    await send(t, a1, a1.username, 'note');
    const res = await held;
    assert.deepEqual(
      (res.body as PollBody).events.map((e) => e.message?.body),
      ['note'],
    );
  });

  it('a third user gets nothing', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const eve = await newUser(t);
    const held = begin(poll(eve.auth, `since=${eve.cursor}&timeout=1`));
    await waitHeld(t, 1);
    await send(t, a, b.username, 'secret');
    const res = await held;
    assert.deepEqual(res.body, { cursor: eve.cursor, events: [] });
  });

  it('answers the timeout with the same cursor and no events; timeout=0 never waits', async () => {
    const a = await newUser(t);
    const started = Date.now();
    const res = await poll(a.auth, `since=${a.cursor}&timeout=0.3`).expect(200);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3000, `held ${took} ms for timeout=0.3`);
    assert.deepEqual(res.body, { cursor: a.cursor, events: [] });
    const t0 = Date.now();
    await poll(a.auth, `since=${a.cursor}&timeout=0`).expect(200);
    assert.ok(Date.now() - t0 < 1000);
    for (const bad of ['abc', '-1', '', 'NaN', 'Infinity', '0x10', '1e', '1..2', '- 1'])
      expectError(await poll(a.auth, `timeout=${encodeURIComponent(bad)}`), 400, 'invalid_request');
  });

  it('clamps a timeout above the maximum', async () => {
    const short = await startApp({ POLL_TIMEOUT_MAX: '1', POLL_TIMEOUT_DEFAULT: '1' });
    try {
      const a = await newUser(short);
      const started = Date.now();
      await short.http().get(`/poll?since=${a.cursor}&timeout=3600`).set(a.auth).expect(200);
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 5000, `held ${took} ms, clamped to 1 s`);
      // Any way of writing a number is a number: huge ones are clamped, fractions kept.
      for (const [timeout, minMs, maxMs] of [
        ['9999999999', 900, 5000],
        ['1e100', 900, 5000],
        ['.5', 400, 900],
        ['1.', 900, 5000],
        ['0.5e0', 400, 900],
      ] as const) {
        const t0 = Date.now();
        const res = await short.http().get(`/poll?since=${a.cursor}&timeout=${timeout}`).set(a.auth).expect(200);
        assert.deepEqual(res.body, { cursor: a.cursor, events: [] });
        const held = Date.now() - t0;
        assert.ok(held >= minMs && held < maxMs, `timeout=${timeout}: held ${held} ms`);
      }
    } finally {
      await short.close();
    }
  });

  it('limit splits a backlog without loss or duplicates', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const sent: string[] = [];
    await Promise.all(
      Array.from({ length: 23 }, (_, i) => {
        sent.push(`m${i}`);
        return send(t, a, b.username, `m${i}`);
      }),
    );
    const got: string[] = [];
    let cursor = b.cursor;
    for (let i = 0; i < 10; i++) {
      const res = await poll(b.auth, `since=${cursor}&limit=5&timeout=0`).expect(200);
      const body = res.body as PollBody;
      assert.ok(body.events.length <= 5);
      if (body.events.length === 0) break;
      got.push(...body.events.map((e) => e.message?.body ?? ''));
      cursor = body.cursor;
    }
    assert.deepEqual(got.sort(), [...sent].sort());
    assert.equal(new Set(got).size, 23);
    for (const bad of ['0', '1001', 'x']) expectError(await poll(b.auth, `limit=${bad}&timeout=0`), 400, 'invalid_request');
  });

  it('refuses a malformed cursor or one ahead of the stream with invalid_cursor', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await send(t, a, b.username, 'x');
    // Leading zeros too: the server never issues them, and an answer's cursor must be the very
    // string that was sent.
    for (const c of ['abc', '-1', '1.5', '99999999999999999999', '%00', '00', '01', '+1'])
      expectError(await poll(b.auth, `since=${c}&timeout=0`), 400, 'invalid_cursor');
    expectError(await poll(b.auth, 'since=2&timeout=0'), 400, 'invalid_cursor');
    await poll(b.auth, 'since=1&timeout=0').expect(200); // the head itself is fine
    await poll(b.auth, 'since=0&timeout=0').expect(200);
  });

  it('remembers each device cursor and uses it when since is omitted', async () => {
    const a = await newUser(t);
    const b1 = await newUser(t);
    const b2 = await logIn(t, b1.username, 'correct horse', 'kiosk');
    await send(t, a, b1.username, 'first');
    await send(t, a, b1.username, 'second');
    // b1 reads both and acknowledges by polling with the cursor it was given
    const r1 = (await poll(b1.auth, `since=${b1.cursor}&timeout=0`).expect(200)).body as PollBody;
    assert.equal(r1.events.length, 2);
    await poll(b1.auth, `since=${r1.cursor}&timeout=0`).expect(200);
    await send(t, a, b1.username, 'third');
    // b1 "reboots" and lost its cursor: resumes after what it acknowledged
    const resumed = (await poll(b1.auth, 'timeout=0').expect(200)).body as PollBody;
    assert.deepEqual(
      resumed.events.map((e) => e.message?.body),
      ['third'],
    );
    // the kiosk never polled: its stored cursor is its login head, so it gets all three
    const kiosk = (await poll(b2.auth, 'timeout=0').expect(200)).body as PollBody;
    assert.deepEqual(
      kiosk.events.map((e) => e.message?.body),
      ['first', 'second', 'third'],
    );
    const empty = (await poll(b2.auth, 'since=&timeout=0').expect(200)).body as PollBody;
    assert.equal(empty.events.length, 3, 'an empty since= means the stored cursor too');
    const devices = (await t.http().get('/devices').set(b1.auth).expect(200)).body.devices as Array<{ id: string; cursor: string }>;
    assert.equal(devices.find((d) => d.id === b1.deviceId)?.cursor, r1.cursor);
  });

  it('answers the oldest held poll of a device past its limit', async () => {
    const a = await newUser(t);
    const polls = [0, 1, 2, 3].map(() => begin(poll(a.auth, `since=${a.cursor}&timeout=20`)));
    await waitHeld(t, 4);
    const fifth = begin(poll(a.auth, `since=${a.cursor}&timeout=20`));
    const first = await Promise.race([polls[0], sleep(3000).then(() => null)]);
    assert.ok(first, 'the oldest poll was answered at once');
    assert.deepEqual(first.body, { cursor: a.cursor, events: [] });
    assert.equal(t.core.hub.stats().held, 4);
    await send(t, a, a.username, 'wake');
    for (const res of await Promise.all([...polls.slice(1), fifth])) assert.equal((res.body as PollBody).events.length, 1);
  });

  it('answers 503 overloaded with Retry-After at the global cap, and nothing else suffers', async () => {
    const small = await startApp({ MAX_HELD_POLLS: '2' });
    try {
      const a = await newUser(small);
      const b = await newUser(small);
      const c = await newUser(small);
      const p1 = begin(small.http().get(`/poll?since=${a.cursor}&timeout=20`).set(a.auth));
      const p2 = begin(small.http().get(`/poll?since=${b.cursor}&timeout=20`).set(b.auth));
      await waitHeld(small, 2);
      const res = await small.http().get(`/poll?since=${c.cursor}&timeout=20`).set(c.auth);
      expectError(res, 503, 'overloaded');
      assert.match(String(res.headers['retry-after']), /^\d+$/);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      // a poll with events waiting is still answered, and sends still work
      await send(small, a, c.username, 'still here');
      const now = await small.http().get(`/poll?since=${c.cursor}&timeout=20`).set(c.auth).expect(200);
      assert.equal((now.body as PollBody).events.length, 1);
      const r1 = await p1; // the sender's own held poll got its message
      assert.equal((r1.body as PollBody).events.length, 1);
      await small.close(); // answers p2 (shutdown) so it does not dangle
      assert.deepEqual((await p2).body, { cursor: b.cursor, events: [] });
    } finally {
      await small.close();
    }
  });

  it('frees the waiter and its timer at once when the client disconnects', async () => {
    const a = await newUser(t);
    const { port } = t.server.address() as { port: number };
    const reqs = Array.from({ length: 3 }, () => {
      const req = http.get({ host: '127.0.0.1', port, path: `/poll?since=${a.cursor}&timeout=30`, headers: a.auth });
      req.on('error', () => undefined);
      return req;
    });
    await waitHeld(t, 3);
    assert.equal(t.core.hub.stats().timers, 3);
    for (const r of reqs) r.destroy();
    const deadline = Date.now() + 3000;
    while (t.core.hub.stats().held > 0 && Date.now() < deadline) await sleep(5);
    assert.deepEqual(t.core.hub.stats(), { held: 0, waiters: 0, timers: 0, devices: 0, users: 0 });
  });

  it('shows who is online from held and recent polls', async () => {
    const p = await startApp({ PRESENCE_WINDOW: '1' });
    try {
      const a = await newUser(p, 'pa');
      const b = await newUser(p, 'pb');
      const c = await newUser(p, 'pc');
      await p.http().get(`/poll?since=${b.cursor}&timeout=0`).set(b.auth).expect(200);
      const held = begin(p.http().get(`/poll?since=${a.cursor}&timeout=3`).set(a.auth));
      await waitHeld(p, 1);
      // A refused poll (a cursor ahead of the stream) does not make c present.
      expectError(await p.http().get('/poll?since=99&timeout=0').set(c.auth), 400, 'invalid_cursor');
      const now = await p.http().get('/presence').set(c.auth).expect(200);
      assert.deepEqual(now.body, { online: [a.username, b.username].sort() });
      await sleep(1300); // b's poll is older than the window; a still holds one
      const later = await p.http().get('/presence').set(c.auth).expect(200);
      assert.deepEqual(later.body, { online: [a.username] });
      const devices = await p.http().get('/devices').set(a.auth).expect(200);
      assert.equal(devices.body.devices[0].online, true);
      await held;
      expectError(await p.http().get('/presence'), 401, 'unauthorized');
    } finally {
      await p.close();
    }
  });
});

describe("one account and the server's held-poll slots (HTTP, #13)", () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** Waits until `n` of the requests have been answered; returns those answers. */
  async function firstAnswers(requests: Promise<request.Response>[], n: number, timeoutMs = 5000): Promise<request.Response[]> {
    const done: request.Response[] = [];
    for (const r of requests) void r.then((res) => done.push(res));
    const deadline = Date.now() + timeoutMs;
    while (done.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} answers, have ${done.length}`);
      await sleep(5);
    }
    return done.slice();
  }

  it('at the defaults, 10 devices × 4 polls of one account take POLLS_PER_USER slots of a server set to 40; the rest get 429, everyone else still holds', async () => {
    t = await startApp({ MAX_HELD_POLLS: '40' });
    const app = t;
    const first = await newUser(app, 'greedy');
    const devices = [first];
    for (let i = 1; i < 10; i++) devices.push(await logIn(app, first.username, 'correct horse', `device ${i}`));
    const polls = devices.flatMap((d) => [0, 1, 2, 3].map(() => begin(app.http().get(`/poll?since=${d.cursor}&timeout=20`).set(d.auth))));
    const refused = await firstAnswers(polls, 40 - 20);
    for (const res of refused) {
      expectError(res, 429, 'rate_limited');
      assert.match(String(res.headers['retry-after']), /^\d+$/);
      assert.ok(Number(res.headers['retry-after']) >= 1);
    }
    await waitHeld(app, 20);
    assert.equal(app.core.hub.stats().held, 20, 'POLLS_PER_USER (20) of the account, no more');

    const other = await newUser(app, 'bystander');
    const held = begin(app.http().get(`/poll?since=${other.cursor}&timeout=20`).set(other.auth));
    await waitHeld(app, 21);

    // Every device still gets its messages: held polls are woken, and a refused device that
    // polls again with events waiting is answered at once, cap or no cap.
    await send(app, other, first.username, 'for every device');
    const answers = (await Promise.all(polls)).filter((r) => r.status === 200);
    assert.equal(answers.length, 20);
    for (const res of answers) assert.equal((res.body as PollBody).events[0]?.message?.body, 'for every device');
    const refusedDevice = devices[9] ?? assert.fail();
    const again = await app.http().get(`/poll?since=${refusedDevice.cursor}&timeout=20`).set(refusedDevice.auth).expect(200);
    assert.equal((again.body as PollBody).events.length, 1);
    assert.equal(((await held).body as PollBody).events.length, 1, "the bystander's own poll got the message it sent");
    const metrics = (await app.http().get('/metrics').expect(200)).text;
    assert.match(metrics, /^chat_poll_answers_total\{outcome="limited"\} 20$/m);
  });

  it("a device at its own cap still replaces its oldest poll when the account is at the user's cap", async () => {
    t = await startApp({ POLLS_PER_DEVICE: '2', POLLS_PER_USER: '3' });
    const app = t;
    const a1 = await newUser(app);
    const a2 = await logIn(app, a1.username, 'correct horse', 'second');
    const a3 = await logIn(app, a1.username, 'correct horse', 'third');
    const poll = (d: typeof a1) => begin(app.http().get(`/poll?since=${d.cursor}&timeout=20`).set(d.auth));
    const oldest = poll(a1);
    await waitHeld(app, 1);
    const kept = [poll(a1), poll(a2)];
    await waitHeld(app, 3);
    expectError(await poll(a3), 429, 'rate_limited');
    expectError(await poll(a2), 429, 'rate_limited'); // a2 holds one of its 2: not at its own cap
    const replacing = poll(a1); // a1 holds 2 of 2: its oldest makes room
    assert.deepEqual((await oldest).body, { cursor: a1.cursor, events: [] });
    await waitHeld(app, 3);
    await send(app, a3, a1.username, 'hello');
    for (const res of await Promise.all([...kept, replacing])) assert.equal((res.body as PollBody).events.length, 1);
  });
});
