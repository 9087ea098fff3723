// Sending and history through HTTP (issue #2).
import assert from 'node:assert/strict';
import { expectError, newUser, send, startApp, type TestApp } from '../support/app';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('messages (HTTP, #2)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  it('sends a message in the contract shape, with server time', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const before = Date.now();
    const res = await t
      .http()
      .post('/messages')
      .set(a.auth)
      .send({ to: b.username.toUpperCase(), body: 'hello', client_id: 'k1' })
      .expect(201);
    const m = res.body.message;
    assert.deepEqual(Object.keys(m).sort(), ['body', 'client_id', 'from', 'group', 'id', 'sent_at', 'to']);
    assert.equal(m.from, a.username);
    assert.equal(m.to, b.username);
    assert.equal(m.group, null, 'a 1:1 message has no group (#15)');
    assert.equal(m.body, 'hello');
    assert.equal(m.client_id, 'k1');
    assert.ok(Number.isInteger(m.id));
    assert.match(m.sent_at, ISO);
    assert.ok(Date.parse(m.sent_at) >= before - 5 && Date.parse(m.sent_at) <= Date.now() + 5);
  });

  it('ids increase in the order messages were stored', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(t, i % 2 ? b : a, i % 2 ? a.username : b.username, `m${i}`)).body.message.id);
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
    );
    assert.equal(new Set(ids).size, 5);
  });

  it('stores and returns the body exactly: Unicode, new lines, HTML, SQL', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const bodies = [
      '<b>bold</b><script>alert(1)</script>',
      "'); DROP TABLE messages; --",
      'line1\nline2\r\n\ttab',
      '😀 ünïcødé \u2028 \u2029 \u200b',
      'a\u0000b',
      ' padded  ',
    ];
    for (const body of bodies) {
      const res = await send(t, a, b.username, body);
      assert.equal(res.body.message.body, body);
    }
    const hist = await t.http().get(`/messages?with=${a.username}&limit=50`).set(b.auth).expect(200);
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      bodies,
    );
  });

  it('refuses empty, blank and too long bodies, and unknown recipients', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    for (const body of ['', '   \n\t ', '\u3000', 'x'.repeat(4001)]) {
      const res = await t.http().post('/messages').set(a.auth).send({ to: b.username, body });
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /body/);
    }
    await send(t, a, b.username, 'x'.repeat(4000));
    await send(t, a, b.username, '😀'.repeat(4000)); // 4000 characters, 8000 UTF-16 units
    expectError(await t.http().post('/messages').set(a.auth).send({ to: 'nobody', body: 'hi' }), 404, 'user_not_found');
    expectError(await t.http().post('/messages').set(a.auth).send({ to: 'not a name!', body: 'hi' }), 404, 'user_not_found');
    expectError(await t.http().post('/messages').set(a.auth).send({ body: 'hi' }), 400, 'invalid_request');
    expectError(
      await t
        .http()
        .post('/messages')
        .set(a.auth)
        .send({ to: b.username, body: 'hi', client_id: 'x'.repeat(65) }),
      400,
      'invalid_request',
    );
    expectError(await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'hi', client_id: '' }), 400, 'invalid_request');
  });

  it('client_id makes a send idempotent; another body or recipient is 409', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    const first = await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'once', client_id: 'abc' }).expect(201);
    const retry = await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'once', client_id: 'abc' }).expect(200);
    assert.deepEqual(retry.body, first.body);
    expectError(
      await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'twice', client_id: 'abc' }),
      409,
      'client_id_reused',
    );
    expectError(
      await t.http().post('/messages').set(a.auth).send({ to: c.username, body: 'once', client_id: 'abc' }),
      409,
      'client_id_reused',
    );
    // Racing retries of one send create one message
    const racing = await Promise.all(
      Array.from({ length: 8 }, () => t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'race', client_id: 'r1' })),
    );
    assert.deepEqual(racing.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(racing.map((r) => r.body.message.id)).size, 1);
    const hist = await t.http().get(`/messages?with=${b.username}`).set(a.auth).expect(200);
    assert.deepEqual(
      hist.body.messages.map((m: { body: string }) => m.body),
      ['once', 'race'],
    );
  });

  it('shows client_id to the sender only', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'x', client_id: 'mine' }).expect(201);
    const mine = await t.http().get(`/messages?with=${b.username}`).set(a.auth).expect(200);
    const theirs = await t.http().get(`/messages?with=${a.username}`).set(b.auth).expect(200);
    assert.equal(mine.body.messages[0].client_id, 'mine');
    assert.equal(theirs.body.messages[0].client_id, null);
  });

  it('pages history with before / after and exact has_more', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await send(t, i % 3 ? a : b, i % 3 ? b.username : a.username, `m${i}`)).body.message.id);
      await send(t, a, c.username, `noise${i}`); // another conversation interleaved
    }
    const get = async (q: string) => (await t.http().get(`/messages?with=${b.username}&${q}`).set(a.auth).expect(200)).body;
    const idsOf = (body: { messages: { id: number }[] }) => body.messages.map((m) => m.id);

    const newest = await get('limit=5');
    assert.deepEqual(idsOf(newest), ids.slice(7));
    assert.equal(newest.has_more, true);
    const page2 = await get(`limit=5&before=${ids[7]}`);
    assert.deepEqual(idsOf(page2), ids.slice(2, 7));
    assert.equal(page2.has_more, true);
    const page3 = await get(`limit=5&before=${ids[2]}`);
    assert.deepEqual(idsOf(page3), ids.slice(0, 2));
    assert.equal(page3.has_more, false);
    const exact = await get(`limit=2&before=${ids[2]}`);
    assert.deepEqual(idsOf(exact), ids.slice(0, 2));
    assert.equal(exact.has_more, false, 'exactly limit left: has_more is false');

    const fwd = await get(`limit=5&after=${ids[0]}`);
    assert.deepEqual(idsOf(fwd), ids.slice(1, 6));
    assert.equal(fwd.has_more, true);
    const fwdEnd = await get(`limit=6&after=${ids[5]}`);
    assert.deepEqual(idsOf(fwdEnd), ids.slice(6));
    assert.equal(fwdEnd.has_more, false);
    const none = await get(`after=${ids[11]}`);
    assert.deepEqual(none, { messages: [], has_more: false });

    const all = await get('');
    assert.equal(all.messages.length, 12, 'default limit 50 holds all');
    expectError(await t.http().get(`/messages?with=${b.username}&before=5&after=1`).set(a.auth), 400, 'invalid_request');
    for (const q of ['limit=0', 'limit=201', 'limit=abc', 'before=-1', 'after=1.5']) {
      expectError(await t.http().get(`/messages?with=${b.username}&${q}`).set(a.auth), 400, 'invalid_request');
    }
    expectError(await t.http().get('/messages?with=nobody').set(a.auth), 404, 'user_not_found');
    expectError(await t.http().get('/messages').set(a.auth), 400, 'invalid_request');
    const limit200 = await get('limit=200');
    assert.equal(limit200.messages.length, 12);
  });

  it('notes to self are a conversation of one', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await send(t, a, a.username, 'remember the milk');
    await send(t, a, b.username, 'not a note');
    const res = await t.http().get(`/messages?with=${a.username}`).set(a.auth).expect(200);
    assert.deepEqual(
      res.body.messages.map((m: { body: string }) => m.body),
      ['remember the milk'],
    );
    assert.equal(res.body.messages[0].client_id, null);
  });

  it('a third user cannot read a conversation they are not in', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const eve = await newUser(t);
    await send(t, a, b.username, 'private');
    const res = await t.http().get(`/messages?with=${a.username}`).set(eve.auth).expect(200);
    assert.deepEqual(res.body, { messages: [], has_more: false });
  });
});
