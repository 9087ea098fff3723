// Devices per user and GET /devices are bounded, and device names are cleaned, through HTTP (#13).
import assert from 'node:assert/strict';
import { begin, expectError, logIn, newUser, startApp, type TestApp, waitHeld } from '../support/app';

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
