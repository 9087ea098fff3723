// Groups in the page's state (public/js/groups.js and the group paths of model.js and
// outbox.js) run under Node (#15): keys that never collide with usernames, group messages and
// read markers, the snapshot with groups, the {"type": "group"} events and the quiet lines
// they leave in the conversation, being removed, sends to a group from the outbox, and names
// like __proto__ as group names and members. The real files are loaded. What the reader sees
// and types is page-groups-view.test.ts.
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';
import { dm, gmsg, group, groupEvent, message } from '../support/page-data';

describe('page model: groups (#15)', () => {
  const { Chat } = loadPage();
  const M = Chat.model;
  const G = Chat.groups;

  function stateFor(me = 'zoe') {
    const st = M.newState();
    M.beginSession(st, { token: 't', username: me, deviceId: 'd', deviceName: 'Desk' });
    return st;
  }
  const lines = (c: { lines: { text: string }[] }) => c.lines.map((l) => l.text);

  describe('keys', () => {
    it('keeps a group under "#" and its id, which no username can be', () => {
      assert.equal(G.keyOf(7), '#7');
      assert.equal(G.idOf('#7'), 7);
      for (const notKey of ['7', 'bob', '#', '#0', '#07', '#7a', '# 7', '#-1', '#12345678901234567', null, 7])
        assert.equal(G.isKey(notKey), false, String(notKey));
      for (const name of ['bob', '__proto__', 'a.b-c_d']) {
        assert.equal(Chat.config.USERNAME_RE.test(name), true);
        assert.equal(G.isKey(name), false);
      }
      assert.equal(Chat.config.USERNAME_RE.test('#7'), false, 'a key is never a username');
    });

    it('files a group and a user named alike under different conversations', () => {
      const st = stateFor();
      M.applyEvents(st, [groupEvent(group(3, 'amy', 'amy', ['amy', 'zoe'])), message(gmsg(1, 'amy', 3)), message(dm(2, 'amy', 'zoe'))]);
      assert.deepEqual(st.convs.keys().sort(), ['#3', 'amy']);
      assert.equal(st.convs.get('#3').unread, 1);
      assert.equal(st.convs.get('amy').unread, 1);
      assert.equal(st.convs.get('#3').last.id, 1);
      assert.equal(st.convs.get('amy').last.id, 2);
    });
  });

  describe('messages and read markers', () => {
    it('counts the others’ group messages as unread, never our own, and orders groups with 1:1 conversations', () => {
      const st = stateFor();
      M.applyEvents(st, [
        groupEvent(group(5, 'team', 'amy', ['amy', 'bob', 'zoe'])),
        message(gmsg(1, 'amy', 5)),
        message(dm(2, 'bob', 'zoe')),
        message(gmsg(3, 'zoe', 5)),
        message(gmsg(4, 'bob', 5)),
      ]);
      const c = st.convs.get('#5');
      assert.deepEqual([c.unread, c.maxId, c.maxIncomingId], [2, 4, 4]);
      assert.deepEqual(
        M.sortedConversations(st).map((x: { name: string }) => x.name),
        ['#5', 'bob'],
      );
      M.applyEvents(st, [message(dm(6, 'bob', 'zoe'))]);
      assert.deepEqual(
        M.sortedConversations(st).map((x: { name: string }) => x.name),
        ['bob', '#5'],
      );
      assert.equal(M.totalUnread(st), 4);
    });

    it('applies a group read marker from another device ({"group": 7})', () => {
      const st = stateFor();
      M.applyEvents(st, [groupEvent(group(7, 'g', 'zoe', ['amy', 'zoe'])), message(gmsg(1, 'amy', 7)), message(gmsg(2, 'amy', 7))]);
      assert.equal(st.convs.get('#7').unread, 2);
      M.applyEvents(st, [{ type: 'read', group: 7, up_to: 2 }]);
      assert.equal(st.convs.get('#7').unread, 0);
      M.applyEvents(st, [
        { type: 'read', with: '#7', up_to: 9 },
        { type: 'read', group: '7', up_to: 9 },
      ]);
      assert.equal(st.convs.get('#7').readUpTo, 2, 'only {"group": number} names a group');
    });

    it('confirms an outbox message sent to a group when it comes back with its client_id', () => {
      const st = stateFor();
      Chat.outbox.queue(st, '#4', 'hello group', 'c1', 1000);
      const out = M.applyEvents(st, [message(gmsg(9, 'zoe', 4, { client_id: 'c1', body: 'hello group' }))]);
      assert.equal(out.outbox, true);
      assert.equal(st.outbox.length, 0);
      assert.equal(st.convs.get('#4').last.id, 9);
    });

    it('keeps group sends in the saved outbox, and drops them with a group we are not in', () => {
      const st = stateFor();
      Chat.outbox.queue(st, '#4', 'one', 'c1', 1000);
      Chat.outbox.queue(st, '__proto__', 'two', 'c2', 1001);
      const saved = JSON.parse(JSON.stringify(Chat.outbox.toSave(st)));
      const back = Chat.outbox.fromSaved(saved, 2000);
      assert.deepEqual(
        back.map((o: { to: string; body: string }) => [o.to, o.body]),
        [
          ['#4', 'one'],
          ['__proto__', 'two'],
        ],
      );
      st.outbox = back;
      assert.equal(M.forgetConversation(st, '#4'), true);
      assert.deepEqual(
        st.outbox.map((o: { to: string }) => o.to),
        ['__proto__'],
      );
    });

    it('says why a group send was refused: not in the group (404 not_found), and does not retry it', () => {
      const res = { status: 404, ok: false, data: null, error: { code: 'not_found', message: 'no such group' }, retryAfterMs: 0 };
      assert.equal(Chat.send.sendError(res), 'Not sent: you are not in this group.');
      assert.equal(Chat.send.retryable(res), false);
    });

    it('takes a group message as valid only with a numeric group', () => {
      assert.equal(M.validMessage(gmsg(1, 'amy', 3)), true);
      assert.equal(M.validMessage({ ...gmsg(1, 'amy', 3), group: '3' }), false);
      assert.equal(M.validMessage({ ...gmsg(1, 'amy', 3), group: 0 }), false);
      assert.equal(M.validMessage(dm(1, 'amy', 'zoe')), true);
    });
  });

  describe('the snapshot', () => {
    it('takes groups beside 1:1 conversations, with their state, counts and empty groups', () => {
      const st = stateFor();
      M.applySnapshot(st, [
        { group: group(2, 'class 3b', 'amy', ['amy', 'zoe']), last_message: gmsg(8, 'amy', 2), unread: 1 },
        { with: 'bob', last_message: dm(5, 'bob', 'zoe'), unread: 0 },
        { group: group(3, 'new', 'zoe', ['zoe']), last_message: null, unread: 0 },
        { group: { id: 'x', name: 'bad' } },
      ]);
      assert.deepEqual(st.convs.keys().sort(), ['#2', '#3', 'bob', 'zoe']);
      const g = st.convs.get('#2');
      assert.deepEqual([g.unread, g.maxId, g.member, g.group.name], [1, 8, true, 'class 3b']);
      assert.equal(st.convs.get('#3').maxId, 0);
      assert.ok(st.convs.get('#3').touched > 0, 'an empty group is ordered by when it was created');
      M.applyUnreadCounts(st, [{ group: group(2, 'class 3b', 'amy', ['amy', 'zoe']), last_message: gmsg(8, 'amy', 2), unread: 0 }]);
      assert.equal(g.unread, 0);
    });

    it('drops a group the server no longer lists (we left it), even the open one’s messages', () => {
      const st = stateFor();
      M.applySnapshot(st, [{ group: group(2, 'g', 'amy', ['amy', 'zoe']), last_message: gmsg(8, 'amy', 2), unread: 0 }]);
      st.current = '#2';
      M.applySnapshot(st, []);
      const c = st.convs.get('#2');
      assert.ok(c, 'the open one is kept as a key (its history then answers 404)');
      assert.equal(c.maxId, 0);
      M.forgetConversation(st, '#2');
      assert.equal(st.convs.has('#2'), false);
    });
  });

  describe('group events and the quiet lines', () => {
    it('describes creation, adds, leaving, removal, renames and a new owner, neutrally when nobody is named', () => {
      const st = stateFor('bob');
      M.applyEvents(st, [groupEvent(group(1, 'team', 'amy', ['amy', 'bob']))]);
      const c = st.convs.get('#1');
      assert.deepEqual(lines(c), ['You were added to the group \u201cteam\u201d.']);
      M.applyEvents(st, [
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob', 'carol'])),
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob'])),
        groupEvent(group(1, 'Team B', 'amy', ['amy', 'bob'])),
        groupEvent(group(1, 'Team B', 'bob', ['bob'])),
      ]);
      assert.deepEqual(lines(c).slice(1), [
        'carol was added to the group.',
        'carol is no longer in the group.',
        'The group was renamed to \u201cTeam B\u201d.',
        'amy is no longer in the group.',
        'You are now the owner of the group.',
      ]);
      assert.equal(c.group.name, 'Team B');
      assert.equal(c.member, true);
    });

    it('names who did it when the event says so (change.by)', () => {
      const st = stateFor('bob');
      M.applyEvents(st, [groupEvent(group(1, 'team', 'amy', ['amy', 'bob']), { change: { by: 'amy' } })]);
      M.applyEvents(st, [
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob', 'carol']), { change: { by: 'bob' } }),
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob']), { change: { by: 'carol' } }),
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob', 'dan']), { change: { by: 'amy' } }),
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob']), { change: { by: 'amy' } }),
        groupEvent(group(1, 'tea', 'amy', ['amy', 'bob']), { change: { by: 'amy' } }),
      ]);
      assert.deepEqual(lines(st.convs.get('#1')), [
        'amy added you to the group \u201cteam\u201d.',
        'You added carol.',
        'carol left the group.',
        'amy added dan.',
        'amy removed dan from the group.',
        'amy renamed the group to \u201ctea\u201d.',
      ]);
    });

    it('names us for the changes this page asked for, and only for those', () => {
      const st = stateFor('amy');
      G.expect(st, null, 'create', 'team');
      M.applyEvents(st, [groupEvent(group(1, 'team', 'amy', ['amy', 'bob']))]);
      G.expect(st, 1, 'rename', 'crew');
      G.expect(st, 1, 'add', 'carol');
      M.applyEvents(st, [
        groupEvent(group(1, 'team', 'amy', ['amy', 'bob', 'dan'])), // someone else added dan
        groupEvent(group(1, 'crew', 'amy', ['amy', 'bob', 'dan'])),
        groupEvent(group(1, 'crew', 'amy', ['amy', 'bob', 'carol', 'dan'])),
        groupEvent(group(1, 'crew', 'amy', ['amy', 'bob', 'carol'])), // dan left, or was removed elsewhere
      ]);
      assert.deepEqual(lines(st.convs.get('#1')), [
        'You created the group \u201cteam\u201d.',
        'dan was added to the group.',
        'You renamed the group to \u201ccrew\u201d.',
        'You added carol.',
        'dan is no longer in the group.',
      ]);
      G.expect(st, 1, 'remove', 'amy');
      M.applyEvents(st, [groupEvent(group(1, 'crew', 'bob', ['bob', 'carol']))]);
      assert.deepEqual(lines(st.convs.get('#1')).slice(5), ['You left the group.', 'bob is now the owner of the group.']);
    });

    it('places each line after the newest message known when it happened', () => {
      const st = stateFor();
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy', 'zoe'])), message(gmsg(4, 'amy', 1))]);
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy', 'bob', 'zoe'])), message(gmsg(6, 'amy', 1))]);
      assert.deepEqual(
        st.convs.get('#1').lines.map((l: { after: number }) => l.after),
        [0, 4],
      );
    });

    it('a removed member: no longer a member, nothing unread, no line twice for the same state', () => {
      const st = stateFor('carol');
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy', 'carol'])), message(gmsg(2, 'amy', 1)), message(gmsg(3, 'amy', 1))]);
      const c = st.convs.get('#1');
      assert.equal(c.unread, 2);
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy']))]);
      assert.equal(c.member, false);
      assert.equal(c.unread, 0);
      assert.equal(lines(c).pop(), 'You are no longer in this group.');
      const before = c.lines.length;
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy']))]);
      assert.equal(c.lines.length, before, 'the same state again changes nothing');
    });

    it('the last member leaving: members [], owner null', () => {
      const st = stateFor('zoe');
      M.applyEvents(st, [groupEvent(group(1, 'g', 'zoe', ['zoe']))]);
      M.applyEvents(st, [groupEvent(group(1, 'g', null, []), { change: { by: 'zoe' } })]);
      const c = st.convs.get('#1');
      assert.equal(c.member, false);
      assert.deepEqual(lines(c), ['You created the group \u201cg\u201d.', 'You left the group.']);
    });

    it('asks for the history again when we are added back to a group whose messages are loaded', () => {
      const st = stateFor('carol');
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy', 'carol']))]);
      const c = st.convs.get('#1');
      M.startHistory(c);
      M.applyHistory(st, c, [], false);
      M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy']))]);
      assert.deepEqual(M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy']))]).reload, []);
      const out = M.applyEvents(st, [groupEvent(group(1, 'g', 'amy', ['amy', 'carol']))]);
      assert.deepEqual(out.reload, [c]);
      assert.equal(c.member, true);
    });

    it('ignores malformed group events', () => {
      const st = stateFor();
      M.applyEvents(st, [
        { type: 'group' },
        { type: 'group', group: { id: '1', name: 'x', members: [] } },
        { type: 'group', group: { id: 1, name: 5, members: [] } },
        { type: 'group', group: { id: 1, name: 'x', members: 'zoe' } },
      ]);
      assert.deepEqual(st.convs.keys(), []);
    });

    it('works with group names and members named after Object.prototype members', () => {
      const st = stateFor('constructor');
      const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
      M.applyEvents(st, [groupEvent(group(1, '__proto__', '__proto__', names))]);
      M.applyEvents(st, [groupEvent(group(1, 'constructor', '__proto__', ['__proto__', 'constructor', 'toString', 'valueOf']))]);
      const c = st.convs.get('#1');
      assert.deepEqual(lines(c), [
        'You were added to the group \u201c__proto__\u201d.',
        'valueOf was added to the group.',
        'hasOwnProperty is no longer in the group.',
        'The group was renamed to \u201cconstructor\u201d.',
      ]);
      assert.equal(G.title(c, 'constructor'), 'constructor');
      assert.equal(G.memberSummary(c.group, 'constructor'), 'You, __proto__, toString and valueOf');
      assert.equal(Object.getPrototypeOf(st.convs.items), Object.prototype, 'no prototype replaced');
    });
  });
});
