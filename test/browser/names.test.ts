// Usernames that are also names of JavaScript's own object members (#13). "__proto__" and
// "constructor" are valid usernames; a page that keeps users in plain objects loses the first
// (assigning it replaces the object's prototype) and reads a function for the second (always
// "online", a draft of "function Object() { [native code] }").
import assert from 'node:assert/strict';
import {
  apiCall,
  apiLogin,
  browserSuite,
  createUser,
  DELIVERY_MS,
  eventually,
  logIn,
  openConversation,
  send,
  unreadBadge,
  waitForTexts,
} from './helpers';

const PROTO = '__proto__';
const CTOR = 'constructor';

describe('chat page with users named __proto__ and constructor (#13)', function () {
  this.timeout(60000);
  const suite = browserSuite();

  const tab = () => suite.tab();

  it('lists both conversations with their unread counts, right presence and empty drafts (#13)', async () => {
    for (const u of ['zoe', PROTO, CTOR]) await createUser(suite.server.url, u);
    const proto = await apiLogin(suite.server.url, PROTO);
    const ctor = await apiLogin(suite.server.url, CTOR);
    // __proto__ has just polled, so is online; constructor never polls, so is not.
    assert.equal((await apiCall(suite.server.url, 'GET', '/poll?timeout=0', undefined, proto)).status, 200);
    const online = await apiCall(suite.server.url, 'GET', '/presence', undefined, proto);
    assert.deepEqual(online.body.online, [PROTO], 'the server sees only __proto__ online');

    const { page } = await tab();
    await logIn(page, 'zoe', 'Desk');
    assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: 'zoe', body: 'hello from proto' }, proto)).status, 201);
    for (const body of ['hello from constructor', 'are you there?']) {
      assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: 'zoe', body }, ctor)).status, 201);
    }

    // Both conversations appear, with their counts (and the total in the title).
    await eventually(async () => assert.equal(await unreadBadge(page, PROTO), '1'), DELIVERY_MS, '__proto__ listed with 1 unread');
    await eventually(async () => assert.equal(await unreadBadge(page, CTOR), '2'), DELIVERY_MS, 'constructor listed with 2 unread');
    assert.match(await page.title(), /^\(3\) /);
    assert.equal(await page.locator('.conv').count(), 3, 'notes to self, __proto__ and constructor');
    // Presence as the server said it.
    assert.equal(await page.getAttribute(`.conv[data-name="${PROTO}"] .dot`, 'title'), 'Online');
    assert.equal(await page.getAttribute(`.conv[data-name="${CTOR}"] .dot`, 'title'), 'Offline');

    // Opening constructor: its messages, "Offline", and nothing in the composer.
    await openConversation(page, CTOR);
    await waitForTexts(page, ['hello from constructor', 'are you there?']);
    assert.equal(await page.textContent('#chat-status'), 'Offline');
    assert.equal(await page.inputValue('#composer-input'), '', 'no draft in a new conversation');
    await eventually(async () => assert.equal(await unreadBadge(page, CTOR), null), DELIVERY_MS, 'constructor read');
    assert.match(await page.title(), /^\(1\) /);

    // A draft there is kept while __proto__ is open beside it, and only there.
    await page.fill('#composer-input', 'half a reply');
    await page.click(`.conv[data-name="${PROTO}"]`);
    await waitForTexts(page, ['hello from proto']);
    assert.equal(await page.textContent('#chat-status'), 'Online');
    assert.equal(await page.inputValue('#composer-input'), '', 'no draft in __proto__');
    await eventually(async () => assert.equal(await unreadBadge(page, PROTO), null), DELIVERY_MS, '__proto__ read');
    assert.doesNotMatch(await page.title(), /^\(/);
    await page.click(`.conv[data-name="${CTOR}"]`);
    assert.equal(await page.inputValue('#composer-input'), 'half a reply', 'the draft is back');

    // The read markers reached the server.
    const convs = await apiCall(suite.server.url, 'GET', '/conversations', undefined, await apiLogin(suite.server.url, 'zoe'));
    for (const name of [PROTO, CTOR]) {
      const row = convs.body.conversations.find((c: { with: string }) => c.with === name);
      assert.equal(row?.unread, 0, `zoe has read ${name}`);
    }

    // A reply to __proto__ goes out and is shown once.
    await page.click(`.conv[data-name="${PROTO}"]`);
    await send(page, 'hi proto');
    await waitForTexts(page, ['hello from proto', 'hi proto']);
    const history = await apiCall(suite.server.url, 'GET', '/messages?with=zoe', undefined, proto);
    assert.deepEqual(
      history.body.messages.map((m: { body: string }) => m.body),
      ['hello from proto', 'hi proto'],
    );
  });

  it('works for a user who is called __proto__ or constructor: notes to self, sending, unread counts (#13)', async () => {
    await createUser(suite.server.url, 'yann');
    const yann = await apiLogin(suite.server.url, 'yann');
    const protoTab = (await tab()).page;
    const ctorTab = (await tab()).page;
    await logIn(protoTab, PROTO, 'Kiosk');
    await logIn(ctorTab, CTOR, 'Laptop');

    // Notes to self: the conversation named after the user.
    for (const [page, me] of [
      [protoTab, PROTO],
      [ctorTab, CTOR],
    ] as const) {
      await openConversation(page, me);
      assert.equal(await page.textContent('#chat-name'), 'Notes to self');
      assert.equal(await page.inputValue('#composer-input'), '');
      await send(page, `note of ${me}`);
      await waitForTexts(page, [`note of ${me}`], DELIVERY_MS, me);
    }

    // One writes to the other: the conversation appears with its count, then is read.
    await openConversation(protoTab, CTOR);
    await send(protoTab, 'from proto to ctor');
    await eventually(
      async () => assert.equal(await unreadBadge(ctorTab, PROTO), '1'),
      DELIVERY_MS,
      'constructor sees 1 unread from __proto__',
    );
    assert.equal(await ctorTab.getAttribute(`.conv[data-name="${PROTO}"] .dot`, 'title'), 'Online', '__proto__ polls, so is online');
    await openConversation(ctorTab, PROTO);
    await waitForTexts(ctorTab, ['from proto to ctor']);
    assert.equal(await ctorTab.inputValue('#composer-input'), '');
    await eventually(async () => assert.equal(await unreadBadge(ctorTab, PROTO), null), DELIVERY_MS, 'read');

    // Someone else writes to both; each sees it.
    for (const to of [PROTO, CTOR]) {
      assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to, body: `yann to ${to}` }, yann)).status, 201);
    }
    await eventually(async () => assert.equal(await unreadBadge(protoTab, 'yann'), '1'), DELIVERY_MS, '__proto__ sees yann');
    await eventually(async () => assert.equal(await unreadBadge(ctorTab, 'yann'), '1'), DELIVERY_MS, 'constructor sees yann');
    // A reload keeps the account and rebuilds the list from the server.
    await protoTab.reload();
    await protoTab.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    assert.equal(await protoTab.textContent('#me-name'), PROTO);
    await eventually(async () => assert.equal(await unreadBadge(protoTab, 'yann'), '1'), DELIVERY_MS, 'still 1 after reload');
    assert.equal(await protoTab.locator(`.conv[data-name="${CTOR}"]`).count(), 1);
  });
});
