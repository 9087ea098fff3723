// The Store interface's promises (src/store/store.ts), as one test body that runs against any
// backend: each backend's test file calls storeContract() with a factory of fresh stores (ntfy
// runs its message-cache tests against each cache implementation the same way). Only the
// interface is used here, no SQL and nothing backend-specific; what only one backend has (its
// pragmas, its batching, its files) is tested beside the call, in that backend's own file.
import assert from 'node:assert/strict';
import { ANSWER_BODY_CHARS, type NewDevice, type Store } from '../../src/store';
import type { EventRow, User } from '../../src/types';
import { searchContract } from './search-contract';
import { storeGroupsContract } from './store-contract-groups';
import { sleep } from './util';

export interface StoreFactory {
  /** A store on a new, empty database. */
  open(): Promise<Store>;
  /**
   * Another store on the same database as `store`: another process beside it, or the same
   * server restarted once `store` is closed.
   */
  another(store: Store): Promise<Store>;
  /** Waits until what one store wrote is seen by every other store on the same database. */
  propagated(): Promise<void>;
}

/** A cap on devices per user that the tests below never reach, unless they mean to. */
const ROOMY = 100;

/** Test-only device tokens: what is stored is all that matters here. */
function newDevice(id: string, userId: number): NewDevice {
  return { id, userId, name: `device ${id}`, tokenHash: Buffer.alloc(32, 7) };
}

function seqs(events: readonly EventRow[]): number[] {
  return events.map((e) => e.seq);
}

function bodies(events: readonly EventRow[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'message':
        return e.message.body;
      case 'read':
        return `read ${e.with} ${e.upTo}`;
      case 'group':
        return `group ${e.change.action} ${e.group.members.join(',')}`;
      case 'group_read':
        return `read group ${e.upTo}`;
    }
  });
}

