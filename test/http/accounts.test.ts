// Accounts and devices through HTTP (issue #2; logging out every other device, #14). Races of a
// log-in or a log-out with a reset or a revocation are in accounts-races.test.ts, the bounds on
// devices and their names in devices-bounds.test.ts (#13).
import assert from 'node:assert/strict';
import { begin, expectError, logIn, newUser, signUp, startApp, type TestApp, uniqueName, waitHeld } from '../support/app';

describe('accounts and devices (HTTP, #2)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  it('signs up with a lowercased name and refuses the same name in another case', async () => {
    const res = await t.http().post('/users').send({ username: 'Alice.B_c-1', password: 'password1' }).expect(201);
    assert.deepEqual(res.body, { user: { username: 'alice.b_c-1' } });
    expectError(await t.http().post('/users').send({ username: 'ALICE.B_C-1', password: 'password2' }), 409, 'username_taken');
  });

  it('refuses look-alike letters that lowercase to a-z (the Kelvin sign K)', async () => {
    await t.http().post('/users').send({ username: 'kiosk', password: 'password1' }).expect(201);
    // U+212A lowercases to an ASCII "k": it must not pass for one, nor reach the account "kiosk".
    const kelvin = '\u212Aiosk';
    expectError(await t.http().post('/users').send({ username: kelvin, password: 'password1' }), 400, 'invalid_request');
    expectError(await t.http().post('/sessions').send({ username: kelvin, password: 'password1' }), 401, 'invalid_credentials');
    const s = await t.http().post('/sessions').send({ username: 'KIOSK', password: 'password1' }).expect(201);
    expectError(
      await t.http().post('/messages').set('Authorization', `Bearer ${s.body.token}`).send({ to: kelvin, body: 'hi' }),
      404,
      'user_not_found',
    );
  });

  it('checks username and password rules, naming the field', async () => {
    for (const username of ['', 'a'.repeat(33), 'al ice', 'al!ce', 'ålice', 42]) {
      const res = await t.http().post('/users').send({ username, password: 'password1' });
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /username/);
    }
    for (const password of ['short', 'x'.repeat(257), 12345678]) {
      const res = await t.http().post('/users').send({ username: uniqueName(), password });
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /password/);
    }
    // 8 characters counted as people count them, not UTF-16 units
    await t.http().post('/users').send({ username: uniqueName(), password: '😀😀😀😀😀😀😀😀' }).expect(201);
    await t
      .http()
      .post('/users')
      .send({ username: 'x'.repeat(32), password: 'p'.repeat(256) })
      .expect(201);
  });

  it('never stores the password', async () => {
    await t.http().post('/users').send({ username: 'carol', password: 'my secret words' }).expect(201);
    const hash = (await t.core.store.findUser('carol'))?.passwordHash ?? '';
    assert.ok(hash.startsWith('scrypt$'));
    assert.ok(!hash.includes('my secret words'));
  });

  it('sign-up can be switched off', async () => {
    const closed = await startApp({ SIGNUP_ENABLED: 'false' });
    try {
      expectError(await closed.http().post('/users').send({ username: 'dave', password: 'password1' }), 403, 'forbidden');
      assert.equal(await closed.core.store.findUser('dave'), undefined);
    } finally {
      await closed.close();
    }
  });

  it('logs in as a named device with the head of the stream as cursor', async () => {
    const a = await newUser(t, 'a');
    const b = await newUser(t, 'b');
    await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'one' }).expect(201);
    const res = await t
      .http()
      .post('/sessions')
      .send({ username: a.username.toUpperCase(), password: 'correct horse', device_name: 'Kiosk 3' })
      .expect(201);
    assert.match(res.body.token, /^\S{40,}$/);
    assert.equal(res.body.device.name, 'Kiosk 3');
    assert.equal(typeof res.body.device.id, 'string');
    assert.equal(typeof res.body.cursor, 'string');
    // The head: polling from it returns nothing old
    const poll = await t
      .http()
      .get(`/poll?since=${res.body.cursor}&timeout=0`)
      .set({ Authorization: `Bearer ${res.body.token}` })
      .expect(200);
    assert.deepEqual(poll.body.events, []);
  });

  it('names a device after its User-Agent when no name is given', async () => {
    const name = uniqueName();
    await signUp(t, name);
    const res = await t
      .http()
      .post('/sessions')
      .set('User-Agent', 'curl/8.5.0')
      .send({ username: name, password: 'correct horse' })
      .expect(201);
    assert.equal(res.body.device.name, 'curl/8.5.0');
  });

  it('answers wrong user and wrong password the same way', async () => {
    const a = await newUser(t);
    const wrongPass = await t.http().post('/sessions').send({ username: a.username, password: 'wrong password' });
    const wrongUser = await t.http().post('/sessions').send({ username: 'nobody-here', password: 'wrong password' });
    const badName = await t.http().post('/sessions').send({ username: 'not a name!', password: 'wrong password' });
    for (const r of [wrongPass, wrongUser, badName]) expectError(r, 401, 'invalid_credentials');
    assert.deepEqual(wrongPass.body, wrongUser.body);
    assert.deepEqual(wrongUser.body, badName.body);
    expectError(await t.http().post('/sessions').send({ username: a.username }), 400, 'invalid_request');
  });

  it("lists only the caller's devices, marking the current one", async () => {
    const a1 = await newUser(t, 'dev');
    const a2 = await logIn(t, a1.username, 'correct horse', 'phone');
    const other = await newUser(t, 'other');
    const res = await t.http().get('/devices').set(a1.auth).expect(200);
    const devices = res.body.devices as Array<Record<string, unknown>>;
    assert.equal(devices.length, 2);
    assert.deepEqual(devices.map((d) => d.id).sort(), [a1.deviceId, a2.deviceId].sort());
    assert.ok(!devices.some((d) => d.id === other.deviceId));
    for (const d of devices) {
      assert.deepEqual(Object.keys(d).sort(), ['created_at', 'current', 'cursor', 'id', 'last_seen_at', 'name', 'online']);
      assert.match(String(d.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(d.current, d.id === a1.deviceId);
      assert.equal(typeof d.online, 'boolean');
      assert.equal(typeof d.cursor, 'string');
    }
  });

  it('DELETE /sessions/current ends this device only', async () => {
    const a1 = await newUser(t);
    const a2 = await logIn(t, a1.username);
    await t.http().delete('/sessions/current').set(a1.auth).expect(204);
    expectError(await t.http().get('/devices').set(a1.auth), 401, 'unauthorized');
    const res = await t.http().get('/devices').set(a2.auth).expect(200);
    assert.deepEqual(
      res.body.devices.map((d: { id: string }) => d.id),
      [a2.deviceId],
    );
  });

  it('revokes a device: its token stops working and its held poll gets 401 at once', async () => {
    const lost = await newUser(t, 'kiosk');
    const me = await logIn(t, lost.username, 'correct horse', 'laptop');
    const started = Date.now();
    const held = t.http().get('/poll?timeout=20').set(lost.auth);
    const heldRes = begin(held);
    await waitHeld(t, 1);
    await t.http().delete(`/devices/${lost.deviceId}`).set(me.auth).expect(204);
    const res = await heldRes;
    expectError(res, 401, 'unauthorized');
    assert.ok(Date.now() - started < 5000, 'answered at once, not at the timeout');
    expectError(await t.http().get('/poll?timeout=0').set(lost.auth), 401, 'unauthorized');
  });

  it("DELETE /devices?except=current ends every other device of the caller at once, and nobody else's (#14)", async () => {
    const me = await newUser(t, 'kiosk');
    const reloads = [];
    for (let i = 0; i < 3; i++) reloads.push(await logIn(t, me.username, 'correct horse', 'Front desk kiosk'));
    const other = await newUser(t, 'other');
    const started = Date.now();
    const held = begin(t.http().get(`/poll?since=${reloads[0]!.cursor}&timeout=20`).set(reloads[0]!.auth));
    await waitHeld(t, 1);
    const res = await t.http().delete('/devices?except=current').set(me.auth).expect(200);
    assert.deepEqual(res.body, { revoked: 3 });
    expectError(await held, 401, 'unauthorized');
    assert.ok(Date.now() - started < 5000, 'the held poll was answered at once, not at its timeout');
    for (const r of reloads) expectError(await t.http().get('/devices').set(r.auth), 401, 'unauthorized');
    const left = await t.http().get('/devices').set(me.auth).expect(200);
    assert.deepEqual(
      left.body.devices.map((d: { id: string; current: boolean }) => [d.id, d.current]),
      [[me.deviceId, true]],
    );
    await t.http().get('/devices').set(other.auth).expect(200);
    assert.deepEqual(
      (await t.http().delete('/devices?except=current').set(me.auth).expect(200)).body,
      { revoked: 0 },
      'nothing left to end',
    );
  });

  it('DELETE /devices?except=current also as a POST with _method=DELETE, for clients that only GET and POST (#14)', async () => {
    const me = await newUser(t, 'oldie');
    const spare = await logIn(t, me.username, 'correct horse', 'spare');
    const res = await t.http().post('/devices?except=current').type('form').send({ _method: 'DELETE', access_token: me.token }).expect(200);
    assert.deepEqual(res.body, { revoked: 1 });
    expectError(await t.http().get('/devices').set(spare.auth), 401, 'unauthorized');
    expectError(await t.http().post('/devices?except=current').set(me.auth), 405, 'method_not_allowed');
  });

  it('refuses DELETE /devices without except=current and ends nothing (#14)', async () => {
    const me = await newUser(t, 'careful');
    const spare = await logIn(t, me.username, 'correct horse', 'spare');
    for (const q of ['', '?except=', '?except=all', '?except=current&except=current']) {
      const res = await t.http().delete(`/devices${q}`).set(me.auth);
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /except/);
    }
    expectError(await t.http().delete('/devices?except=current'), 401, 'unauthorized');
    await t.http().get('/devices').set(spare.auth).expect(200);
    await t.http().get('/devices').set(me.auth).expect(200);
  });

  it("another user's device is 404, and stays alive", async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    expectError(await t.http().delete(`/devices/${b.deviceId}`).set(a.auth), 404, 'not_found');
    expectError(await t.http().delete('/devices/no-such-device').set(a.auth), 404, 'not_found');
    await t.http().get('/devices').set(b.auth).expect(200);
  });

  it('refuses missing, malformed and unknown tokens with 401', async () => {
    expectError(await t.http().get('/devices'), 401, 'unauthorized');
    expectError(await t.http().get('/devices').set('Authorization', 'Bearer nonsense'), 401, 'unauthorized');
    const a = await newUser(t);
    const forged = `${a.deviceId}.${'A'.repeat(43)}`;
    expectError(await t.http().get('/devices').set('Authorization', `Bearer ${forged}`), 401, 'unauthorized');
    const res = await t.http().get('/devices');
    assert.match(String(res.headers['www-authenticate']), /Bearer/);
  });
});
