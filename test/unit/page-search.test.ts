// The search part of the page (public/js/search.js, #17) under Node, on the real files: how a
// match is named (its conversation, 1:1 or group), which queries are sent, and a conversation
// (1:1 or group) opened at a match: the pages around it, newer pages, and no message from the
// stream while newer ones are not loaded (it would leave a gap).
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';

interface Msg {
  id: number;
  from: string;
  to: string | null;
  group?: number | null;
  body: string;
  sent_at: string;
  client_id: string | null;
}

function msg(id: number, from: string, to: string): Msg {
  return { id, from, to, group: null, body: `m${id}`, sent_at: '2026-01-01T00:00:00.000Z', client_id: null };
}

describe('page search: matches and a conversation opened at one (#17)', () => {
  const { Chat } = loadPage();
  const M = Chat.model;
  const F = Chat.search;

  function stateFor(me = 'zoe') {
    const st = M.newState();
    M.beginSession(st, { token: 't', username: me, deviceId: 'd', deviceName: 'Desk' });
    return st;
  }
  const ids = (c: { msgs: Msg[] }) => c.msgs.map((m) => m.id);

  it('names a match by who wrote it and where: the other side, oneself for a note, the group', () => {
    const label = (m: Msg, groupName: string | null = null) => F.matchLabel('zoe', m, Chat.groups.messageKey('zoe', m), groupName);
    assert.equal(label(msg(1, 'amy', 'zoe')), 'amy');
    assert.equal(label(msg(1, 'zoe', 'amy')), 'You to amy');
    assert.equal(label(msg(1, 'zoe', 'zoe')), 'Notes to self');
    const inGroup = { ...msg(1, 'amy', 'zoe'), to: null, group: 7 };
    assert.equal(Chat.groups.messageKey('zoe', inGroup), '#7');
    assert.equal(label(inGroup, 'Class 3b'), 'amy in Class 3b');
    assert.equal(label({ ...inGroup, from: 'zoe' }, 'Class 3b'), 'You in Class 3b');
    assert.equal(label(inGroup), 'amy in group 7', 'a group this page does not know yet');
  });

  it('pages a group as it pages a 1:1 conversation: only the query naming it differs', () => {
    const st = stateFor();
    const H = Chat.history;
    assert.equal(H.conversationQuery(M.conversation(st, 'amy')), 'with=amy');
    assert.equal(H.conversationQuery(M.conversation(st, '__proto__')), 'with=__proto__');
    const c = M.conversation(st, '#7');
    assert.equal(H.conversationQuery(c), 'group=7');
    // Opened at a match: a group message from the stream waits for the newer pages too.
    const g = (id: number) => ({ ...msg(id, 'amy', 'zoe'), to: null, group: 7 });
    c.maxId = 300;
    M.startHistory(c);
    c.hasNewer = true;
    M.receiveMessage(st, g(301));
    F.applyAround(st, c, [g(99), g(100)], true, [g(101)], true);
    assert.deepEqual(ids(c), [99, 100, 101]);
    assert.equal(c.hasNewer, true);
    F.applyNewer(c, [g(300), g(301)], false);
    assert.equal(c.hasNewer, false);
    M.receiveMessage(st, g(302));
    assert.deepEqual(ids(c), [99, 100, 101, 300, 301, 302]);
  });

  it('sends what the server takes: a letter or digit, at most 200 characters as it counts them', () => {
    for (const q of ['', '   ', '---', '"*%']) assert.equal(typeof F.queryProblem(q), 'string', q);
    for (const q of ['hel', '开会', 'x', '7', '😀'.repeat(199) + 'a', 'é']) assert.equal(F.queryProblem(q), null, q);
    assert.equal(typeof F.queryProblem('x'.repeat(201)), 'string');
    assert.equal(F.snippet('a\n\nb'), 'a b');
    assert.equal(F.snippet('x'.repeat(300)).length, 161);
  });

  it('holds the pages around a match and knows there is more on either side', () => {
    const st = stateFor();
    const c = M.conversation(st, 'amy');
    c.maxId = 500; // what the conversation list said is the newest
    M.startHistory(c);
    c.hasNewer = true;
    // While loading, a message from the stream is not taken: it would leave a gap.
    M.receiveMessage(st, msg(501, 'amy', 'zoe'));
    assert.deepEqual(ids(c), []);
    assert.equal(c.maxId, 501, 'but it is counted');
    F.applyAround(st, c, [msg(98, 'amy', 'zoe'), msg(99, 'zoe', 'amy'), msg(100, 'amy', 'zoe')], true, [msg(101, 'amy', 'zoe')], true);
    assert.deepEqual(ids(c), [98, 99, 100, 101]);
    assert.equal(c.hasMore, true);
    assert.equal(c.hasNewer, true);
    assert.equal(c.maxId, 501, 'the newest known stays the newest');
    M.receiveMessage(st, msg(502, 'amy', 'zoe'));
    assert.deepEqual(ids(c), [98, 99, 100, 101]);
    // The last page of newer messages: what the stream announced meanwhile is still missing.
    F.applyNewer(c, [msg(102, 'zoe', 'amy'), msg(501, 'amy', 'zoe')], false);
    assert.equal(c.hasNewer, true, '502 is known and not loaded');
    F.applyNewer(c, [msg(502, 'amy', 'zoe')], false);
    assert.equal(c.hasNewer, false);
    assert.deepEqual(ids(c), [98, 99, 100, 101, 102, 501, 502]);
    M.receiveMessage(st, msg(503, 'amy', 'zoe'));
    assert.deepEqual(ids(c).slice(-1), [503], 'at the newest again, the stream adds as always');
  });

  it('a match near the newest is the tail: nothing newer to load', () => {
    const st = stateFor();
    const c = M.conversation(st, 'amy');
    c.maxId = 10;
    M.startHistory(c);
    c.hasNewer = true;
    F.applyAround(st, c, [msg(9, 'amy', 'zoe')], false, [msg(10, 'zoe', 'amy')], false);
    assert.equal(c.hasNewer, false);
    assert.equal(c.hasMore, false);
    // Reloading from the newest (Jump to the latest) forgets the window.
    c.hasNewer = true;
    M.startHistory(c);
    assert.equal(c.hasNewer, false);
  });
});
