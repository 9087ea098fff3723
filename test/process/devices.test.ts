// Devices expire (issue #13): the real server's sweep logs out devices unused for
// DEVICE_EXPIRY, answers their held polls 401 and keeps the ones in use.
import assert from 'node:assert/strict';
import { call, logInAs, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';

describe('device expiry (process, #13)', function () {
  this.timeout(30_000);
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
  });

  it('logs out devices unused for DEVICE_EXPIRY, held polls answered 401 at once, and keeps a device that polls', async () => {
    server = await startServer({ env: { DEVICE_EXPIRY: '2s' } }); // swept every second
    const url = server.url;
    const held = await signUpAndLogIn(url, 'tidy', 'held poll');
    const idle = await logInAs(url, 'tidy', 'idle');
    const busy = await logInAs(url, 'tidy', 'busy');
    const started = Date.now();
    // One long poll, and nothing more: its last use is when the poll began.
    const heldPoll = call(url, 'GET', `/poll?since=${held.cursor}&timeout=10`, { token: held.token });
    let answered = 0;
    void heldPoll.then(() => (answered = Date.now() - started));
    // A device in use: it polls (timeout=0) every few hundred milliseconds.
    while (Date.now() - started < 5000) {
      assert.equal((await call(url, 'GET', `/poll?since=${busy.cursor}&timeout=0`, { token: busy.token })).status, 200);
      await sleep(300);
    }
    const res = await heldPoll;
    assert.equal(res.status, 401, `the held poll: ${res.status} ${res.text}`);
    assert.ok(answered >= 2000 && answered < 5000, `answered ${answered} ms in: after DEVICE_EXPIRY, before its own timeout`);
    assert.equal((await call(url, 'GET', '/devices', { token: idle.token })).status, 401, 'the idle device is logged out');
    const left = await call(url, 'GET', '/devices', { token: busy.token });
    assert.equal(left.status, 200);
    assert.deepEqual(
      (left.body.devices as Array<{ id: string }>).map((d) => d.id),
      [busy.deviceId],
    );
  });
});