export function storeContract(backend: string, factory: StoreFactory): void {
  describe(`Store contract: ${backend} (#2, #12)`, () => {
    let store: Store;
    const others: Store[] = [];
    let alice: User;
    let bob: User;

    beforeEach(async () => {
      store = await factory.open();
      alice = (await store.createUser('alice', 'hash-a')) ?? assert.fail('alice');
      bob = (await store.createUser('bob', 'hash-b')) ?? assert.fail('bob');
    });
    afterEach(async () => {
      for (const o of others.splice(0)) await o.close();
      await store.close();
    });

    async function another(): Promise<Store> {
      const o = await factory.another(store);
      others.push(o);
      return o;
    }

    /** A device the log-in way: checked against the user's current password hash. */
    async function device(id: string, user: User, s: Store = store) {
      return (await deviceEvicting(id, user, ROOMY, s)).device;
    }

    /** device(), under a cap on the user's devices: what it made and what it deleted for room. */
    async function deviceEvicting(id: string, user: User, maxDevices: number, s: Store = store) {
      const u = (await s.findUser(user.username)) ?? assert.fail(user.username);
      const made = await s.createDevice(newDevice(id, user.id), { passwordHash: u.passwordHash }, maxDevices);
      return made.status === 'created' ? made : assert.fail(`no device: ${made.status}`);
    }

    function send(from: User, to: User, body: string, clientId: string | null = null) {
      return store.sendMessage({ sender: from, recipient: to, body, clientId });
    }

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

    describe('the event stream', () => {
      it('numbers each user stream 1, 2, 3 and a note to self is one event', async () => {
        const r1 = await send(alice, bob, 'hi');
        const r2 = await send(bob, alice, 'yo');
        const r3 = await send(alice, alice, 'note');
        if (r1.status !== 'created' || r2.status !== 'created' || r3.status !== 'created') return assert.fail('all created');
        assert.deepEqual([r1.senderSeq, r1.recipientSeq], [1, 1]);
        assert.deepEqual([r2.senderSeq, r2.recipientSeq], [2, 2]);
        assert.deepEqual([r3.senderSeq, r3.recipientSeq], [3, null]);
        assert.ok(r1.message.id < r2.message.id && r2.message.id < r3.message.id);
        const aliceEvents = await store.eventsAfter(alice.id, 0, 10);
        assert.deepEqual(
          aliceEvents.map((e) => (e.kind === 'message' ? [e.seq, e.message.body, e.message.from, e.message.to] : null)),
          [
            [1, 'hi', 'alice', 'bob'],
            [2, 'yo', 'bob', 'alice'],
            [3, 'note', 'alice', 'alice'],
          ],
        );
        assert.equal(await store.headSeq(alice.id), 3);
        assert.equal(await store.headSeq(bob.id), 2);
        assert.equal(await store.headSeq(9999), 0, 'an empty stream');
        assert.deepEqual(seqs(await store.eventsAfter(bob.id, 1, 10)), [2]);
        assert.deepEqual(seqs(await store.eventsAfter(alice.id, 0, 2)), [1, 2]);
        assert.deepEqual(await store.eventsAfter(alice.id, 3, 10), []);
      });

      it('concurrent sends from many senders give the recipient one contiguous stream, and each send is committed when it resolves', async () => {
        const senders: User[] = [];
        for (let i = 0; i < 10; i++) senders.push((await store.createUser(`s${i}`, 'h')) ?? assert.fail());
        const reader = await another();
        const sends = Array.from({ length: 50 }, (_, i) =>
          send(senders[i % 10] ?? assert.fail(), bob, `m${i}`).then(async (r) => {
            // Resolved: committed, so another store sees it already (after propagation).
            assert.equal(r.status, 'created');
            await factory.propagated();
            const seen = await reader.eventsAfter(bob.id, 0, 1000);
            assert.ok(
              seen.some((e) => e.kind === 'message' && e.message.id === r.message.id),
              `m${i} visible once resolved`,
            );
            return r;
          }),
        );
        const results = await Promise.all(sends);
        const positions = results.map((r) => r.recipientSeq).sort((a, b) => (a ?? 0) - (b ?? 0));
        assert.deepEqual(
          positions,
          Array.from({ length: 50 }, (_, i) => i + 1),
          'positions 1..50, each once',
        );
        const events = await store.eventsAfter(bob.id, 0, 1000);
        assert.deepEqual(
          seqs(events),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.deepEqual(new Set(bodies(events)).size, 50);
      });

      it('a reader that has seen position N never later finds a new event below N', async () => {
        let seen = 0;
        const got: number[] = [];
        const writes: Promise<unknown>[] = [];
        for (let round = 0; round < 20; round++) {
          for (let i = 0; i < 5; i++) writes.push(send(round % 2 ? alice : bob, bob, `r${round}.${i}`));
          // Some of them commit meanwhile, some not yet: the reads land between commits.
          await sleep(round % 3);
          const fresh = await store.eventsAfter(bob.id, seen, 1000);
          for (const e of fresh) {
            assert.equal(e.seq, seen + 1, `position ${e.seq} follows ${seen} directly`);
            seen = e.seq;
            got.push(e.seq);
          }
        }
        await Promise.all(writes);
        for (const e of await store.eventsAfter(bob.id, seen, 1000)) {
          assert.equal(e.seq, seen + 1);
          seen = e.seq;
        }
        assert.equal(seen, 100);
        assert.equal(await store.headSeq(bob.id), 100);
      });

      it('a failed send takes nothing with it and leaves no gap in the stream', async () => {
        const ghost: User = { id: 9999, username: 'ghost' }; // no such user
        const [ok1, bad, ok2] = await Promise.allSettled([send(alice, bob, 'a'), send(alice, ghost, 'b'), send(alice, bob, 'c')]);
        assert.equal(ok1.status, 'fulfilled');
        assert.equal(bad.status, 'rejected');
        assert.equal(ok2.status, 'fulfilled');
        assert.equal(await store.countMessages(), 2);
        assert.deepEqual(seqs(await store.eventsAfter(alice.id, 0, 10)), [1, 2], 'no gap from the rolled-back write');
        assert.deepEqual(bodies(await store.eventsAfter(bob.id, 0, 10)), ['a', 'c']);
      });

      it('stores any Unicode, NUL and HTML exactly', async () => {
        const body = 'a\u0000b <script>alert(1)</script> \u{1F600} \u2028 ünïcödé\n\t\'";--';
        assert.equal((await send(alice, bob, body)).status, 'created');
        const [e] = await store.eventsAfter(bob.id, 0, 1);
        assert.ok(e && e.kind === 'message');
        assert.equal(e.message.body, body);
        assert.equal((await store.history(alice.id, bob.id, { limit: 1 })).messages[0]?.body, body);
      });

      it(`an answer stops once its bodies would pass ${ANSWER_BODY_CHARS} code points, never before its first event (#12)`, async () => {
        // 4,000 characters each: 65 fit (260,000), the 66th would not. The emoji are two UTF-16
        // units each, so counting units would stop at 32.
        const emoji = '\u{1F600}'.repeat(4000);
        const sent = await Promise.all(Array.from({ length: 70 }, (_, i) => send(alice, bob, i % 2 ? emoji : 'é'.repeat(4000))));
        const ids = sent.map((r) => (r.status === 'created' ? r.message.id : assert.fail())).sort((a, b) => a - b);
        const first = await store.eventsAfter(bob.id, 0, 100);
        assert.equal(first.length, 65);
        const rest = await store.eventsAfter(bob.id, 65, 100);
        assert.deepEqual(seqs(rest), [66, 67, 68, 69, 70]);
        const page = await store.history(bob.id, alice.id, { after: 0, limit: 200 });
        assert.equal(page.messages.length, 65);
        assert.equal(page.hasMore, true);
        const newest = await store.history(bob.id, alice.id, { limit: 200 });
        assert.equal(newest.messages.length, 65);
        assert.equal(newest.hasMore, true);
        assert.deepEqual(
          newest.messages.map((m) => m.id),
          ids.slice(5),
          'the newest 65, oldest first',
        );
      });
    });

    describe('messages', () => {
      it('client_id: a retry returns the original, a different message is a conflict, racing retries insert once', async () => {
        const racing = await Promise.all(Array.from({ length: 5 }, () => send(alice, bob, 'once', 'c1')));
        assert.equal(racing.filter((r) => r.status === 'created').length, 1);
        assert.equal(racing.filter((r) => r.status === 'existing').length, 4);
        const original = racing.find((r) => r.status === 'created');
        for (const r of racing) {
          if (r.status === 'existing' && original?.status === 'created') assert.equal(r.message.id, original.message.id);
        }
        const later = await send(alice, bob, 'once', 'c1');
        assert.equal(later.status, 'existing');
        assert.equal((await send(alice, bob, 'other', 'c1')).status, 'conflict');
        assert.equal((await send(alice, alice, 'once', 'c1')).status, 'conflict');
        assert.deepEqual(await store.earlierSend({ sender: alice, recipient: bob, body: 'once', clientId: 'c1' }), later);
        assert.deepEqual(await store.earlierSend({ sender: alice, recipient: bob, body: 'other', clientId: 'c1' }), { status: 'conflict' });
        assert.equal(await store.earlierSend({ sender: alice, recipient: bob, body: 'once', clientId: 'c2' }), null);
        assert.equal(await store.earlierSend({ sender: alice, recipient: bob, body: 'once', clientId: null }), null);
        // client_id is per sender: bob may use the same key
        assert.equal((await send(bob, alice, 'once', 'c1')).status, 'created');
        assert.equal(await store.countMessages(), 2);
        assert.equal(await store.headSeq(bob.id), 2);
      });

      it('stores a send only for a device that still exists, checked when it commits (#13)', async () => {
        await device('sender', alice);
        const sent = await store.sendMessage({ sender: alice, recipient: bob, body: 'from a device', clientId: null, device: 'sender' });
        assert.equal(sent.status, 'created');
        assert.equal(await store.deleteDevice('sender', alice.id), 'deleted');
        const late = await store.sendMessage({
          sender: alice,
          recipient: bob,
          body: 'after the log-out',
          clientId: 'c9',
          device: 'sender',
        });
        assert.deepEqual(late, { status: 'revoked' });
        assert.equal(await store.countMessages(), 1, 'nothing stored for the ended device');
        assert.equal(await store.headSeq(bob.id), 1);
      });

      it('moves a read marker only for a device that still exists, checked when it commits, 1:1 and group (#13)', async () => {
        await device('reader', alice);
        const m = await send(bob, alice, 'to read');
        const made = await store.createGroup(bob, 'g', [alice], { groupMembersMax: 10, groupsPerUserMax: 10 });
        if (m.status !== 'created' || made.status !== 'changed') return assert.fail('no message or group');
        const gm = await store.sendGroupMessage({ sender: bob, groupId: made.group.id, body: 'to read too', clientId: null });
        if (gm.status !== 'created') return assert.fail(`no group message: ${gm.status}`);
        const head = await store.headSeq(alice.id);
        assert.equal(await store.deleteDevice('reader', alice.id), 'deleted');
        assert.deepEqual(await store.markRead(alice, bob, m.message.id, 'reader'), { status: 'revoked' });
        assert.deepEqual(await store.markGroupRead(alice, made.group.id, gm.message.id, 'reader'), { status: 'revoked' });
        assert.equal(await store.headSeq(alice.id), head, 'no read event');
        assert.deepEqual(
          (await store.conversations(alice.id)).map((c) => [c.unread, c.readUpTo]),
          [[1, 0]],
        );
        assert.deepEqual(
          (await store.groupsOf(alice.id)).map((c) => [c.unread, c.readUpTo]),
          [[1, 0]],
        );
        await device('reader2', alice);
        assert.equal((await store.markRead(alice, bob, m.message.id, 'reader2')).status, 'moved');
        assert.equal((await store.markGroupRead(alice, made.group.id, gm.message.id, 'reader2')).status, 'moved');
      });

      it('changes a group only for a device that still exists, checked when it commits (#13)', async () => {
        const limits = { groupMembersMax: 10, groupsPerUserMax: 10 };
        const carol = (await store.createUser('carol', 'h')) ?? assert.fail();
        await device('gone', alice);
        const made = await store.createGroup({ ...alice, device: 'gone' }, 'g', [bob], limits);
        if (made.status !== 'changed') return assert.fail(made.status);
        const g = made.group.id;
        const heads = async () => [await store.headSeq(alice.id), await store.headSeq(bob.id), await store.headSeq(carol.id)];
        const before = await heads();
        assert.equal(await store.deleteDevice('gone', alice.id), 'deleted');
        const by = { ...alice, device: 'gone' };
        const revoked = { status: 'revoked' };
        assert.deepEqual(await store.createGroup(by, 'h', [carol], limits), revoked);
        assert.deepEqual(await store.renameGroup(by, g, 'renamed'), revoked);
        assert.deepEqual(await store.addGroupMember(by, g, carol, limits), revoked);
        assert.deepEqual(await store.removeGroupMember(by, g, bob), revoked);
        assert.deepEqual(await store.removeGroupMember(by, g, alice), revoked, 'leaving too');
        assert.deepEqual(await heads(), before, 'no event anywhere');
        assert.deepEqual(
          (await store.groupsOf(alice.id)).map((c) => [c.group.name, c.group.members]),
          [['g', ['alice', 'bob']]],
        );
        assert.equal((await store.renameGroup(alice, g, 'renamed')).status, 'changed', 'without a device (the command line), as before');
      });

      it('history pages are exact at the boundaries, both directions', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) {
          const [from, to] = i % 2 ? [bob, alice] : [alice, bob];
          const r = await send(from, to, `m${i}`);
          if (r.status === 'created') ids.push(r.message.id);
        }
        await send(alice, alice, 'not in the conversation');
        const ids_ = (p: { messages: { id: number }[] }) => p.messages.map((m) => m.id);
        const newest = await store.history(alice.id, bob.id, { limit: 3 });
        assert.deepEqual(ids_(newest), ids.slice(4));
        assert.equal(newest.hasMore, true);
        const older = await store.history(bob.id, alice.id, { limit: 3, before: ids[4] });
        assert.deepEqual(ids_(older), ids.slice(1, 4));
        assert.equal(older.hasMore, true);
        const oldest = await store.history(alice.id, bob.id, { limit: 3, before: ids[1] });
        assert.deepEqual(ids_(oldest), ids.slice(0, 1));
        assert.equal(oldest.hasMore, false);
        const exact = await store.history(alice.id, bob.id, { limit: 4, before: ids[4] });
        assert.equal(exact.messages.length, 4);
        assert.equal(exact.hasMore, false, 'exactly limit older messages: nothing more');
        const after = await store.history(alice.id, bob.id, { limit: 3, after: ids[2] });
        assert.deepEqual(ids_(after), ids.slice(3, 6));
        assert.equal(after.hasMore, true);
        const tail = await store.history(alice.id, bob.id, { limit: 3, after: ids[3] });
        assert.deepEqual(ids_(tail), ids.slice(4, 7));
        assert.equal(tail.hasMore, false);
        const self = await store.history(alice.id, alice.id, { limit: 10 });
        assert.deepEqual(
          self.messages.map((m) => m.body),
          ['not in the conversation'],
        );
      });

      it("read markers move forward only, reach the reader's stream, and keep exact unread counts (#3)", async () => {
        const ids: number[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await send(bob, alice, `b${i}`);
          if (r.status === 'created') ids.push(r.message.id);
        }
        await send(alice, bob, 'mine');
        const before = await store.conversations(alice.id);
        assert.deepEqual(
          before.map((c) => [c.peer, c.unread, c.readUpTo, c.lastMessage.body]),
          [['bob', 3, 0, 'mine']],
        );
        const moved = await store.markRead(alice, bob, ids[1] ?? assert.fail());
        assert.deepEqual(moved, { status: 'moved', upTo: ids[1], seq: 5 });
        assert.deepEqual(
          (await store.conversations(alice.id)).map((c) => [c.unread, c.readUpTo]),
          [[1, ids[1]]],
        );
        assert.deepEqual(await store.markRead(alice, bob, ids[0] ?? assert.fail()), { status: 'unchanged', upTo: ids[1] });
        assert.deepEqual(
          await store.markRead(alice, alice, ids[2] ?? assert.fail()),
          { status: 'not_found' },
          'not a message of that conversation',
        );
        assert.deepEqual(await store.markRead(alice, bob, 999_999), { status: 'not_found' });
        const [e] = await store.eventsAfter(alice.id, 4, 10);
        assert.deepEqual(e, { seq: 5, kind: 'read', with: 'bob', upTo: ids[1] });
        assert.equal(await store.headSeq(alice.id), 5, 'nothing appended for the refused ones');
        assert.deepEqual(
          (await store.conversations(bob.id)).map((c) => [c.peer, c.unread]),
          [['alice', 1]],
        );
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
        store = await factory.another(store);
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
        await factory.propagated();
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

    describe('running', () => {
      it('flush() and close() write what is deferred; a closed store refuses work', async () => {
        await device('k', alice);
        const sent = send(alice, bob, 'last words');
        store.noteDeviceSeen('k', Date.now(), 1); // its poll's acknowledgement, not yet written
        await store.close();
        assert.equal((await sent).status, 'created', 'queued before close: committed');
        await store.close(); // idempotent
        await assert.rejects(send(alice, bob, 'too late'), 'a closed store refuses work');
        store = await factory.another(store);
        assert.equal(await store.countMessages(), 1);
        assert.equal((await store.listDevices(alice.id))[0]?.cursor, 1);
      });
    });
  });
  searchContract(backend, factory);
  storeGroupsContract(backend, factory);
}
