// Search in history on the page, in real Chromium against the real server (issue #17): the
// search box lists matches with their conversation and time, never another people's message
// nor one from a group the reader was removed from; a match, 1:1 or in a group, opens its
// conversation at that message, with older and newer history loadable
// around it, and the page finds its way back to the newest (by asking, or by sending).
import assert from 'node:assert/strict';
import { apiCall, apiLogin, browserSuite, createUser, DELIVERY_MS, eventually, send, shownMessages, type Tab } from './helpers';

// Callbacks given to page.evaluate run inside the page; the project compiles without the DOM
// library, so name the browser globals they use.
declare const document: any;

/** Messages rita sends sam; the match is number MATCH_AT, so pages lie on both sides of it. */
const HISTORY = 160;
const MATCH_AT = 60;
/** Messages rita sends the group "Trip" (sam and otto in it); the match is number GROUP_MATCH_AT. */
const GROUP_HISTORY = 150;
const GROUP_MATCH_AT = 70;

describe('search on the page in Chromium (#17)', function () {
  this.timeout(90000);
  const suite = browserSuite({ env: { RATE_MESSAGES_USER: '10000/60' } });
  let rita: string;
  let matchId = 0;
  let groupMatchId = 0;
  let groupId = 0;

  before(async () => {
    for (const name of ['sam', 'rita', 'otto']) await createUser(suite.server.url, name);
    rita = await apiLogin(suite.server.url, 'rita');
    const otto = await apiLogin(suite.server.url, 'otto');
    for (let i = 0; i < HISTORY; i++) {
      const body = i === MATCH_AT ? 'The meeting address is 12 Elm St, 3rd floor' : `small talk ${i}`;
      const r = await apiCall(suite.server.url, 'POST', '/messages', { to: 'sam', body }, rita);
      assert.equal(r.status, 201);
      if (i === MATCH_AT) matchId = r.body.message.id as number;
    }
    await apiCall(suite.server.url, 'POST', '/messages', { to: 'sam', body: '明天在东京开会' }, rita);
    await apiCall(suite.server.url, 'POST', '/messages', { to: 'rita', body: 'the secret meeting address, not for sam' }, otto);
    // A group, and otto removed from it once everything was said: its matches are not his.
    const made = await apiCall(suite.server.url, 'POST', '/groups', { name: 'Trip', members: ['sam', 'otto'] }, rita);
    assert.equal(made.status, 201);
    groupId = made.body.group.id as number;
    for (let i = 0; i < GROUP_HISTORY; i++) {
      const body = i === GROUP_MATCH_AT ? 'The ferry leaves pier 4 at 7:15' : `trip chat ${i}`;
      const r = await apiCall(suite.server.url, 'POST', '/messages', { group: groupId, body }, rita);
      assert.equal(r.status, 201);
      if (i === GROUP_MATCH_AT) groupMatchId = r.body.message.id as number;
    }
    assert.equal((await apiCall(suite.server.url, 'DELETE', `/groups/${groupId}/members/otto`, undefined, rita)).status, 204);
  });

  const userTab = (name: string) => suite.loggedInTab(name, 'search test', { viewport: { width: 1024, height: 700 } });
  const samsTab = () => userTab('sam');

  function results(t: Tab): Promise<{ who: string; when: string; text: string }[]> {
    return t.page.$$eval('#search-list .search-hit', (hits) =>
      hits.map((h) => ({
        who: h.querySelector('.search-who')?.textContent ?? '',
        when: h.querySelector('.search-when')?.textContent ?? '',
        text: h.querySelector('.search-text')?.textContent ?? '',
      })),
    );
  }

  async function search(t: Tab, q: string): Promise<void> {
    await t.page.fill('#search-input', q);
    await t.page.press('#search-input', 'Enter');
    await t.page.waitForSelector('#search-results:not(.hidden)');
    await t.page.waitForFunction(() => !/Searching/.test(document.getElementById('search-status').textContent));
  }

  it('lists the matches with their conversation and time, and only the caller’s', async () => {
    const t = await samsTab();
    await search(t, 'MEET addr');
    const found = await results(t);
    assert.equal(found.length, 1, JSON.stringify(found));
    const hit = found[0] ?? assert.fail('no match shown');
    assert.equal(hit.who, 'rita');
    assert.match(hit.when, /^\d\d:\d\d$/, 'today: the time');
    assert.equal(hit.text, 'The meeting address is 12 Elm St, 3rd floor');
    assert.match((await t.page.textContent('#search-status')) ?? '', /1 message matches/);
    assert.equal(await t.page.isVisible('#conv-scroll'), false, 'in place of the conversation list');

    await search(t, '东京');
    assert.deepEqual(
      (await results(t)).map((r) => r.text),
      ['明天在东京开会'],
    );
    await search(t, 'secret');
    assert.deepEqual(await results(t), []);
    assert.match((await t.page.textContent('#search-status')) ?? '', /No messages match/);

    await search(t, 'small talk');
    assert.equal((await results(t)).length, 20);
    await t.page.click('#search-more');
    await eventually(async () => assert.equal((await results(t)).length, 40), DELIVERY_MS, 'a second page of matches');

    await t.page.click('#search-close');
    assert.equal(await t.page.isVisible('#search-results'), false);
    assert.equal(await t.page.isVisible('#conv-scroll'), true);
    assert.deepEqual(t.errors, []);
  });

  it('opens the conversation at the match, loads newer messages, and jumps to the latest', async () => {
    const t = await samsTab();
    await search(t, 'elm');
    await t.page.click('#search-list .search-hit');
    await t.page.waitForSelector(`#messages .msg.found[data-id="${matchId}"]`, { timeout: DELIVERY_MS });
    const box = await t.page.locator(`#messages .msg[data-id="${matchId}"]`).boundingBox();
    const pane = await t.page.locator('#messages').boundingBox();
    assert.ok(box && pane && box.y >= pane.y - 1 && box.y < pane.y + pane.height, 'the match is in view');
    let shown = await shownMessages(t.page);
    assert.equal(shown[shown.length - 1]?.text, `small talk ${MATCH_AT + 50}`, 'the page after the match');
    assert.ok(
      shown.some((m) => m.text === `small talk ${MATCH_AT - 49}`),
      'the page ending with it',
    );
    assert.equal(await t.page.isVisible('button[data-action="newer"]'), true);

    // A message arriving meanwhile waits for its turn: no gap in what is shown.
    await apiCall(suite.server.url, 'POST', '/messages', { to: 'sam', body: 'fresh news' }, rita);
    await t.page.click('button[data-action="newer"]');
    await eventually(
      async () => {
        shown = await shownMessages(t.page);
        // small talk 111 to 159 and the message after them: 50, the page's size.
        assert.equal(shown[shown.length - 1]?.text, '明天在东京开会');
      },
      DELIVERY_MS,
      'the next page of newer messages',
    );
    const ids = shown.map((m) => m.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    assert.ok(!shown.some((m) => m.text === 'fresh news'));

    await t.page.click('button[data-action="latest"]');
    await eventually(
      async () => {
        shown = await shownMessages(t.page);
        assert.equal(shown[shown.length - 1]?.text, 'fresh news');
      },
      DELIVERY_MS,
      'the newest messages',
    );
    assert.equal(await t.page.isVisible('button[data-action="newer"]'), false);
    // Back at the newest, new messages appear as always.
    await apiCall(suite.server.url, 'POST', '/messages', { to: 'sam', body: 'and more news' }, rita);
    await eventually(async () => assert.equal((await shownMessages(t.page)).at(-1)?.text, 'and more news'), DELIVERY_MS, 'a live message');
    assert.deepEqual(t.errors, []);
  });

  it('sending from a conversation opened at a match shows the newest messages and the new one', async () => {
    const t = await samsTab();
    await search(t, '3rd floor');
    await t.page.click('#search-list .search-hit');
    await t.page.waitForSelector(`#messages .msg[data-id="${matchId}"]`, { timeout: DELIVERY_MS });
    const newest = (await apiCall(suite.server.url, 'GET', '/messages?with=sam&limit=1', undefined, rita)).body.messages[0].body as string;
    await send(t.page, 'see you there');
    await eventually(
      async () => {
        const shown = await shownMessages(t.page);
        assert.deepEqual(
          shown.slice(-2).map((m) => [m.text, m.mine]),
          [
            [newest, false],
            ['see you there', true],
          ],
        );
      },
      DELIVERY_MS,
      'the newest messages with the one just sent',
    );
    assert.deepEqual(t.errors, []);
  });

  it('opens a group at the match, with older and newer messages loadable around it', async () => {
    const t = await samsTab();
    await search(t, 'ferry PIER');
    assert.deepEqual(
      (await results(t)).map((r) => [r.who, r.text]),
      [['rita in Trip', 'The ferry leaves pier 4 at 7:15']],
    );
    await t.page.click('#search-list .search-hit');
    await t.page.waitForSelector(`#messages .msg.found[data-id="${groupMatchId}"]`, { timeout: DELIVERY_MS });
    assert.equal(await t.page.textContent('#chat-name'), 'Trip');
    let shown = await shownMessages(t.page);
    assert.equal(shown[0]?.text, `trip chat ${GROUP_MATCH_AT - 49}`, 'the page ending with the match');
    assert.equal(shown.at(-1)?.text, `trip chat ${GROUP_MATCH_AT + 50}`, 'the page after it');
    assert.equal(await t.page.isVisible('button[data-action="newer"]'), true);

    // Older: scrolling up loads the rest, down to the group's first message.
    await eventually(
      async () => {
        await t.page.$eval('#messages', (m) => {
          m.scrollTop = 0;
        });
        assert.equal((await shownMessages(t.page))[0]?.text, 'trip chat 0');
      },
      15000,
      'the older messages',
    );
    assert.match((await t.page.textContent('#messages')) ?? '', /This is the start of the group’s messages/);

    // Newer: the next page is the last one; then live group messages appear as always.
    await t.page.click('button[data-action="newer"]');
    await eventually(
      async () => assert.equal((await shownMessages(t.page)).at(-1)?.text, `trip chat ${GROUP_HISTORY - 1}`),
      DELIVERY_MS,
      'the newer messages',
    );
    shown = await shownMessages(t.page);
    assert.deepEqual(
      shown.map((m) => m.text),
      Array.from({ length: GROUP_HISTORY }, (_, i) => (i === GROUP_MATCH_AT ? 'The ferry leaves pier 4 at 7:15' : `trip chat ${i}`)),
      'the whole history, in order, without gaps or repeats',
    );
    assert.equal(await t.page.isVisible('button[data-action="newer"]'), false);
    await apiCall(suite.server.url, 'POST', '/messages', { group: groupId, body: 'see you on the boat' }, rita);
    await eventually(
      async () => assert.equal((await shownMessages(t.page)).at(-1)?.text, 'see you on the boat'),
      DELIVERY_MS,
      'a live message',
    );
    assert.deepEqual(t.errors, []);
  });

  it('a member removed from a group does not see its matches', async () => {
    const t = await userTab('otto');
    await search(t, 'ferry');
    assert.deepEqual(await results(t), []);
    assert.match((await t.page.textContent('#search-status')) ?? '', /No messages match/);
    await search(t, 'trip chat');
    assert.deepEqual(await results(t), []);
    // What is his still is found.
    await search(t, 'secret');
    assert.deepEqual(
      (await results(t)).map((r) => [r.who, r.text]),
      [['You to rita', 'the secret meeting address, not for sam']],
    );
  });
});
