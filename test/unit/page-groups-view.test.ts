// The page's groups as the reader sees them, under Node (#15): the open group and the drafts
// kept across a reload apart from a user's, the quiet lines kept too, what the list and the
// head call a group, and the checks of what is typed in the group dialog. The real files are
// loaded. The state's group paths are page-groups.test.ts.
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';
import { gmsg, group, groupEvent, message } from '../support/page-data';

describe('page groups: what the reader sees and types (#15)', () => {
  const { Chat } = loadPage();
  const M = Chat.model;
  const G = Chat.groups;

  function stateFor(me = 'zoe') {
    const st = M.newState();
    M.beginSession(st, { token: 't', username: me, deviceId: 'd', deviceName: 'Desk' });
    return st;
  }

  describe('kept across a reload', () => {
    it('keeps the open group and the drafts of a group and a user named alike apart', () => {
      const { Chat: page } = loadPage();
      const S = page.state;
      page.model.beginSession(S, { token: 't', username: 'zoe', deviceId: 'd', deviceName: 'Desk' });
      S.current = '#7';
      S.drafts.set('#7', 'to the group');
      S.drafts.set('amy', 'to amy');
      S.drafts.set('__proto__', 'to __proto__');
      page.nav.saveView();
      const view = page.nav.loadView();
      assert.equal(view.current, '#7');
      assert.deepEqual(view.drafts.keys().sort(), ['#7', '__proto__', 'amy']);
      assert.equal(view.drafts.get('#7'), 'to the group');
      assert.equal(view.drafts.get('__proto__'), 'to __proto__');
      assert.deepEqual(view.lines.keys(), []);
      // What an older page stored (a username) still reads; anything else is dropped.
      for (const [stored, expected] of [
        ['amy', 'amy'],
        ['#0', null],
        ['Not A Name', null],
      ] as const) {
        page.storage.save(page.storage.viewKey('zoe'), JSON.stringify({ current: stored, drafts: [] }));
        assert.equal(page.nav.loadView().current, expected, stored);
      }
    });
  });

  describe('quiet lines kept across a reload', () => {
    it('stores the groups’ latest lines and gives them back to the group when it is seen again', () => {
      const { Chat: page } = loadPage();
      const S = page.state;
      const session = { token: 't', username: 'zoe', deviceId: 'd', deviceName: 'Desk' };
      page.model.beginSession(S, session);
      page.model.applyEvents(S, [groupEvent(group(7, 'g', 'amy', ['amy', 'zoe'])), message(gmsg(3, 'amy', 7))]);
      for (let i = 1; i <= 40; i++) page.model.applyEvents(S, [groupEvent(group(7, `g${i}`, 'amy', ['amy', 'zoe']))]);
      assert.equal(S.linesDirty, true);
      page.nav.saveView();
      assert.equal(S.linesDirty, false);

      // The reload: a new session on the same storage.
      page.model.beginSession(S, session);
      const view = page.nav.loadView();
      assert.deepEqual(view.lines.keys(), ['#7']);
      const kept = view.lines.get('#7');
      assert.equal(kept.length, 30, 'the latest 30');
      assert.equal(kept[29].text, 'The group was renamed to \u201cg40\u201d.');
      assert.equal(kept[29].after, 3);
      S.savedLines = view.lines;
      page.model.applySnapshot(S, [{ group: group(7, 'g40', 'amy', ['amy', 'zoe']), last_message: gmsg(3, 'amy', 7), unread: 0 }]);
      assert.equal(S.convs.get('#7').lines.length, 30, 'the group has them back');
      assert.equal(new Set(S.convs.get('#7').lines.map((l: { seq: number }) => l.seq)).size, 30, 'each with its own number');
      // Malformed lines are dropped.
      assert.deepEqual(page.groups.linesFromSaved(S, [['amy', 1, 'x'], ['#7', '1', 'x'], ['#7', 1, 2], null, ['#8', 0, 'ok']]).keys(), [
        '#8',
      ]);
    });
  });

  describe('what the list and the head say', () => {
    it('sums up the members, the reader first, and a large group in a few names', () => {
      assert.equal(G.memberSummary(group(1, 'g', 'amy', ['amy', 'zoe']), 'zoe'), 'You and amy');
      assert.equal(G.memberSummary(group(1, 'g', 'zoe', ['zoe']), 'zoe'), 'Only you');
      assert.equal(G.memberSummary(group(1, 'g', null, []), 'zoe'), 'No members');
      const big = Array.from({ length: 256 }, (_, i) => `u${String(i).padStart(3, '0')}`);
      assert.equal(G.memberSummary(group(1, 'g', 'u000', [...big.slice(1), 'zoe']), 'zoe'), 'You, u001, u002, u003 and 252 others');
    });

    it('calls a group by its name, and an unknown one "Group"', () => {
      const st = stateFor();
      M.applyEvents(st, [message(gmsg(3, 'amy', 9))]);
      assert.equal(G.title(st.convs.get('#9'), 'zoe'), 'Group');
      assert.equal(G.title(M.conversation(st, 'zoe'), 'zoe'), 'Notes to self');
      assert.equal(G.title(M.conversation(st, 'amy'), 'zoe'), 'amy');
    });
  });

  describe('what the user types', () => {
    it('checks a new group: a name, and members separated by commas or spaces', () => {
      assert.deepEqual(G.checkNewGroup('  Class 3b ', 'Amy, @bob  carol,amy zoe', 'zoe'), {
        name: 'Class 3b',
        members: ['amy', 'bob', 'carol'],
      });
      assert.deepEqual(G.checkNewGroup('solo', '', 'zoe'), { name: 'solo', members: [] });
      assert.match(G.checkNewGroup('  ', 'amy', 'zoe').problem, /name/);
      assert.match(G.checkNewGroup('x'.repeat(65), '', 'zoe').problem, /64/);
      assert.deepEqual(G.checkNewGroup('\u{1F600}'.repeat(64), '', 'zoe').name, '\u{1F600}'.repeat(64), 'characters, not UTF-16 units');
      assert.match(G.checkNewGroup('ok', 'amy, Not-Valid!', 'zoe').problem, /not-valid!.*not a valid username/);
      assert.deepEqual(G.checkNewGroup('__proto__', '__proto__ constructor', 'zoe'), {
        name: '__proto__',
        members: ['__proto__', 'constructor'],
      });
    });

    it('checks a new name', () => {
      assert.deepEqual(G.checkGroupName(' \u05db\u05d9\u05ea\u05d4 \u05d2 '), { name: '\u05db\u05d9\u05ea\u05d4 \u05d2' });
      assert.match(G.checkGroupName('\n').problem, /name/);
    });
  });
});
