// Accounts and devices through HTTP (issue #2).
import assert from 'node:assert/strict';
import { resetPassword, setUserDisabled } from '../../src/auth';
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

describe('a log-in in progress meets a password reset or a disabled account (HTTP, #13)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  /**
   * Runs `meanwhile` inside the next log-in's window: started once the log-in has read the
   * password hash (its scrypt then runs beside it), and finished before the log-in goes on to
   * make its device. Deterministic, whatever the two hashes cost.
   */
  function duringNextLogIn(meanwhile: () => Promise<unknown>): { ran: () => boolean } {
    const store = t.core.store;
    const findUser = store.findUser.bind(store);
    const createDevice = store.createDevice.bind(store);
    let running: Promise<unknown> | null = null;
    store.findUser = async (name) => {
      const u = await findUser(name);
      running ??= meanwhile();
      return u;
    };
    store.createDevice = async (d, checked) => {
      await running;
      return createDevice(d, checked);
    };
    return { ran: () => running !== null };
  }

  it('a reset that lands while the log-in checks the old password ends that log-in: 401, no device', async () => {
    const pat = await newUser(t, 'pat'); // logged in once already, with the old password
    let revoked = -1;
    const window = duringNextLogIn(async () => {
      revoked = (await resetPassword(t.core, pat.username, 'brand new password')).revoked;
    });
    const res = await t.http().post('/sessions').send({ username: pat.username, password: 'correct horse', device_name: 'attacker' });
    assert.ok(window.ran());
    expectError(res, 401, 'invalid_credentials');
    assert.equal(revoked, 1, 'the reset logged out the earlier device');
    expectError(await t.http().get('/devices').set(pat.auth), 401, 'unauthorized');
    const user = (await t.core.store.userByName(pat.username)) ?? assert.fail();
    assert.deepEqual(await t.core.store.listDevices(user.id), [], 'no device survived the reset, none was made after it');
    const now = await logIn(t, pat.username, 'brand new password', 'owner');
    assert.deepEqual(
      (await t.core.store.listDevices(user.id)).map((d) => d.id),
      [now.deviceId],
    );
  });

  it('disabling the account while the log-in checks the password ends that log-in: 403, no device', async () => {
    const pat = await newUser(t, 'pat');
    duringNextLogIn(() => setUserDisabled(t.core, pat.username, true));
    expectError(await t.http().post('/sessions').send({ username: pat.username, password: 'correct horse' }), 403, 'forbidden');
    const user = (await t.core.store.userByName(pat.username)) ?? assert.fail();
    assert.deepEqual(await t.core.store.listDevices(user.id), []);
    await setUserDisabled(t.core, pat.username, false);
    await logIn(t, pat.username); // enabled again: the same password works
  });

  it('with nothing in between, the same log-in goes through (the hooks change nothing by themselves)', async () => {
    const pat = await newUser(t, 'pat');
    const window = duringNextLogIn(async () => undefined);
    await logIn(t, pat.username);
    assert.ok(window.ran());
  });
});
