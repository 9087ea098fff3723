// Group conversations in the event stream (issue #15): fan-out to every device of every member
// exactly once and in order, removal mid-stream, the authorization sweep, races, restarts, and
// both ways in (the fast lane and Koa).
import assert from 'node:assert/strict';
import { revokeDevice } from '../../src/auth';
import { begin, expectError, logIn, type Login, newUser, startApp, type TestApp, waitHeld } from '../support/app';
import { drain, type EventBody, type GroupBody, groupSend, makeGroup, sentToGroup, short } from '../support/groups';

describe('groups in the event stream (HTTP, #15)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off', GROUP_MEMBERS_MAX: '4' });
  });
  afterEach(() => t.close());

  const poll = (who: Login, since: string) => begin(t.http().get(`/poll?since=${since}&timeout=20`).set(who.auth));

  it("reaches every device of every member once and in order, the sender's other devices included", async () => {
    const a1 = await newUser(t);
    const a2 = await logIn(t, a1.username, 'correct horse', 'phone');
    const b = await newUser(t);
    const c = await newUser(t);
    const outsider = await newUser(t);
    const g = await makeGroup(t, a1, 'g', [b, c]);
    const devices = [a1, a2, b, c];
    const cursors = await Promise.all(devices.map(async (d) => (await drain(t, d, d.cursor)).cursor));
    const held = devices.map((d, i) => poll(d, cursors[i] ?? ''));
    const outsiderPoll = begin(t.http().get(`/poll?since=${outsider.cursor}&timeout=1`).set(outsider.auth));
    await waitHeld(t, 5);
    await groupSend(t, a1, g.id, 'first', 'k1').expect(201);
    const answers = await Promise.all(held);
    for (const [i, res] of answers.entries()) {
      assert.deepEqual(res.body.events.map(short), [`msg ${a1.username}>${g.id}: first`], `device ${i}`);
      const m = res.body.events[0].message;
      assert.equal(m.client_id, i < 2 ? 'k1' : null, "client_id only on the sender's devices");
    }
    assert.deepEqual((await outsiderPoll).body.events, [], 'an outsider gets nothing');
    // More, from everyone at once: each device sees every one exactly once, in one order per user.
    await Promise.all([...Array(6).keys()].map((i) => sentToGroup(t, [a1, b, c][i % 3] ?? a1, g.id, `m${i}`)));
    const streams = await Promise.all(devices.map(async (d, i) => (await drain(t, d, answers[i]?.body.cursor as string)).events));
    for (const events of streams) {
      assert.equal(events.length, 6);
      assert.equal(new Set(events.map((e) => e.message?.id)).size, 6, 'no duplicates');
      const ids = events.map((e) => e.message?.id ?? 0);
      assert.deepEqual(
        ids,
        [...ids].sort((x, y) => x - y),
        'in the order they were stored',
      );
    }
    assert.deepEqual(streams[0]?.map(short), streams[1]?.map(short), "a user's devices see the same stream");
  });

  it('a member removed at position N gets nothing of the group after N, also through a held poll', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    const g = await makeGroup(t, a, 'g', [b, c]);
    await sentToGroup(t, b, g.id, 'before');
    const { cursor } = await drain(t, c, c.cursor);
    const held = poll(c, cursor);
    await waitHeld(t, 1);
    await t.http().delete(`/groups/${g.id}/members/${c.username}`).set(a.auth).expect(204);
    const answer = await held;
    assert.deepEqual(answer.body.events.map(short), [`group removed g [${[a.username, b.username].sort().join(',')}] owner ${a.username}`]);
    await sentToGroup(t, b, g.id, 'after');
    await t.http().post(`/groups/${g.id}`).set(a.auth).send({ name: 'renamed' }).expect(200);
    assert.deepEqual((await drain(t, c, answer.body.cursor)).events, [], 'nothing after the removal');
    const all = (await drain(t, c, c.cursor)).events.map(short);
    assert.deepEqual(all.slice(1), [`msg ${b.username}>${g.id}: before`, all[2]]);
  });

  describe('authorization (#15): outsiders, removed members and revoked devices learn nothing', () => {
    let a: Login;
    let b: Login;
    let g: GroupBody;
    let messageId: number;

    beforeEach(async () => {
      a = await newUser(t);
      b = await newUser(t);
      g = await makeGroup(t, a, 'secret plans', [b]);
      messageId = (await sentToGroup(t, a, g.id, 'the secret')).id;
    });

    /** Every group endpoint, as `who`: each must answer 404 not_found, the same as for no group. */
    async function sweep(who: Login, groupId: number): Promise<void> {
      const calls = [
        t.http().get(`/groups/${groupId}`).set(who.auth),
        t.http().get(`/groups/${groupId}?callback=cb`).set(who.auth),
        t.http().post(`/groups/${groupId}`).set(who.auth).send({ name: 'mine now' }),
        t.http().post(`/groups/${groupId}/members`).set(who.auth).send({ username: who.username }),
        t.http().post(`/groups/${groupId}/members`).set(who.auth).send({ username: 'nobody' }),
        t.http().delete(`/groups/${groupId}/members/${a.username}`).set(who.auth),
        t.http().delete(`/groups/${groupId}/members/${who.username}`).set(who.auth),
        t.http().post('/messages').set(who.auth).send({ group: groupId, body: 'let me in' }),
        t.http().post('/messages').set(who.auth).type('form').send({ group: groupId, body: 'let me in' }),
        t.http().get(`/messages?group=${groupId}`).set(who.auth),
        t.http().post('/read').set(who.auth).send({ group: groupId, up_to: messageId }),
      ];
      for (const res of await Promise.all(calls)) {
        if (res.type === 'application/javascript') {
          assert.match(res.text, /"status":404/);
          assert.match(res.text, /"not_found"/);
          continue;
        }
        expectError(res, 404, 'not_found');
        assert.doesNotMatch(res.text, /secret/);
      }
      const lists = [
        (await t.http().get('/groups').set(who.auth).expect(200)).text,
        (await t.http().get('/conversations').set(who.auth).expect(200)).text,
      ];
      for (const text of lists) assert.doesNotMatch(text, /secret/);
    }

    it('an outsider: the same answers as for a group that does not exist', async () => {
      const outsider = await newUser(t);
      await sweep(outsider, g.id);
      await sweep(outsider, g.id + 1000);
      await sweep(outsider, 99_999_999_999);
      for (const bad of ['0', '-1', 'abc', '1e3', '9007199254740993'])
        expectError(await t.http().get(`/groups/${bad}`).set(outsider.auth), 404, 'not_found');
      assert.deepEqual((await t.http().get(`/groups/${g.id}`).set(a.auth).expect(200)).body.group.name, 'secret plans', 'nothing changed');
      assert.deepEqual((await drain(t, outsider, outsider.cursor)).events, []);
    });

    it('a removed member, and one who left', async () => {
      await t.http().delete(`/groups/${g.id}/members/${b.username}`).set(a.auth).expect(204);
      await sweep(b, g.id);
      const c = await newUser(t);
      await t.http().post(`/groups/${g.id}/members`).set(a.auth).send({ username: c.username }).expect(200);
      await t.http().delete(`/groups/${g.id}/members/${c.username}`).set(c.auth).expect(204);
      await sweep(c, g.id);
      assert.deepEqual((await t.http().get(`/groups/${g.id}`).set(a.auth).expect(200)).body.group.members, [a.username]);
    });

    it('a revoked device: 401 everywhere', async () => {
      const phone = await logIn(t, b.username, 'correct horse', 'lost phone');
      await t.http().delete(`/devices/${phone.deviceId}`).set(b.auth).expect(204);
      for (const res of await Promise.all([
        t.http().get(`/groups/${g.id}`).set(phone.auth),
        t.http().get('/groups').set(phone.auth),
        t.http().post('/groups').set(phone.auth).send({ name: 'x' }),
        t.http().post(`/groups/${g.id}`).set(phone.auth).send({ name: 'x' }),
        t.http().post(`/groups/${g.id}/members`).set(phone.auth).send({ username: a.username }),
        t.http().delete(`/groups/${g.id}/members/${b.username}`).set(phone.auth),
        t.http().post('/messages').set(phone.auth).send({ group: g.id, body: 'x' }),
        t.http().get(`/messages?group=${g.id}`).set(phone.auth),
      ]))
        expectError(res, 401, 'unauthorized');
    });
  });

  describe('races', () => {
    // As a send (#13): a change from a device logged out after its request authenticated (the
    // race made deterministic: the log-out runs just before the store is asked) changes nothing,
    // and nobody gets an event of it. 401.
    it('a group change from a device logged out meanwhile changes nothing: 401 (#13)', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const userId = (await t.core.store.findUser(a.username))?.id ?? assert.fail();
      const store = t.core.store;
      const ops = ['createGroup', 'renameGroup', 'addGroupMember', 'removeGroupMember'] as const;
      for (const op of ops) {
        const phone = await logIn(t, a.username, 'correct horse', 'phone');
        const real = store[op].bind(store) as (...args: unknown[]) => Promise<unknown>;
        (store as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
          await revokeDevice(t.core, { userId }, phone.deviceId);
          return real(...args);
        };
        const res = await {
          createGroup: () =>
            t
              .http()
              .post('/groups')
              .set(phone.auth)
              .send({ name: 'new', members: [c.username] }),
          renameGroup: () => t.http().post(`/groups/${g.id}`).set(phone.auth).send({ name: 'renamed' }),
          addGroupMember: () => t.http().post(`/groups/${g.id}/members`).set(phone.auth).send({ username: c.username }),
          removeGroupMember: () => t.http().delete(`/groups/${g.id}/members/${b.username}`).set(phone.auth),
        }[op]();
        (store as unknown as Record<string, unknown>)[op] = real;
        expectError(res, 401, 'unauthorized');
      }
      assert.deepEqual((await t.http().get('/groups').set(a.auth).expect(200)).body.groups, [g], 'no group made, g unchanged');
      assert.deepEqual((await t.http().get('/groups').set(c.auth).expect(200)).body.groups, []);
      assert.deepEqual(
        (await drain(t, b, b.cursor)).events.map(short),
        [`group created g [${[a.username, b.username].sort().join(',')}] owner ${a.username}`],
        'no event but the creation',
      );
    });

    it('concurrent adds never take a group past its limit', async () => {
      const a = await newUser(t);
      const g = await makeGroup(t, a, 'g', [await newUser(t)]);
      const others = await Promise.all([...Array(6).keys()].map(() => newUser(t)));
      const results = await Promise.all(
        others.map((o) => t.http().post(`/groups/${g.id}/members`).set(a.auth).send({ username: o.username })),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 409, 409, 409, 409]);
      assert.equal((await t.http().get(`/groups/${g.id}`).set(a.auth).expect(200)).body.group.members.length, 4);
    });

    it('a send racing a removal: the removed member has it before their removal or not at all', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      for (let round = 0; round < 5; round++) {
        const g = await makeGroup(t, a, `g${round}`, [b, c]);
        const from = (await drain(t, c, c.cursor)).cursor;
        const [sent, removed, own] = await Promise.all([
          groupSend(t, b, g.id, `race ${round}`),
          t.http().delete(`/groups/${g.id}/members/${c.username}`).set(a.auth),
          groupSend(t, c, g.id, `mine ${round}`),
        ]);
        assert.equal(sent.status, 201);
        assert.equal(removed.status, 204);
        const events = (await drain(t, c, from)).events;
        const removal = events.findIndex((e) => e.type === 'group' && e.change?.action === 'removed');
        assert.ok(removal >= 0);
        assert.equal(removal, events.length - 1, 'nothing after the removal');
        const seen = events.filter((e: EventBody) => e.message?.body === `race ${round}`).length;
        assert.ok(seen <= 1);
        // Their own send: stored (201, before the removal) or refused as not found.
        assert.ok(own.status === 201 || own.status === 404, String(own.status));
        const bodies = (await t.http().get(`/messages?group=${g.id}`).set(a.auth).expect(200)).body.messages.map(
          (m: { body: string }) => m.body,
        );
        assert.equal(bodies.includes(`mine ${round}`), own.status === 201);
      }
    });

    it('a member added gets every message sent after the add was acknowledged', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const chatter = [...Array(10).keys()].map((i) => groupSend(t, b, g.id, `m${i}`));
      await t.http().post(`/groups/${g.id}/members`).set(a.auth).send({ username: c.username }).expect(200);
      const afterAdd = await Promise.all([...Array(5).keys()].map((i) => sentToGroup(t, a, g.id, `after ${i}`)));
      await Promise.all(chatter);
      const events = (await drain(t, c, c.cursor)).events;
      const got = new Set(events.map((e) => e.message?.id));
      for (const m of afterAdd) assert.ok(got.has(m.id), `missed ${m.body}`);
      assert.equal(events[0]?.type, 'group', 'the add comes first in their stream');
    });
  });

  it('a group send is idempotent across a restart', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const g = await makeGroup(t, a, 'g', [b]);
    const first = await groupSend(t, a, g.id, 'once', 'restart-1').expect(201);
    const dbPath = t.config.dbPath;
    await t.close();
    t = await startApp({ RATE_MESSAGES_USER: 'off', DB_PATH: dbPath });
    const retry = await groupSend(t, a, g.id, 'once', 'restart-1').expect(200);
    assert.deepEqual(retry.body, first.body);
    expectError(await groupSend(t, a, g.id, 'other', 'restart-1'), 409, 'client_id_reused');
    assert.equal((await drain(t, b, b.cursor)).events.filter((e) => e.type === 'message').length, 1);
  });

  it('the fast lane and Koa answer group sends alike', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const g = await makeGroup(t, a, 'g', [b]);
    // JSON with a bearer token takes the fast lane; the same as text/plain goes through Koa.
    const viaLane = (body: object) => t.http().post('/messages').set(a.auth).send(body);
    const viaKoa = (body: object) => t.http().post('/messages').set(a.auth).set('Content-Type', 'text/plain').send(JSON.stringify(body));
    for (const body of [
      { group: g.id, to: b.username, body: 'both' },
      { body: 'neither' },
      { group: g.id + 1000, body: 'nowhere' },
      { group: 'x', body: 'bad' },
    ]) {
      const [lane, koa] = await Promise.all([viaLane(body), viaKoa(body)]);
      assert.equal(lane.status, koa.status, JSON.stringify(body));
      assert.deepEqual(lane.body, koa.body);
    }
    const lane = await viaLane({ group: g.id, body: 'lane', client_id: 'l' }).expect(201);
    const koa = await viaKoa({ group: g.id, body: 'koa', client_id: 'k' }).expect(201);
    assert.deepEqual(Object.keys(lane.body.message).sort(), Object.keys(koa.body.message).sort());
    assert.deepEqual((await viaKoa({ group: g.id, body: 'lane', client_id: 'l' }).expect(200)).body, lane.body);
  });
});
