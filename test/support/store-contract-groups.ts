// The Store interface's promises about groups (issue #15), part of the shared contract
// (store-contract.ts runs it for every backend). Only the interface is used.
import assert from 'node:assert/strict';
import type { NewGroupMessage, Store } from '../../src/store';
import type { EventRow, GroupChangeResult, GroupLimits, GroupRow, User } from '../../src/types';
import type { StoreFactory } from './store-contract';
import { sleep } from './util';

/** Limits with `groupMembersMax` members a group, and more groups a user than any test here makes. */
function roomy(groupMembersMax: number): GroupLimits {
  return { groupMembersMax, groupsPerUserMax: 100 };
}

/** The group of a 'changed' answer, or a failed test. */
function changed(r: GroupChangeResult): GroupRow {
  if (r.status !== 'changed') return assert.fail(`expected a change, got ${r.status}`);
  return r.group;
}

/** Each event in a short form: what a test compares. */
function short(e: EventRow): string {
  switch (e.kind) {
    case 'message':
      return `msg ${e.message.from}>${e.message.groupId ?? e.message.to}: ${e.message.body}`;
    case 'read':
      return `read ${e.with} ${e.upTo}`;
    case 'group':
      return `group ${e.change.action} by ${e.change.actor ?? '-'} (${e.change.subject ?? '-'}) ${e.group.name} [${e.group.members.join(',')}] owner ${e.group.owner ?? '-'}`;
    case 'group_read':
      return `read group ${e.group} ${e.upTo}`;
  }
}

