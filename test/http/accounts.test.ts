// Accounts and devices through HTTP (issue #2; logging out every other device, #14).
import assert from 'node:assert/strict';
import { resetPassword, revokeDevice, setUserDisabled } from '../../src/auth';
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
    store.createDevice = async (d, checked, maxDevices) => {
      await running;
      return createDevice(d, checked, maxDevices);
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

describe('a device logged out while its own request to log out others is under way (HTTP, #13)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  /**
   * Runs `meanwhile` once, after the next request that deletes devices has authenticated and
   * before the store deletes anything: the race made deterministic. `meanwhile`'s own deletes
   * go straight through.
   */
  function beforeNextDelete(meanwhile: () => Promise<unknown>): void {
    const store = t.core.store;
    const deleteDevice = store.deleteDevice.bind(store);
    const deleteDevicesOfUser = store.deleteDevicesOfUser.bind(store);
    let ran = false;
    const first = async (): Promise<void> => {
      if (ran) return;
      ran = true;
      await meanwhile();
    };
    store.deleteDevice = async (...args) => {
      await first();
      return deleteDevice(...args);
    };
    store.deleteDevicesOfUser = async (...args) => {
      await first();
      return deleteDevicesOfUser(...args);
    };
  }

  // A lost phone: its owner logs it out from the laptop while the phone's own "log out every
  // other device" (or "log out the laptop") is under way. The phone was logged out first; its
  // request must not then log out the laptop, leaving the owner with no device at all.
  for (const request of ['DELETE /devices?except=current', 'DELETE /devices/LAPTOP']) {
    it(`${request} from a device logged out after it authenticated ends no device: 401`, async () => {
      const laptop = await newUser(t, 'owner');
      const phone = await logIn(t, laptop.username, 'correct horse', 'phone');
      const userId = (await t.core.store.findUser(laptop.username))?.id ?? assert.fail();
      beforeNextDelete(() => revokeDevice(t.core, { userId }, phone.deviceId));
      const path = request === 'DELETE /devices?except=current' ? '/devices?except=current' : `/devices/${laptop.deviceId}`;
      expectError(await t.http().delete(path).set(phone.auth), 401, 'unauthorized');
      const left = await t.http().get('/devices').set(laptop.auth).expect(200);
      assert.deepEqual(
        left.body.devices.map((d: { id: string }) => d.id),
        [laptop.deviceId],
        'the laptop is still logged in; the phone is not',
      );
    });
  }
});

