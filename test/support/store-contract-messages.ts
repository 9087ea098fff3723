// The Store contract's event stream and 1:1 messages (#2, #3, #12, #13): positions in commit
// order without gaps, the answer budget, client_id retries, history pages and read markers;
// writes only from devices that still exist as they commit (sends, read markers, and group
// changes too, #13); and what flush() and close() write. Part
// of the shared contract (store-contract.ts runs it for every backend); only the interface is used.
import assert from 'node:assert/strict';
import { ANSWER_BODY_CHARS, type Store } from '../../src/store';
import type { User } from '../../src/types';
import { bodies, seqs, type StoreFixture } from './store-contract-fixture';
import { sleep } from './util';

export function storeMessagesContract(fx: StoreFixture): void {
  let store: Store;
  let alice: User;
  let bob: User;
  beforeEach(() => ({ store, alice, bob } = fx));
  const { another, device, send } = fx;

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
          await fx.factory.propagated();
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

  describe('running', () => {
    it('flush() and close() write what is deferred; a closed store refuses work', async () => {
      await device('k', alice);
      const sent = send(alice, bob, 'last words');
      store.noteDeviceSeen('k', Date.now(), 1); // its poll's acknowledgement, not yet written
      await store.close();
      assert.equal((await sent).status, 'created', 'queued before close: committed');
      await store.close(); // idempotent
      await assert.rejects(send(alice, bob, 'too late'), 'a closed store refuses work');
      store = await fx.reopen();
      assert.equal(await store.countMessages(), 1);
      assert.equal((await store.listDevices(alice.id))[0]?.cursor, 1);
    });
  });
}
