// A log-in or a log-out racing a password reset, a disabled account or the asking device's own
// log-out, through HTTP (#13): each race is made deterministic by hooking the store between the
// request's authentication and its write.
import assert from 'node:assert/strict';
import { resetPassword, revokeDevice, setUserDisabled } from '../../src/auth';
import { expectError, logIn, newUser, startApp, type TestApp } from '../support/app';

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
