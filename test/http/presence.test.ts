// Presence through HTTP (#14): who GET /presence names, and when a device is `online` in
// GET /devices. The contract's rule stays (a device holding a poll now or that polled within
// PRESENCE_WINDOW); on top of it, someone who has just sent a message is online, and a device
// logged out or revoked stops counting at once.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { revokeVanishedDevices } from '../../src/auth';
import { begin, expectError, logIn, newUser, send, startApp, type TestApp, waitHeld } from '../support/app';
import { sleep } from '../support/util';

describe('presence (HTTP, #14)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  const online = async (viewer: { auth: Record<string, string> }): Promise<string[]> =>
    (await t.http().get('/presence').set(viewer.auth).expect(200)).body.online as string[];

  it('counts someone who has just sent a message as online, though they never polled (#14)', async () => {
    const a = await newUser(t, 'sender');
    const b = await newUser(t, 'reader');
    assert.deepEqual(await online(b), [], 'nobody has polled or sent yet');
    await send(t, a, b.username, 'hello from a script that never polls');
    assert.deepEqual(await online(b), [a.username]);
    // A retry of the same send (answered 200, nothing stored) is the sender being there too.
    const late = await startApp({ PRESENCE_WINDOW: '1' });
    try {
      const c = await newUser(late, 'retrier');
      const d = await newUser(late, 'other');
      await late.http().post('/messages').set(c.auth).send({ to: d.username, body: 'x', client_id: 'k1' }).expect(201);
      await sleep(1200);
      assert.deepEqual((await late.http().get('/presence').set(d.auth).expect(200)).body.online, [], 'aged out');
      await late.http().post('/messages').set(c.auth).send({ to: d.username, body: 'x', client_id: 'k1' }).expect(200);
      assert.deepEqual((await late.http().get('/presence').set(d.auth).expect(200)).body.online, [c.username]);
    } finally {
      await late.close();
    }
  });

  it('a refused send does not make its sender online (#14)', async () => {
    const a = await newUser(t, 'refused');
    const b = await newUser(t, 'viewer');
    expectError(await t.http().post('/messages').set(a.auth).send({ to: 'nobody-by-this-name', body: 'x' }), 404, 'user_not_found');
    assert.deepEqual(await online(b), []);
  });

  it('a device that logs out stops counting at once, within the window (#14)', async () => {
    const a = await newUser(t, 'leaver');
    const b = await newUser(t, 'stayer');
    await t.http().get(`/poll?since=${a.cursor}&timeout=0`).set(a.auth).expect(200);
    assert.deepEqual(await online(b), [a.username], 'polled a moment ago');
    await t.http().delete('/sessions/current').set(a.auth).expect(204);
    assert.deepEqual(await online(b), [], 'logged out: gone at once, not 60 s later');
  });

  it('a user whose only online device is revoked while it holds a poll drops out at once (#14)', async () => {
    const kiosk = await newUser(t, 'kiosk');
    const phone = await logIn(t, kiosk.username, 'correct horse', 'phone'); // never polls
    const viewer = await newUser(t, 'viewer');
    const held = begin(t.http().get(`/poll?since=${kiosk.cursor}&timeout=20`).set(kiosk.auth));
    await waitHeld(t, 1);
    assert.deepEqual(await online(viewer), [kiosk.username]);
    await t.http().delete(`/devices/${kiosk.deviceId}`).set(phone.auth).expect(204);
    expectError(await held, 401, 'unauthorized');
    // The held poll's end (answered 401) must not count as the device being there.
    await sleep(50);
    assert.deepEqual(await online(viewer), [], 'revoked: gone at once');
  });

  it('the user stays online through another device that polled; only the revoked ones stop (#14)', async () => {
    const one = await newUser(t, 'multi');
    const two = await logIn(t, one.username, 'correct horse', 'second');
    const viewer = await newUser(t, 'viewer');
    await t.http().get(`/poll?since=${one.cursor}&timeout=0`).set(one.auth).expect(200);
    await t.http().get(`/poll?since=${two.cursor}&timeout=0`).set(two.auth).expect(200);
    await t.http().delete('/sessions/current').set(one.auth).expect(204);
    assert.deepEqual(await online(viewer), [one.username], 'the second device polled within the window');
    await t.http().delete('/devices?except=current').set(viewer.auth).expect(200);
    assert.deepEqual(await online(viewer), [one.username], "another user's devices are not touched");
    const three = await logIn(t, one.username, 'correct horse', 'third');
    assert.deepEqual((await t.http().delete('/devices?except=current').set(three.auth).expect(200)).body, { revoked: 1 });
    assert.deepEqual(await online(viewer), [], 'the device that polled was revoked; the one asking never polled');
  });

  it("keeps the contract's window: a device that polled within PRESENCE_WINDOW counts, then ages out (#14)", async () => {
    const p = await startApp({ PRESENCE_WINDOW: '1' });
    try {
      const a = await newUser(p, 'recent');
      const b = await newUser(p, 'viewer');
      await p.http().get(`/poll?since=${a.cursor}&timeout=0`).set(a.auth).expect(200);
      assert.deepEqual((await p.http().get('/presence').set(b.auth).expect(200)).body.online, [a.username]);
      await sleep(1300);
      assert.deepEqual((await p.http().get('/presence').set(b.auth).expect(200)).body.online, []);
    } finally {
      await p.close();
    }
  });

  it('GET /devices shows a device online only while it holds a poll (#14)', async () => {
    const a = await newUser(t, 'devs');
    const polledJustNow = await logIn(t, a.username, 'correct horse', 'polled just now');
    const onlineOf = async (): Promise<Record<string, boolean>> => {
      const res = await t.http().get('/devices').set(a.auth).expect(200);
      return Object.fromEntries((res.body.devices as Array<{ name: string; online: boolean }>).map((d) => [d.name, d.online]));
    };
    // Polled a moment ago, well within PRESENCE_WINDOW, but holds nothing now: not online.
    await t.http().get(`/poll?since=${polledJustNow.cursor}&timeout=0`).set(polledJustNow.auth).expect(200);
    assert.deepEqual(await onlineOf(), { 'test device': false, 'polled just now': false });
    const held = begin(t.http().get(`/poll?since=${polledJustNow.cursor}&timeout=1`).set(polledJustNow.auth));
    await waitHeld(t, 1);
    assert.deepEqual(await onlineOf(), { 'test device': false, 'polled just now': true });
    await held;
    assert.deepEqual(await onlineOf(), { 'test device': false, 'polled just now': false }, 'its poll ended');
  });

  it('a device deleted by another process (the admin command) stops counting once the server notices (#14)', async () => {
    const a = await newUser(t, 'cli');
    const b = await newUser(t, 'viewer');
    await t.http().get(`/poll?since=${a.cursor}&timeout=0`).set(a.auth).expect(200);
    assert.deepEqual(await online(b), [a.username]);
    // What `npm run admin -- revoke-device` does: another connection deletes the row.
    const other = new Database(t.config.dbPath);
    try {
      other.prepare('DELETE FROM devices WHERE id = ?').run(a.deviceId);
    } finally {
      other.close();
    }
    await sleep(5); // the store reads data_version once per turn
    await revokeVanishedDevices(t.core); // what main.ts's watcher calls when data_version moves
    assert.deepEqual(await online(b), []);
  });
});