export function storeGroupsContract(backend: string, factory: StoreFactory): void {
  describe(`Store contract: ${backend}, groups (#15)`, () => {
    let store: Store;
    let alice: User;
    let bob: User;
    let carol: User;
    let dave: User;

    beforeEach(async () => {
      store = await factory.open();
      alice = (await store.createUser('alice', 'h')) ?? assert.fail();
      bob = (await store.createUser('bob', 'h')) ?? assert.fail();
      carol = (await store.createUser('carol', 'h')) ?? assert.fail();
      dave = (await store.createUser('dave', 'h')) ?? assert.fail();
    });
    afterEach(() => store.close());

    const stream = async (u: User, after = 0) => (await store.eventsAfter(u.id, after, 1000)).map(short);
    const groupSend = (sender: User, groupId: number, body: string, clientId: string | null = null) =>
      store.sendGroupMessage({ sender, groupId, body, clientId });

    async function sent(sender: User, groupId: number, body: string): Promise<number> {
      const r = await groupSend(sender, groupId, body);
      return r.status === 'created' ? r.message.id : assert.fail(`send: ${r.status}`);
    }

    it('creates a group: the owner and the members in order, duplicates once; its event reaches each', async () => {
      const r = await store.createGroup(alice, 'class 3b', [carol, bob, carol, alice], roomy(10));
      const g = changed(r);
      assert.deepEqual([g.name, g.owner, g.members], ['class 3b', 'alice', ['alice', 'bob', 'carol']]);
      if (r.status !== 'changed') return;
      assert.deepEqual(r.change, { action: 'created', actor: 'alice', subject: null });
      assert.deepEqual(
        r.deliveries.map((d) => [d.userId, d.seq]).sort(),
        [alice.id, bob.id, carol.id].sort().map((id) => [id, 1]),
      );
      for (const u of [alice, bob, carol])
        assert.deepEqual(await stream(u), ['group created by alice (-) class 3b [alice,bob,carol] owner alice']);
      assert.deepEqual(await stream(dave), []);
      assert.deepEqual(await store.groupOf(bob.id, g.id), g);
      assert.equal(await store.groupOf(dave.id, g.id), undefined, 'not a member: nothing');
      assert.equal(await store.groupOf(alice.id, g.id + 1000), undefined);
      // Join order: the owner, then carol, then bob.
      assert.deepEqual(
        (await store.groupMembers(g.id))?.map((m) => m.username),
        ['alice', 'carol', 'bob'],
      );
      assert.deepEqual(await store.createGroup(alice, 'too big', [bob, carol, dave], roomy(3)), { status: 'full' });
      assert.deepEqual(
        (await store.listGroups()).map((s) => [s.name, s.owner, s.members]),
        [['class 3b', 'alice', 3]],
      );
    });

    it('a group message is stored once and reaches every member once, in each stream in order', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob, carol], roomy(10)));
      const r = await groupSend(bob, g.id, 'hello all', 'k1');
      if (r.status !== 'created') return assert.fail(r.status);
      assert.deepEqual([r.message.groupId, r.message.to, r.message.recipientId, r.message.from], [g.id, null, null, 'bob']);
      assert.deepEqual(
        r.deliveries.map((d) => [d.userId, d.seq]).sort(),
        [alice.id, bob.id, carol.id].sort().map((id) => [id, 2]),
      );
      assert.equal(await store.countMessages(), 1);
      for (const u of [alice, bob, carol]) assert.deepEqual(await stream(u, 1), [`msg bob>${g.id}: hello all`]);
      assert.deepEqual(await stream(dave), []);
      assert.deepEqual(await groupSend(dave, g.id, 'let me in'), { status: 'not_found' }, 'not a member');
      assert.deepEqual(await groupSend(alice, g.id + 1000, 'nowhere'), { status: 'not_found' });
    });

    it('client_id: a retry returns the original; another group, a user instead, or another body is a conflict', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob], roomy(10)));
      const h = changed(await store.createGroup(alice, 'h', [bob], roomy(10)));
      const racing = await Promise.all(Array.from({ length: 4 }, () => groupSend(alice, g.id, 'once', 'c1')));
      assert.equal(racing.filter((r) => r.status === 'created').length, 1);
      assert.equal(racing.filter((r) => r.status === 'existing').length, 3);
      const m: NewGroupMessage = { sender: alice, groupId: g.id, body: 'once', clientId: 'c1' };
      assert.equal((await store.earlierGroupSend(m))?.status, 'existing');
      assert.deepEqual(await groupSend(alice, h.id, 'once', 'c1'), { status: 'conflict' });
      assert.deepEqual(await groupSend(alice, g.id, 'other', 'c1'), { status: 'conflict' });
      assert.deepEqual(await store.sendMessage({ sender: alice, recipient: bob, body: 'once', clientId: 'c1' }), { status: 'conflict' });
      assert.deepEqual(await store.earlierSend({ sender: alice, recipient: bob, body: 'once', clientId: 'c1' }), { status: 'conflict' });
      assert.equal((await store.sendMessage({ sender: alice, recipient: bob, body: 'pair', clientId: 'c2' })).status, 'created');
      assert.deepEqual(await groupSend(alice, g.id, 'pair', 'c2'), { status: 'conflict' }, 'a 1:1 client_id used for a group');
      assert.deepEqual(await store.earlierGroupSend({ ...m, clientId: 'c3' }), null);
      assert.equal(await store.countMessages(), 2);
    });

    it('a member removed at position N gets nothing of the group after N; the owner hands over to the earliest member', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob, carol], roomy(10)));
      await sent(alice, g.id, 'one');
      assert.deepEqual(await store.removeGroupMember(bob, g.id, carol), { status: 'forbidden' }, 'only the owner removes others');
      const removed = await store.removeGroupMember(alice, g.id, carol);
      assert.deepEqual(changed(removed).members, ['alice', 'bob']);
      await sent(bob, g.id, 'two');
      assert.deepEqual(await stream(carol), [
        'group created by alice (-) g [alice,bob,carol] owner alice',
        `msg alice>${g.id}: one`,
        'group removed by alice (carol) g [alice,bob] owner alice',
      ]);
      assert.equal(await store.groupOf(carol.id, g.id), undefined);
      assert.equal(await store.groupHistory(carol.id, g.id, { limit: 10 }), null, 'a removed member sees none of the history');
      assert.deepEqual(await groupSend(carol, g.id, 'still here?'), { status: 'not_found' });
      assert.deepEqual(await store.markGroupRead(carol, g.id, 1), { status: 'not_found' });
      assert.deepEqual(await store.removeGroupMember(carol, g.id, carol), { status: 'not_found' }, 'cannot leave twice');
      assert.deepEqual(await store.removeGroupMember(alice, g.id, carol), { status: 'not_member' });
      // The owner leaves: bob (who joined before carol) takes over.
      const left = changed(await store.removeGroupMember(alice, g.id, alice));
      assert.deepEqual([left.owner, left.members], ['bob', ['bob']]);
      assert.equal((await stream(alice)).at(-1), 'group left by alice (alice) g [bob] owner bob');
      assert.equal((await stream(bob)).at(-1), 'group left by alice (alice) g [bob] owner bob');
      // The last member leaves: the group is gone.
      const gone = changed(await store.removeGroupMember(bob, g.id, bob));
      assert.deepEqual([gone.owner, gone.members], [null, []]);
      assert.equal((await stream(bob)).at(-1), 'group left by bob (bob) g [] owner -');
      assert.equal(await store.groupOf(bob.id, g.id), undefined);
      assert.deepEqual(await store.groupsOf(bob.id), []);
      assert.deepEqual(await store.listGroups(), []);
      assert.equal(await store.groupMembers(g.id), undefined);
      assert.deepEqual(await store.removeGroupMember(null, g.id, bob), { status: 'not_found' }, 'gone for an administrator too');
    });

    it('a group id past 32 bits (the API takes any up to 2^53) is a group that does not exist', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob], roomy(10)));
      const far = 99_999_999_999;
      assert.equal(await store.groupOf(alice.id, far), undefined);
      assert.equal(await store.groupMembers(far), undefined);
      assert.equal(await store.groupHistory(alice.id, far, { limit: 10 }), null);
      assert.equal((await groupSend(alice, far, 'x')).status, 'not_found');
      assert.equal((await store.renameGroup(alice, far, 'y')).status, 'not_found');
      assert.equal((await store.addGroupMember(alice, far, carol, roomy(10))).status, 'not_found');
      assert.equal((await store.removeGroupMember(alice, far, bob)).status, 'not_found');
      assert.equal((await store.removeGroupMember(null, far, bob)).status, 'not_found');
      assert.equal((await store.markGroupRead(alice, far, 1)).status, 'not_found');
      assert.equal((await store.groupOf(alice.id, g.id))?.name, 'g', 'the real one is still there');
    });

    it('an administrator removes anyone; the event says no one did it', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob], roomy(10)));
      const r = changed(await store.removeGroupMember(null, g.id, alice));
      assert.deepEqual([r.owner, r.members], ['bob', ['bob']]);
      assert.equal((await stream(alice)).at(-1), 'group removed by - (alice) g [bob] owner bob');
    });

    it('adds: any member, a new member reads the whole history, already a member changes nothing, never past the limit', async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob], roomy(3)));
      const first = await sent(alice, g.id, 'before carol');
      assert.deepEqual(await store.addGroupMember(dave, g.id, carol, roomy(3)), { status: 'not_found' }, 'an outsider adds no one');
      const added = await store.addGroupMember(bob, g.id, carol, roomy(3));
      assert.deepEqual(changed(added).members, ['alice', 'bob', 'carol']);
      if (added.status === 'changed') assert.deepEqual(added.change, { action: 'added', actor: 'bob', subject: 'carol' });
      assert.deepEqual(await stream(carol), ['group added by bob (carol) g [alice,bob,carol] owner alice']);
      const page = await store.groupHistory(carol.id, g.id, { limit: 10 });
      assert.deepEqual(
        page?.messages.map((m) => m.id),
        [first],
        'the history from before they joined',
      );
      const groups = await store.groupsOf(carol.id);
      assert.deepEqual(
        groups.map((c) => [c.unread, c.readUpTo, c.lastMessage?.body]),
        [[0, first, 'before carol']],
      );
      const again = await store.addGroupMember(alice, g.id, carol, roomy(3));
      assert.equal(again.status, 'unchanged');
      assert.deepEqual(await store.addGroupMember(alice, g.id, dave, roomy(3)), { status: 'full' });
      assert.equal((await stream(carol)).length, 1, 'no event for what changed nothing');
    });

    it('concurrent adds never take a group past its limit', async () => {
      const g = changed(await store.createGroup(alice, 'g', [], roomy(3)));
      const users: User[] = [bob, carol, dave];
      for (let i = 0; i < 5; i++) users.push((await store.createUser(`u${i}`, 'h')) ?? assert.fail());
      const results = await Promise.all(users.map((u) => store.addGroupMember(alice, g.id, u, roomy(3))));
      assert.equal(results.filter((r) => r.status === 'changed').length, 2);
      assert.equal(results.filter((r) => r.status === 'full').length, 6);
      assert.equal((await store.groupOf(alice.id, g.id))?.members.length, 3);
    });

    it('a user in as many groups as a user may be joins no more: creating and adding refuse naming them, nothing made', async () => {
      const two: GroupLimits = { groupMembersMax: 10, groupsPerUserMax: 2 };
      const g = changed(await store.createGroup(alice, 'g', [bob], two));
      changed(await store.createGroup(alice, 'h', [bob], two));
      const before = await store.listGroups();
      assert.deepEqual(await store.createGroup(carol, 'k', [dave, bob], two), { status: 'user_full', username: 'bob' });
      assert.deepEqual(await store.createGroup(bob, 'mine', [], two), { status: 'user_full', username: 'bob' }, 'the owner counts');
      assert.deepEqual(await store.listGroups(), before, 'no group made');
      assert.deepEqual([await stream(carol), await stream(dave)], [[], []], 'no event for what was not made');
      const k = changed(await store.createGroup(carol, 'k', [dave], two));
      assert.deepEqual(await store.addGroupMember(carol, k.id, bob, two), { status: 'user_full', username: 'bob' });
      assert.deepEqual((await store.groupOf(carol.id, k.id))?.members, ['carol', 'dave']);
      assert.equal((await stream(bob)).length, 2, 'bob got nothing from k');
      assert.equal((await store.groupsOf(bob.id)).length, 2);
      changed(await store.removeGroupMember(bob, g.id, bob));
      assert.deepEqual(
        changed(await store.addGroupMember(carol, k.id, bob, two)).members,
        ['bob', 'carol', 'dave'],
        'leaving frees a place',
      );
    });

    it('concurrent adds of one user to different groups never take them past the limit', async () => {
      const owners: User[] = [alice, carol, dave];
      for (let i = 0; i < 5; i++) owners.push((await store.createUser(`o${i}`, 'h')) ?? assert.fail());
      const groups = await Promise.all(
        owners.map(async (o) => ({ owner: o, id: changed(await store.createGroup(o, 'g', [], roomy(10))).id })),
      );
      const three: GroupLimits = { groupMembersMax: 10, groupsPerUserMax: 3 };
      const adds = groups.map((g) => store.addGroupMember(g.owner, g.id, bob, three));
      const creates = owners.map((o) => store.createGroup(o, 'new', [bob], three));
      const results = await Promise.all([...adds, ...creates]);
      assert.equal(results.filter((r) => r.status === 'changed').length, 3);
      assert.equal(results.filter((r) => r.status === 'user_full').length, results.length - 3);
      assert.equal((await store.groupsOf(bob.id)).length, 3);
    });

    it('renames: any member; the same name changes nothing; events keep the state they were written with', async () => {
      const g = changed(await store.createGroup(alice, 'old', [bob], roomy(10)));
      assert.deepEqual(await store.renameGroup(carol, g.id, 'mine'), { status: 'not_found' });
      assert.equal((await store.renameGroup(bob, g.id, 'new')).status, 'changed');
      assert.equal((await store.renameGroup(alice, g.id, 'new')).status, 'unchanged');
      assert.deepEqual(await stream(alice), [
        'group created by alice (-) old [alice,bob] owner alice',
        'group renamed by bob (-) new [alice,bob] owner alice',
      ]);
      assert.equal((await store.groupOf(alice.id, g.id))?.name, 'new');
    });

    it("read markers: forward only, to the reader's stream, exact unread counts of messages from others", async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob, carol], roomy(10)));
      const h = changed(await store.createGroup(bob, 'h', [alice], roomy(10)));
      const ids = [
        await sent(bob, g.id, 'b1'),
        await sent(carol, g.id, 'c1'),
        await sent(alice, g.id, 'mine'),
        await sent(bob, g.id, 'b2'),
      ];
      const other = await sent(bob, h.id, 'elsewhere');
      const pair = await store.sendMessage({ sender: bob, recipient: alice, body: 'pair', clientId: null });
      const unread = async (u: User) => (await store.groupsOf(u.id)).find((c) => c.group.id === g.id)?.unread;
      assert.deepEqual([await unread(alice), await unread(bob), await unread(carol)], [3, 2, 3]);
      const head = await store.headSeq(alice.id);
      assert.deepEqual(await store.markGroupRead(alice, g.id, ids[1] ?? 0), { status: 'moved', upTo: ids[1], seq: head + 1 });
      assert.equal(await unread(alice), 1);
      assert.deepEqual(await stream(alice, head), [`read group ${g.id} ${ids[1]}`]);
      assert.deepEqual(await store.markGroupRead(alice, g.id, ids[0] ?? 0), { status: 'unchanged', upTo: ids[1] });
      assert.deepEqual(await store.markGroupRead(alice, g.id, other), { status: 'not_found' }, "another group's message");
      if (pair.status === 'created') assert.deepEqual(await store.markGroupRead(alice, g.id, pair.message.id), { status: 'not_found' });
      assert.deepEqual(await store.markGroupRead(dave, g.id, ids[3] ?? 0), { status: 'not_found' }, 'not a member');
      assert.equal(await store.headSeq(alice.id), head + 1, 'nothing appended for the refused ones');
    });

    it("lists a user's groups by their latest message, a group without one by its creation; history pages both ways", async () => {
      const g = changed(await store.createGroup(alice, 'g', [bob], roomy(10)));
      const h = changed(await store.createGroup(alice, 'h', [], roomy(10)));
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await sent(i % 2 ? bob : alice, g.id, `m${i}`));
      const k = changed(await store.createGroup(alice, 'k', [], roomy(10)));
      let order = (await store.groupsOf(alice.id)).map((c) => c.group.name);
      assert.deepEqual(order.indexOf('k') < order.indexOf('h'), true, 'newer creation first');
      // Times are in milliseconds and a tie goes to the newer group: 'late' must be later than k.
      while (Date.now() <= k.createdAt) await sleep(1);
      await sent(alice, h.id, 'late');
      order = (await store.groupsOf(alice.id)).map((c) => c.group.name);
      assert.equal(order[0], 'h', 'the latest message first');
      assert.deepEqual(
        (await store.groupsOf(bob.id)).map((c) => [c.group.name, c.group.members, c.lastMessage?.body]),
        [['g', ['alice', 'bob'], 'm4']],
      );
      const ids_ = (p: { messages: { id: number }[] } | null) => p?.messages.map((m) => m.id);
      const newest = await store.groupHistory(bob.id, g.id, { limit: 2 });
      assert.deepEqual([ids_(newest), newest?.hasMore], [ids.slice(3), true]);
      const older = await store.groupHistory(bob.id, g.id, { limit: 3, before: ids[3] });
      assert.deepEqual([ids_(older), older?.hasMore], [ids.slice(0, 3), false]);
      const after = await store.groupHistory(bob.id, g.id, { limit: 2, after: ids[1] });
      assert.deepEqual([ids_(after), after?.hasMore], [ids.slice(2, 4), true]);
      assert.deepEqual(ids_(await store.groupHistory(alice.id, k.id, { limit: 5 })), []);
    });
  });
}