describe('devices per user are bounded, and so is GET /devices (HTTP, #13)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const listed = async (app: TestApp, auth: Record<string, string>) =>
    (await app.http().get('/devices').set(auth).expect(200)).body.devices as Array<{ id: string; current: boolean }>;

  it("a log-in past MAX_DEVICES_PER_USER logs out the user's least recently used device, and a held poll of it gets 401 at once", async () => {
    t = await startApp({ MAX_DEVICES_PER_USER: '3' });
    const app = t;
    const d1 = await newUser(app, 'many');
    const d2 = await logIn(app, d1.username, 'correct horse', 'two');
    const d3 = await logIn(app, d1.username, 'correct horse', 'three');
    const held = begin(app.http().get(`/poll?since=${d1.cursor}&timeout=20`).set(d1.auth)); // d1 in use
    await waitHeld(app, 1);
    await app.http().get(`/poll?since=${d3.cursor}&timeout=0`).set(d3.auth).expect(200); // d3 in use, later
    const d4 = await logIn(app, d1.username, 'correct horse', 'four');
    expectError(await app.http().get('/devices').set(d2.auth), 401, 'unauthorized'); // unused since it logged in
    assert.deepEqual(
      (await listed(app, d4.auth)).map((d) => d.id),
      [d1.deviceId, d3.deviceId, d4.deviceId],
    );
    assert.equal(app.core.hub.stats().held, 1, "d1's poll is still held");
    const d5 = await logIn(app, d1.username, 'correct horse', 'five'); // now d1 is the least recently used
    const started = Date.now();
    expectError(await held, 401, 'unauthorized');
    assert.ok(Date.now() - started < 1000, 'answered at once, not at its timeout');
    assert.deepEqual(
      (await listed(app, d5.auth)).map((d) => d.id),
      [d3.deviceId, d4.deviceId, d5.deviceId],
    );
    const other = await newUser(app, 'other');
    assert.equal((await listed(app, other.auth)).length, 1, "other users' devices are not touched");
  });

  it('at the defaults, 150 log-ins of one account leave 100 devices, and GET /devices stays small', async () => {
    t = await startApp();
    const app = t;
    const first = await newUser(app, 'kiosk');
    let last = first;
    for (let i = 1; i < 150; i++) last = await logIn(app, first.username, 'correct horse', `kiosk ${i}`);
    const res = await app.http().get('/devices').set(last.auth).expect(200);
    const devices = res.body.devices as Array<{ id: string; current: boolean }>;
    assert.equal(devices.length, 100);
    assert.equal(devices.filter((d) => d.current).length, 1);
    assert.ok(res.text.length < 32 * 1024, `${res.text.length} bytes`);
    expectError(await app.http().get('/devices').set(first.auth), 401, 'unauthorized');
  });

  it('lists at most MAX_DEVICES_PER_USER, the caller among them, also while more remain from a higher cap', async () => {
    t = await startApp({ MAX_DEVICES_PER_USER: '5' });
    const app = t;
    const me = await newUser(app, 'lowered');
    const user = (await app.core.store.userByName(me.username)) ?? assert.fail();
    const hash = (await app.core.store.findUser(me.username))?.passwordHash ?? assert.fail();
    // Devices made while the cap was higher (the store takes the cap it is given).
    for (let i = 0; i < 20; i++) {
      await app.core.store.createDevice(
        { id: `old-device-${i}`, userId: user.id, name: 'old', tokenHash: Buffer.alloc(32) },
        { passwordHash: hash },
        1000,
      );
    }
    const devices = await listed(app, me.auth);
    assert.equal(devices.length, 5);
    assert.ok(devices.some((d) => d.id === me.deviceId && d.current));
    // The next log-in brings the account down to the cap.
    const next = await logIn(app, me.username, 'correct horse', 'next');
    assert.equal((await app.core.store.listDevices(user.id)).length, 5);
    assert.equal((await listed(app, next.auth)).length, 5);
  });
});

describe('device names (HTTP, #13)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  it('refuses a device_name with control characters (an escape sequence, a tab, a C1 CSI), naming the field; makes no device', async () => {
    const a = await newUser(t, 'named');
    for (const name of ['\u001b[2J\u001b]0;pwned\u0007', 'front\tdesk', 'x\u009b31m', 'one\nline two', 'nul\u0000']) {
      const res = await t.http().post('/sessions').send({ username: a.username, password: 'correct horse', device_name: name });
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /^device_name: /);
    }
    expectError(
      await t
        .http()
        .post('/sessions')
        .send({ username: a.username, password: 'correct horse', device_name: 'x'.repeat(65) }),
      400,
      'invalid_request',
    );
    assert.equal(((await t.http().get('/devices').set(a.auth).expect(200)).body.devices as unknown[]).length, 1);
  });

  it('trims white space around a name and keeps every other character, right-to-left marks included', async () => {
    const a = await newUser(t, 'named');
    for (const [given, stored] of [
      ['  laptop\n', 'laptop'],
      ['שלום\u200f', 'שלום\u200f'],
      ['😀'.repeat(64), '😀'.repeat(64)],
    ]) {
      const res = await t
        .http()
        .post('/sessions')
        .send({ username: a.username, password: 'correct horse', device_name: given })
        .expect(201);
      assert.equal(res.body.device.name, stored);
    }
  });

  it('cleans a User-Agent of control characters and cuts it to 64 characters when it names the device', async () => {
    const a = await newUser(t, 'agent');
    const res = await t
      .http()
      .post('/sessions')
      .set('User-Agent', `evil\u009b2J\tagent ${'y'.repeat(100)}`)
      .send({ username: a.username, password: 'correct horse' })
      .expect(201);
    // Header bytes arrive as Latin-1: the client's UTF-8 for U+009B is two characters, the second
    // of them the C1 control (a one-character CSI to a terminal).
    const name = res.body.device.name as string;
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    assert.doesNotMatch(name, /[\u0000-\u001f\u007f-\u009f]/);
    assert.match(name, /^evil\S* 2J agent y+$/, 'the CSI and the tab became spaces');
    assert.equal([...name].length, 64);
  });
});
