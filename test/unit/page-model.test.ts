// The page's state transitions (public/js/model.js) run under Node: poll events applied to
// the state, the snapshot they follow, history pages, read markers, the list's order and
// presence (#12), and users named after Object.prototype members (#13). The real file is loaded.
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';

interface Msg {
  id: number;
  from: string;
  to: string;
  body: string;
  sent_at: string;
  client_id: string | null;
}

function msg(id: number, from: string, to: string, extra: Partial<Msg> = {}): Msg {
  return { id, from, to, body: `m${id}`, sent_at: '2026-01-01T00:00:00.000Z', client_id: null, ...extra };
}
const message = (m: Msg) => ({ type: 'message', message: m });
const read = (withName: string, upTo: number) => ({ type: 'read', with: withName, up_to: upTo });

describe('page model: events, snapshot, history, read markers (#12)', () => {
  const { Chat } = loadPage();
  const M = Chat.model;

  function stateFor(me = 'zoe') {
    const st = M.newState();
    M.beginSession(st, { token: 't', username: me, deviceId: 'd', deviceName: 'Desk' });
    return st;
  }
  const ids = (c: { msgs: Msg[] }) => c.msgs.map((m) => m.id);

  describe('applying poll events', () => {
    it('counts incoming messages as unread, not our own, and never one twice', () => {
      const st = stateFor();
      const out = M.applyEvents(st, [message(msg(1, 'amy', 'zoe')), message(msg(2, 'zoe', 'amy')), message(msg(3, 'amy', 'zoe'))]);
      assert.deepEqual(out, { outbox: false, refresh: false, heardFrom: true, reload: [] });
      const c = st.convs.get('amy');
      assert.equal(c.unread, 2);
      assert.equal(c.maxId, 3);
      assert.equal(c.maxIncomingId, 3);
      assert.equal(c.last.id, 3);
      // The same events again (a poll replayed from an older cursor) change nothing.
      M.applyEvents(st, [message(msg(1, 'amy', 'zoe')), message(msg(3, 'amy', 'zoe'))]);
      assert.equal(c.unread, 2);
      assert.equal(c.last.id, 3);
    });

    it('files a message under the other person, and notes to self under ourselves', () => {
      const st = stateFor();
      M.applyEvents(st, [message(msg(1, 'zoe', 'bob')), message(msg(2, 'zoe', 'zoe'))]);
      assert.equal(st.convs.get('bob').maxId, 1);
      assert.equal(st.convs.get('bob').unread, 0);
      assert.equal(st.convs.get('zoe').maxId, 2);
      assert.equal(st.convs.get('zoe').unread, 0, 'our own notes are never unread');
    });

    it('ignores what is not a valid event, and everything once the session has ended', () => {
      const st = stateFor();
      M.applyEvents(st, [
        null,
        { type: 'typing' },
        { type: 'message', message: { id: '4', from: 'amy', to: 'zoe', body: 'x' } },
        { type: 'message', message: { id: 5, from: 'amy', to: 'zoe' } },
        read('nobody', 3),
        { type: 'read', with: 'amy', up_to: '9' },
      ]);
      assert.deepEqual(st.convs.keys(), []);
      const ended = M.newState();
      M.applyEvents(ended, [message(msg(1, 'amy', 'zoe'))]);
      assert.deepEqual(ended.convs.keys(), []);
    });

    it('keeps messages only for a conversation whose history is loaded, in id order', () => {
      const st = stateFor();
      M.applyEvents(st, [message(msg(1, 'amy', 'zoe'))]);
      assert.deepEqual(ids(st.convs.get('amy')), [], 'not loaded: counted, not kept');
      const c = st.convs.get('amy');
      M.startHistory(c);
      M.applyHistory(st, c, [msg(1, 'amy', 'zoe')], false);
      M.applyEvents(st, [message(msg(4, 'amy', 'zoe')), message(msg(3, 'zoe', 'amy')), message(msg(4, 'amy', 'zoe'))]);
      assert.deepEqual(ids(c), [1, 3, 4]);
    });

    it("marks the open conversation for redrawing, and incoming only for the other person's messages", () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      M.startHistory(c);
      M.applyHistory(st, c, [], false);
      st.current = 'amy';
      st.chatDirty = false;
      M.applyEvents(st, [message(msg(1, 'zoe', 'amy'))]);
      assert.equal(st.chatDirty, true);
      assert.equal(st.incoming, false, 'our own message is not news');
      M.applyEvents(st, [message(msg(2, 'amy', 'zoe'))]);
      assert.equal(st.incoming, true);
      st.chatDirty = false;
      st.incoming = false;
      M.applyEvents(st, [message(msg(3, 'bob', 'zoe'))]);
      assert.equal(st.chatDirty, false, 'another conversation does not redraw this one');
      assert.equal(st.incoming, false);
    });

    it('confirms an outbox message when our own message comes back with its client_id', () => {
      const st = stateFor();
      Chat.outbox.queue(st, 'amy', 'hi', 'cid-1', 1000);
      Chat.outbox.queue(st, 'amy', 'again', 'cid-2', 1001);
      const out = M.applyEvents(st, [message(msg(7, 'zoe', 'amy', { body: 'hi', client_id: 'cid-1' }))]);
      assert.equal(out.outbox, true);
      assert.deepEqual(
        st.outbox.map((o: { client_id: string }) => o.client_id),
        ['cid-2'],
      );
      assert.equal(
        M.applyEvents(st, [message(msg(8, 'amy', 'zoe', { client_id: 'cid-2' }))]).outbox,
        false,
        "a client_id on someone else's message confirms nothing of ours",
      );
      assert.equal(st.outbox.length, 1);
    });
  });

  describe('read markers', () => {
    it('clears the count when the marker reaches the newest incoming message', () => {
      const st = stateFor();
      M.applyEvents(st, [message(msg(1, 'amy', 'zoe')), message(msg(2, 'amy', 'zoe')), message(msg(3, 'zoe', 'amy'))]);
      assert.equal(st.convs.get('amy').unread, 2);
      assert.deepEqual(M.applyEvents(st, [read('amy', 2)]), { outbox: false, refresh: false, heardFrom: false, reload: [] });
      assert.equal(st.convs.get('amy').unread, 0);
      M.applyEvents(st, [message(msg(4, 'amy', 'zoe'))]);
      assert.equal(st.convs.get('amy').unread, 1, 'a later message is unread again');
      M.applyEvents(st, [read('amy', 1)]);
      assert.equal(st.convs.get('amy').readUpTo, 2, 'a marker never moves back');
      assert.equal(st.convs.get('amy').unread, 1);
    });

    it('counts what is left after a marker part-way through a loaded history', () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      M.applyEvents(
        st,
        [1, 2, 3, 4].map((id) => message(msg(id, 'amy', 'zoe'))),
      );
      M.startHistory(c);
      M.applyHistory(
        st,
        c,
        [1, 2, 3, 4].map((id) => msg(id, 'amy', 'zoe')),
        false,
      );
      assert.equal(c.unread, 4);
      assert.deepEqual(M.applyEvents(st, [read('amy', 2)]), { outbox: false, refresh: false, heardFrom: false, reload: [] });
      assert.equal(c.unread, 2);
    });

    it('asks for the counts when a marker falls where the messages are not known', () => {
      const st = stateFor();
      M.applyEvents(
        st,
        [1, 2, 3].map((id) => message(msg(id, 'amy', 'zoe'))),
      );
      assert.deepEqual(M.applyEvents(st, [read('amy', 2)]), { outbox: false, refresh: true, heardFrom: false, reload: [] });
      assert.equal(st.convs.get('amy').unread, 3, 'left as it was until the server says');
      M.applyUnreadCounts(st, [{ with: 'amy', unread: 1, last_message: msg(3, 'amy', 'zoe') }]);
      assert.equal(st.convs.get('amy').unread, 1);
      M.applyEvents(st, [message(msg(9, 'amy', 'zoe'))]);
      M.applyUnreadCounts(st, [{ with: 'amy', unread: 1, last_message: msg(3, 'amy', 'zoe') }]);
      assert.equal(st.convs.get('amy').unread, 2, 'an answer older than what we know is not taken');
      M.applyUnreadCounts(st, [null, { unread: 0 }, { with: 'ghost', unread: 5, last_message: msg(9, 'x', 'zoe') }]);
      assert.equal(st.convs.has('ghost'), false);
    });

    it('posts a marker once, only when there is something unread, and moves it when settled', () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      M.applyEvents(st, [message(msg(5, 'amy', 'zoe'))]);
      assert.equal(M.startRead(c), null, 'not before the history is loaded');
      M.startHistory(c);
      M.applyHistory(st, c, [msg(5, 'amy', 'zoe')], false);
      assert.equal(M.startRead(c), 5);
      assert.equal(c.unread, 0, 'shown read at once');
      assert.equal(M.startRead(c), null, 'one post at a time');
      M.finishRead(c, 5, false);
      assert.equal(c.readUpTo, 0, 'a failed post moves nothing');
      assert.equal(M.startRead(c), 5, 'and is tried again');
      M.finishRead(c, 5, true);
      assert.equal(c.readUpTo, 5);
      assert.equal(M.startRead(c), null, 'nothing left to post');
    });
  });

  describe('the snapshot (GET /conversations)', () => {
    it('is the truth: counts and last messages replace what was known, cached messages are dropped', () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      M.startHistory(c);
      M.applyHistory(st, c, [msg(1, 'amy', 'zoe')], false);
      M.applySnapshot(st, [
        { with: 'amy', unread: 2, last_message: msg(5, 'amy', 'zoe') },
        { with: 'bob', unread: 0, last_message: msg(4, 'zoe', 'bob') },
        { with: 42 },
        null,
      ]);
      const amy = st.convs.get('amy');
      assert.equal(amy, c, 'the same conversation object is kept');
      assert.deepEqual([amy.unread, amy.maxId, amy.maxIncomingId, amy.readUpTo, amy.loaded, amy.msgs.length], [2, 5, 5, 0, false, 0]);
      const bob = st.convs.get('bob');
      assert.deepEqual([bob.unread, bob.maxId, bob.maxIncomingId, bob.readUpTo], [0, 4, 0, 4]);
      assert.ok(st.convs.has('zoe'), 'notes to self are always there');
      assert.deepEqual(st.convs.keys().sort(), ['amy', 'bob', 'zoe']);
    });

    it('then ignores events replayed from before it, and counts the ones after', () => {
      const st = stateFor();
      M.applySnapshot(st, [{ with: 'amy', unread: 2, last_message: msg(5, 'amy', 'zoe') }]);
      M.applyEvents(st, [message(msg(4, 'amy', 'zoe')), message(msg(5, 'amy', 'zoe'))]);
      assert.equal(st.convs.get('amy').unread, 2);
      M.applyEvents(st, [message(msg(6, 'amy', 'zoe'))]);
      assert.equal(st.convs.get('amy').unread, 3);
    });

    it('keeps the worst case when our own message is the newest and some are unread', () => {
      const st = stateFor();
      M.applySnapshot(st, [{ with: 'amy', unread: 1, last_message: msg(9, 'zoe', 'amy') }]);
      const amy = st.convs.get('amy');
      assert.equal(amy.maxIncomingId, 9, 'the newest incoming id is unknown: assume the newest');
      M.applyEvents(st, [read('amy', 7)]);
      assert.equal(amy.unread, 1, 'a marker below it does not clear the count');
      M.applyEvents(st, [read('amy', 9)]);
      assert.equal(amy.unread, 0);
    });

    it('keeps conversations started here that have no messages yet, and the open one', () => {
      const st = stateFor();
      M.conversation(st, 'newbie').touched = 123;
      M.applyEvents(st, [message(msg(3, 'old', 'zoe'))]);
      st.current = 'elsewhere';
      M.applySnapshot(st, []);
      assert.equal(st.convs.get('newbie').touched, 123);
      assert.ok(st.convs.has('elsewhere'));
      assert.equal(st.convs.has('old'), false, 'one with messages the server no longer lists goes');
      assert.equal(st.chatDirty, true);
    });
  });

  describe('history pages', () => {
    it('loads the newest page in id order, taking the newest message and newest incoming one', () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      const gen = M.startHistory(c);
      assert.equal(c.loading, true);
      M.applyHistory(st, c, [msg(3, 'zoe', 'amy'), msg(1, 'amy', 'zoe'), { id: 2 }, msg(2, 'amy', 'zoe')], true);
      assert.deepEqual(ids(c), [1, 2, 3]);
      assert.deepEqual([c.loading, c.loaded, c.hasMore, c.maxId, c.last.id, c.maxIncomingId], [false, true, true, 3, 3, 2]);
      assert.equal(M.startHistory(c), (gen as number) + 1, 'a new load has a new generation');
      assert.deepEqual(ids(c), [], 'and starts from nothing');
    });

    it('adds older pages without repeating a message', () => {
      const st = stateFor();
      const c = M.conversation(st, 'amy');
      M.startHistory(c);
      M.applyHistory(st, c, [msg(5, 'amy', 'zoe'), msg(6, 'amy', 'zoe')], true);
      c.loadingOlder = true;
      M.applyOlder(c, [msg(3, 'amy', 'zoe'), msg(4, 'zoe', 'amy'), msg(5, 'amy', 'zoe')], false);
      assert.deepEqual(ids(c), [3, 4, 5, 6]);
      assert.deepEqual([c.loadingOlder, c.hasMore, c.maxId], [false, false, 6]);
    });
  });

  describe('the list, presence and forgetting', () => {
    it('orders the list: new empty conversations first (newest first), then by newest message; notes to self apart', () => {
      const st = stateFor();
      M.applyEvents(st, [
        message(msg(1, 'amy', 'zoe')),
        message(msg(5, 'bob', 'zoe')),
        message(msg(3, 'zoe', 'cid')),
        message(msg(9, 'zoe', 'zoe')),
      ]);
      M.conversation(st, 'early').touched = 10;
      M.conversation(st, 'later').touched = 20;
      assert.deepEqual(
        M.sortedConversations(st).map((c: { name: string }) => c.name),
        ['later', 'early', 'bob', 'cid', 'amy'],
      );
      assert.equal(M.totalUnread(st), 2);
    });

    it('says whether a message from someone else arrived, so who is online is asked again (#14)', () => {
      const st = stateFor();
      assert.equal(
        M.applyEvents(st, [message(msg(1, 'zoe', 'amy')), message(msg(2, 'zoe', 'zoe'))]).heardFrom,
        false,
        'our own messages say nothing of the others',
      );
      assert.equal(M.applyEvents(st, [read('amy', 1)]).heardFrom, false);
      assert.equal(M.applyEvents(st, [message(msg(3, 'amy', 'zoe'))]).heardFrom, true);
    });

    it('knows nobody is online while the page cannot reach the server (#14)', () => {
      const st = stateFor();
      st.connState = 'connected';
      M.setOnline(st, ['amy']);
      assert.equal(M.isOnline(st, 'amy'), true);
      for (const state of ['connecting', 'reconnecting', 'unreachable', 'busy', 'error', 'offline']) {
        st.connState = state;
        assert.equal(M.presenceKnown(st), false, state);
        assert.equal(M.isOnline(st, 'amy'), false, state);
      }
    });

    it('knows who is online from the presence list only', () => {
      const st = stateFor();
      st.connState = 'connected';
      M.setOnline(st, ['amy', '__proto__', 7]);
      assert.equal(M.isOnline(st, 'amy'), true);
      assert.equal(M.isOnline(st, '__proto__'), true);
      for (const name of ['bob', 'constructor', 'toString', 'hasOwnProperty', '7']) assert.equal(M.isOnline(st, name), false, name);
      M.setOnline(st, []);
      assert.equal(M.isOnline(st, 'amy'), false, 'a new list replaces the old');
    });

    it('forgets a conversation with no user behind it, and what was written to it (not one being sent)', () => {
      const st = stateFor();
      M.conversation(st, 'zoe');
      Chat.outbox.queue(st, 'ghost', 'a', 'c1', 1);
      Chat.outbox.queue(st, 'ghost', 'b', 'c2', 2);
      Chat.outbox.queue(st, 'amy', 'c', 'c3', 3);
      st.outbox[0].state = 'sending';
      assert.equal(M.forgetConversation(st, 'ghost'), true);
      assert.equal(st.convs.has('ghost'), false);
      assert.deepEqual(
        st.outbox.map((o: { client_id: string }) => o.client_id),
        ['c1', 'c3'],
      );
      assert.equal(M.forgetConversation(st, 'nobody'), false);
      M.applyEvents(st, [message(msg(1, 'amy', 'zoe'))]);
      M.forgetConversation(st, 'amy');
      assert.ok(st.convs.has('amy'), 'never one with messages');
      M.forgetConversation(st, 'zoe');
      assert.ok(st.convs.has('zoe'), 'never notes to self');
    });
  });

  describe('users named like Object.prototype members (#13)', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      it(`treats "${name}" as any other user`, () => {
        const st = stateFor();
        assert.equal(st.convs.has(name), false, 'not there before it is added');
        M.applyEvents(st, [message(msg(1, name, 'zoe')), message(msg(2, name, 'zoe'))]);
        const c = st.convs.get(name);
        assert.equal(c.name, name);
        assert.equal(c.unread, 2);
        assert.equal(M.conversation(st, name), c, 'the same conversation every time');
        assert.deepEqual(
          M.sortedConversations(st).map((x: { name: string }) => x.name),
          [name],
        );
        M.applyEvents(st, [read(name, 2)]);
        assert.equal(c.unread, 0);
        assert.equal(M.isOnline(st, name), false);
        assert.equal(st.drafts.get(name), undefined, 'no draft');
        M.applySnapshot(st, [{ with: name, unread: 1, last_message: msg(3, name, 'zoe') }]);
        assert.equal(st.convs.get(name).unread, 1);
        assert.equal(Object.getPrototypeOf(st.convs.items), Object.prototype);
      });

      it(`works for a user who is called "${name}"`, () => {
        const st = stateFor(name);
        M.applyEvents(st, [message(msg(1, name, name)), message(msg(2, 'amy', name))]);
        assert.equal(st.convs.get(name).maxId, 1, 'notes to self');
        assert.equal(st.convs.get(name).unread, 0);
        assert.equal(st.convs.get('amy').unread, 1);
        assert.deepEqual(
          M.sortedConversations(st).map((x: { name: string }) => x.name),
          ['amy'],
        );
      });
    }
  });
});
