// The Store contract's users and devices (#2, #5, #7, #13, #14): sign-ups, device cursors,
// revocation seen across stores, password resets and disabling, the cap on devices and expiry.
// Part of the shared contract (store-contract.ts runs it for every backend); only the interface
// is used.
import assert from 'node:assert/strict';
import type { Store } from '../../src/store';
import type { User } from '../../src/types';
import { newDevice, ROOMY, type StoreFixture } from './store-contract-fixture';

export function storeAccountsContract(fx: StoreFixture): void {
  let store: Store;
  let alice: User;
  let bob: User;
  beforeEach(() => ({ store, alice, bob } = fx));
  const { another, device, deviceEvicting, send } = fx;

  describe('users', () => {
    it('creates a user once per name; a racing sign-up of the same name gets null', async () => {
      assert.equal(await store.createUser('alice', 'other'), null);
      const racing = await Promise.all([store.createUser('carol', 'h1'), store.createUser('carol', 'h2')]);
      assert.equal(racing.filter((u) => u !== null).length, 1);
      assert.equal((await store.findUser('alice'))?.passwordHash, 'hash-a');
      assert.deepEqual(await store.findUser('nobody'), undefined);
    });

    it('finds users by name with their id, and lists them with their device counts', async () => {
      assert.deepEqual(await store.userByName('bob'), bob);
      assert.equal(await store.userByName('nobody'), undefined);
      await device('a1', alice);
      await device('a2', alice);
      const list = await store.listUsers();
      assert.deepEqual(
        list.map((u) => [u.username, u.devices, u.disabledAt]),
        [
          ['alice', 2, null],
          ['bob', 0, null],
        ],
      );
      assert.ok(list.every((u) => typeof u.createdAt === 'number' && u.createdAt > 0));
    });
  });

  describe('devices', () => {
    it('a new device starts at the head of its user stream', async () => {
      await send(bob, alice, 'x');
      await send(bob, alice, 'y');
      assert.equal((await device('dev2', alice)).cursor, 2);
      assert.equal((await device('dev3', bob)).cursor, 2);
    });

    it('cursors only move forward, are visible before they are written, and survive a restart (#5)', async () => {
      const d = await device('dev1', alice);
      assert.equal(d.cursor, 0);
      store.noteDeviceSeen('dev1', Date.now(), 5);
      store.noteDeviceSeen('dev1', Date.now(), 3);
      assert.equal((await store.getDeviceAuth('dev1'))?.cursor, 5, 'pending acknowledgement is already visible');
      assert.equal((await store.listDevices(alice.id))[0]?.cursor, 5);
      await store.flush();
      await store.close();
      store = await fx.reopen();
      assert.equal((await store.getDeviceAuth('dev1'))?.cursor, 5, 'written, survives a restart');
      assert.equal((await store.getDeviceAuth('dev1'))?.username, 'alice');
      assert.equal((await store.getDeviceAuth('dev1'))?.tokenHash, '07'.repeat(32), 'its hash, as hex');
      assert.equal(await store.deleteDevice('dev1', bob.id), 'not_found', "another user's device is not theirs to delete");
      assert.equal(await store.deleteDevice('dev1', alice.id), 'deleted');
      assert.equal(await store.getDeviceAuth('dev1'), undefined);
      assert.equal(await store.deleteDevice('dev1', alice.id), 'not_found', 'gone');
    });

    it("lists a user's devices oldest first; deleting all of them returns their ids", async () => {
      await device('a1', alice);
      await device('a2', alice);
      await device('b1', bob);
      assert.deepEqual(
        (await store.listDevices(alice.id)).map((d) => d.id),
        ['a1', 'a2'],
      );
      assert.deepEqual((await store.deleteDevicesOfUser(alice.id))?.sort(), ['a1', 'a2']);
      assert.deepEqual(await store.listDevices(alice.id), []);
      assert.equal(await store.getDeviceAuth('a1'), undefined);
      assert.ok(await store.getDeviceAuth('b1'));
    });

    it('deletes every device of a user but the one kept (#14)', async () => {
      await device('k1', alice);
      await device('k2', alice);
      await device('k3', alice);
      assert.deepEqual((await store.deleteDevicesOfUser(alice.id, 'k2'))?.sort(), ['k1', 'k3']);
      assert.deepEqual(
        (await store.listDevices(alice.id)).map((d) => d.id),
        ['k2'],
      );
      assert.equal(await store.getDeviceAuth('k1'), undefined);
      assert.ok(await store.getDeviceAuth('k2'));
    });

    it('a device asking to delete devices ends none if it was itself deleted first (#13)', async () => {
      await device('laptop', alice);
      await device('phone', alice);
      await device('tablet', alice);
      assert.equal(await store.deleteDevice('phone', alice.id, 'laptop'), 'deleted');
      assert.equal(await store.deleteDevice('laptop', alice.id, 'phone'), 'revoked', 'the phone was logged out first');
      assert.equal(await store.deleteDevicesOfUser(alice.id, 'phone'), null);
      assert.deepEqual(
        (await store.listDevices(alice.id)).map((d) => d.id),
        ['laptop', 'tablet'],
      );
      assert.equal(await store.deleteDevice('laptop', alice.id, 'laptop'), 'deleted', 'a device logs itself out');
      assert.equal(await store.deleteDevice('tablet', alice.id, 'laptop'), 'revoked');
      assert.deepEqual(await store.deleteDevicesOfUser(alice.id, 'tablet'), []);
    });

    it('a device deleted through another store on the same data is refused once that has propagated (#5)', async () => {
      await device('kiosk', alice);
      assert.ok(await store.getDeviceAuth('kiosk'), 'known (and cached, where the backend caches)');
      const admin = await another();
      assert.equal(await admin.deleteDevice('kiosk', alice.id), 'deleted');
      await fx.factory.propagated();
      assert.equal(await store.getDeviceAuth('kiosk'), undefined);
    });

    it('a new password ends every device of the user in the same write, and returns them (#7)', async () => {
      await device('a1', alice);
      await device('a2', alice);
      await device('b1', bob);
      assert.deepEqual((await store.setPassword(alice.id, 'hash-a2')).sort(), ['a1', 'a2']);
      assert.equal(await store.getDeviceAuth('a1'), undefined);
      assert.ok(await store.getDeviceAuth('b1'), 'other users keep theirs');
      assert.equal((await store.findUser('alice'))?.passwordHash, 'hash-a2');
    });

    it("disabling ends every device and refuses the user's tokens; enabling ends none (#7)", async () => {
      await device('a1', alice);
      const at = Date.now();
      assert.deepEqual(await store.setDisabled(alice.id, at), ['a1']);
      assert.equal(await store.getDeviceAuth('a1'), undefined);
      assert.equal((await store.findUser('alice'))?.disabledAt, at);
      assert.deepEqual(await store.setDisabled(alice.id, null), []);
      assert.equal((await store.findUser('alice'))?.disabledAt, null);
    });

    it('makes a device only against the current password of an enabled account (#13)', async () => {
      const current = await store.createDevice(newDevice('current', alice.id), { passwordHash: 'hash-a' }, ROOMY);
      assert.equal(current.status, 'created', 'the current hash');
      await store.setPassword(alice.id, 'hash-a2');
      assert.deepEqual(await store.createDevice(newDevice('after-reset', alice.id), { passwordHash: 'hash-a' }, ROOMY), {
        status: 'stale',
      });
      await store.setDisabled(alice.id, Date.now());
      assert.deepEqual(await store.createDevice(newDevice('after-disable', alice.id), { passwordHash: 'hash-a2' }, ROOMY), {
        status: 'disabled',
      });
      assert.deepEqual(
        await store.createDevice(newDevice('nobody', 9999), { passwordHash: 'hash-a2' }, ROOMY),
        { status: 'stale' },
        'no such user',
      );
      assert.deepEqual(await store.listDevices(alice.id), [], 'nothing was made');
      assert.equal(await store.getDeviceAuth('after-reset'), undefined);
      await store.setDisabled(alice.id, null);
      assert.equal((await store.createDevice(newDevice('again', alice.id), { passwordHash: 'hash-a2' }, ROOMY)).status, 'created');
    });
  });

  describe('bounded devices (#13)', () => {
    it('keeps a user within the cap by deleting their least recently used devices, a use not yet written included', async () => {
      const t0 = Date.now();
      await device('a1', alice);
      await device('a2', alice);
      await device('a3', alice);
      await device('b1', bob);
      store.noteDeviceSeen('a1', t0 + 60_000); // in use since: recorded, not yet written
      assert.ok(await store.getDeviceAuth('a2'), 'known (and cached, where the backend caches)');
      const made = await deviceEvicting('a4', alice, 3);
      assert.deepEqual(made.evicted, ['a2'], 'a2 and a3 were last used when made; a2 was made first');
      assert.equal(await store.getDeviceAuth('a2'), undefined);
      assert.deepEqual(
        (await store.listDevices(alice.id)).map((d) => d.id),
        ['a1', 'a3', 'a4'],
      );
      const one = await deviceEvicting('a5', alice, 1);
      assert.deepEqual(one.evicted, ['a3', 'a4', 'a1'], 'least recently used first, down to the new one alone');
      assert.deepEqual(
        (await store.listDevices(alice.id)).map((d) => d.id),
        ['a5'],
      );
      for (const id of ['a1', 'a3', 'a4']) assert.equal(await store.getDeviceAuth(id), undefined, id);
      assert.deepEqual(
        (await store.listDevices(bob.id)).map((d) => d.id),
        ['b1'],
        "another user's devices are not touched",
      );
      assert.deepEqual((await deviceEvicting('a6', alice, 5)).evicted, [], 'within the cap: nothing goes');
    });

    it('lists at most `limit` devices: the most recently used, oldest first', async () => {
      const t0 = Date.now();
      for (const id of ['a1', 'a2', 'a3', 'a4']) await device(id, alice);
      store.noteDeviceSeen('a1', t0 + 60_000);
      store.noteDeviceSeen('a3', t0 + 60_000);
      await store.flush();
      store.noteDeviceSeen('a2', t0 + 120_000); // not yet written: the listing still shows it
      const listed = await store.listDevices(alice.id, 2);
      assert.deepEqual(
        listed.map((d) => d.id),
        ['a1', 'a3'],
      );
      assert.deepEqual(
        (await store.listDevices(alice.id, 10)).map((d) => d.id),
        ['a1', 'a2', 'a3', 'a4'],
      );
      assert.equal((await store.listDevices(alice.id, 10))[1]?.lastSeenAt, t0 + 120_000);
    });

    it('deletes devices unused since a time, least recently used first, skipping a use not yet written', async () => {
      const t0 = Date.now();
      await device('a1', alice);
      await device('a2', alice);
      await device('b1', bob);
      await device('b2', bob);
      store.noteDeviceSeen('b2', t0 + 30_000);
      await store.flush(); // b2's use is written
      store.noteDeviceSeen('a2', t0 + 30_000); // a2's is not yet
      assert.ok(await store.getDeviceAuth('a1'), 'cached, where the backend caches');
      const cutoff = t0 + 10_000;
      const first = await store.deleteIdleDevices(cutoff, 1);
      assert.equal(first.length, 1, 'no more than the limit');
      const rest = await store.deleteIdleDevices(cutoff, 100);
      assert.deepEqual([...first, ...rest].sort(), ['a1', 'b1']);
      assert.equal(await store.getDeviceAuth('a1'), undefined, 'refused at once');
      assert.equal(await store.getDeviceAuth('b1'), undefined);
      assert.ok(await store.getDeviceAuth('a2'), 'used since the cutoff, not yet written: kept');
      assert.ok(await store.getDeviceAuth('b2'), 'used since the cutoff, written: kept');
      assert.deepEqual(await store.deleteIdleDevices(cutoff, 100), [], 'nothing left to expire');
      assert.deepEqual((await store.deleteIdleDevices(t0 + 60_000, 100)).sort(), ['a2', 'b2'], 'later, they go too');
      await store.flush(); // a2's pending use is not written back for a device that is gone
      assert.deepEqual(await store.listDevices(alice.id), []);
    });
  });
}
