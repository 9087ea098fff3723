// Group conversations in the page, in real Chromium against the real server (#15): three
// users, one of them on two devices (two browser contexts); a group created in the page,
// messages and unread counts on every device, read on one device and cleared on the other, a
// member removed mid-conversation (who sees it and can no longer send, while the others see
// the quiet line), a rename shown everywhere, and a reload that keeps the open group and its
// draft; then group sends kept in the outbox through an outage.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  apiCall,
  apiLogin,
  browserSuite,
  createUser,
  DELIVERY_MS,
  eventually,
  logIn,
  onScreen,
  send,
  shownTexts,
  SIZES,
  unreadBadge,
  waitForTexts,
} from './helpers';

declare const document: any;
declare const window: any;

/** The quiet lines (membership changes) shown in the open conversation. */
function quietLines(page: Page): Promise<string[]> {
  return page.$$eval('#messages .group-line', (nodes: any[]) => nodes.map((n) => n.textContent as string));
}

/** The open group's messages as "sender: text" ("me: text" for our own). */
function groupMessages(page: Page): Promise<string[]> {
  return page.$$eval('#messages .msg[data-id]', (rows: any[]) =>
    rows.map((row) => {
      const sender = row.querySelector('.sender');
      const who = row.className.indexOf('mine') >= 0 ? 'me' : sender ? sender.textContent : '?';
      return `${who}: ${row.querySelector('.text').textContent}`;
    }),
  );
}

async function openKey(page: Page, key: string): Promise<void> {
  await page.click(`.conv[data-name="${key}"]`);
  await page.waitForSelector('#chat:not(.hidden)');
  await page.waitForFunction(() => !/Loading messages/.test(document.getElementById('messages')!.textContent ?? ''));
}

describe('group conversations in the page (#15)', function () {
  this.timeout(120000);
  const suite = browserSuite();

  async function tab(viewport?: { width: number; height: number }, path = '/'): Promise<Page> {
    const t = await suite.tab({ path, viewport });
    return t.page;
  }

  it('three users, one on two devices: create, messages, unread counts, read markers, a removal, a rename, a reload', async () => {
    for (const name of ['alice', 'bob', 'carol']) await createUser(suite.server.url, name);
    const alice = await tab();
    const bob1 = await tab();
    const bob2 = await tab();
    const carol = await tab();
    await logIn(alice, 'alice', 'Laptop');
    await logIn(bob1, 'bob', 'Phone');
    await logIn(bob2, 'bob', 'Kiosk');
    await logIn(carol, 'carol', 'Tablet');

    // alice creates the group in the page.
    await alice.click('#new-group-btn');
    await alice.fill('#group-create-name', 'Shift B');
    await alice.fill('#group-create-members', 'bob, carol');
    await alice.click('#group-create-submit');
    await alice.waitForSelector('#group-dialog.hidden', { state: 'attached' });
    const key = (await alice.evaluate(() => window.Chat.state.current)) as string;
    assert.match(key, /^#\d+$/, 'the new group is open');
    assert.equal(await alice.textContent('#chat-name'), 'Shift B');
    assert.equal(await alice.textContent('#chat-status'), 'You, bob and carol');
    await eventually(async () => assert.deepEqual(await quietLines(alice), ['You created the group \u201cShift B\u201d.']));

    // Everyone sees it in their list, on every device.
    for (const page of [bob1, bob2, carol]) {
      await eventually(async () => assert.equal(await page.textContent(`.conv[data-name="${key}"] .conv-name`), 'Shift B'));
    }

    // A message: unread on every device of the others, with who wrote it.
    await send(alice, 'Morning all');
    await waitForTexts(alice, ['Morning all'], DELIVERY_MS, 'alice');
    for (const page of [bob1, bob2, carol]) await eventually(async () => assert.equal(await unreadBadge(page, key), '1'));
    assert.match((await bob2.textContent(`.conv[data-name="${key}"] .conv-preview`)) ?? '', /^alice: Morning all$/);

    // bob reads it on his phone: the count clears there and on his kiosk, not for carol.
    await openKey(bob1, key);
    assert.deepEqual(await groupMessages(bob1), ['alice: Morning all']);
    assert.match((await quietLines(bob1)).join('|'), /(You were added|alice added you) to the group \u201cShift B\u201d\./);
    await eventually(async () => assert.equal(await unreadBadge(bob1, key), null), DELIVERY_MS, 'read on bob1');
    await eventually(async () => assert.equal(await unreadBadge(bob2, key), null), DELIVERY_MS, 'read on bob2 too');
    assert.equal(await unreadBadge(carol, key), '1');

    await send(bob1, 'Morning! On my way');
    await openKey(carol, key);
    await send(carol, 'I am in too');
    const all = ['Morning all', 'Morning! On my way', 'I am in too'];
    for (const page of [alice, bob1, carol]) await waitForTexts(page, all);
    assert.deepEqual(await groupMessages(alice), ['me: Morning all', 'bob: Morning! On my way', 'carol: I am in too']);
    assert.deepEqual(await groupMessages(carol), ['alice: Morning all', 'bob: Morning! On my way', 'me: I am in too']);
    // bob's phone has the group open and read it all, for his kiosk too.
    await eventually(async () => assert.equal(await unreadBadge(bob2, key), null), DELIVERY_MS, 'bob2: read on bob1');

    // alice removes carol mid-conversation.
    await alice.click('#group-btn');
    await alice.waitForSelector('#group-members button[data-member="carol"]');
    assert.equal(await alice.locator('#group-members button[data-member="bob"]').count(), 1, 'the owner may remove anyone');
    await alice.click('#group-members button[data-member="carol"]');
    await alice.click('#confirm-yes');
    await eventually(async () => assert.equal(await alice.locator('#group-members button[data-member="carol"]').count(), 0));
    await alice.click('#group-close');

    // carol sees that she is out and can no longer send; the others see the quiet line.
    await eventually(async () =>
      assert.match((await quietLines(carol)).pop() ?? '', /^(You are no longer in this group|alice removed you from the group)\.$/),
    );
    assert.equal(await carol.isVisible('#composer-closed'), true);
    assert.equal(await carol.isVisible('#composer-input'), false);
    assert.equal(await carol.isVisible('#group-btn'), false);
    assert.equal(await carol.textContent('#chat-status'), 'You are no longer in this group');
    assert.deepEqual(await shownTexts(carol), all, 'what reached her page stays readable until she leaves it');
    await eventually(async () => assert.match((await quietLines(alice)).pop() ?? '', /^You removed carol from the group\.$/));
    await eventually(async () =>
      assert.match((await quietLines(bob1)).pop() ?? '', /^(carol is no longer in the group|alice removed carol from the group)\.$/),
    );
    assert.equal(await bob1.textContent('#chat-status'), 'You and alice');

    // Later messages reach the members, not carol: unread on both of bob's devices while he
    // looks elsewhere, then read on his kiosk, which clears both.
    await bob1.click('.conv[data-name="bob"]');
    await send(alice, 'Carol has moved to shift A');
    for (const page of [bob1, bob2])
      await eventually(async () => assert.equal(await unreadBadge(page, key), '1'), DELIVERY_MS, 'unread on bob');
    await openKey(bob2, key);
    await waitForTexts(bob2, [...all, 'Carol has moved to shift A']);
    for (const page of [bob1, bob2])
      await eventually(async () => assert.equal(await unreadBadge(page, key), null), DELIVERY_MS, 'read on bob');
    const carolToken = await apiLogin(suite.server.url, 'carol');
    const history = await apiCall(suite.server.url, 'GET', `/messages?group=${key.slice(1)}`, undefined, carolToken);
    assert.equal(history.status, 404, 'the server shows a removed member none of it');
    assert.deepEqual(await shownTexts(carol), all, 'nothing more reaches carol');

    // bob renames the group on his phone: the new name everywhere, on both his devices.
    await openKey(bob1, key);
    await bob1.click('#group-btn');
    await bob1.fill('#group-name', 'Shift B \u2013 \u05de\u05e9\u05de\u05e8\u05ea');
    await bob1.click('#group-rename-submit');
    await bob1.click('#group-close');
    const renamed = 'Shift B \u2013 \u05de\u05e9\u05de\u05e8\u05ea';
    await eventually(async () => assert.equal(await alice.textContent('#chat-name'), renamed));
    await eventually(async () => assert.equal(await bob2.textContent(`.conv[data-name="${key}"] .conv-name`), renamed));
    await eventually(async () => assert.match((await quietLines(bob1)).pop() ?? '', /^You renamed the group to \u201cShift B/));
    assert.match((await quietLines(alice)).pop() ?? '', /^(The group was renamed to|bob renamed the group to) \u201cShift B/);
    assert.equal(await carol.textContent('#chat-name'), 'Shift B', 'carol, removed, does not get the rename');

    await eventually(async () => assert.equal(await bob2.textContent('#chat-name'), renamed));

    // A reload keeps the open group and what was being written in it.
    await bob2.fill('#composer-input', 'half-written \u05d8\u05d9\u05d5\u05d8\u05d4');
    await bob2.dispatchEvent('#composer-input', 'input');
    await bob2.reload();
    await bob2.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    await waitForTexts(bob2, [...all, 'Carol has moved to shift A'], DELIVERY_MS, 'bob2 after reload');
    assert.equal(await bob2.evaluate(() => window.Chat.state.current), key);
    assert.equal(await bob2.inputValue('#composer-input'), 'half-written \u05d8\u05d9\u05d5\u05d8\u05d4');
    assert.equal(await bob2.textContent('#chat-name'), renamed);
    assert.equal(await bob2.getAttribute('#chat-name', 'dir'), 'ltr');
    // The quiet lines too: the server keeps no history of the changes, the page does.
    assert.match((await quietLines(bob2)).join('|'), /carol.*\|You renamed the group to \u201cShift B/);

    // carol reloads: the group is gone from her list (the server no longer shows it to her).
    await carol.reload();
    await carol.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    await eventually(async () => assert.match((await carol.textContent('#notice-text')) ?? '', /not in that group any more/));
    assert.equal(await carol.locator(`.conv[data-name="${key}"]`).count(), 0);
    assert.equal(await carol.isVisible('#chat'), false);
  });

  it('a group and a user named alike, and names like __proto__, stay apart; RTL names get dir; group sends survive an outage', async () => {
    for (const name of ['__proto__', 'constructor', 'dana']) await createUser(suite.server.url, name);
    const danaToken = await apiLogin(suite.server.url, 'dana');
    const made = await apiCall(
      suite.server.url,
      'POST',
      '/groups',
      { name: 'constructor', members: ['__proto__', 'constructor'] },
      danaToken,
    );
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const key = `#${made.body.group.id as number}`;
    const rtl = await apiCall(
      suite.server.url,
      'POST',
      '/groups',
      { name: '\u0641\u0631\u064a\u0642 \u0627\u0644\u0639\u0645\u0644', members: ['constructor'] },
      danaToken,
    );
    assert.equal(rtl.status, 201);
    const rtlKey = `#${rtl.body.group.id as number}`;
    assert.equal(
      (await apiCall(suite.server.url, 'POST', '/messages', { to: 'constructor', body: 'direct <b>hi</b>' }, danaToken)).status,
      201,
    );
    assert.equal(
      (await apiCall(suite.server.url, 'POST', '/messages', { group: made.body.group.id, body: 'to the group <img src=x>' }, danaToken))
        .status,
      201,
    );

    const page = await tab(SIZES.phone);
    await logIn(page, 'constructor', 'Phone');
    await eventually(async () => assert.equal(await page.locator('.conv').count(), 4), DELIVERY_MS, 'notes, dana, two groups');
    assert.equal(await page.textContent(`.conv[data-name="${key}"] .conv-name`), 'constructor');
    assert.equal(await page.getAttribute(`.conv[data-name="${rtlKey}"] .conv-name`, 'dir'), 'rtl');
    assert.equal(await page.textContent('.conv[data-name="dana"] .conv-preview'), 'direct <b>hi</b>');
    assert.equal(await page.locator('#conv-list b, #conv-list img').count(), 0);
    await openKey(page, key);
    assert.deepEqual(await groupMessages(page), ['dana: to the group <img src=x>']);
    assert.equal(await page.locator('#messages img').count(), 0);

    // On the phone, the group's controls fit.
    for (const sel of ['#group-btn', '#composer-input', '#send-btn', '#back-btn'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await page.click('#group-btn');
    for (const sel of ['#group-name', '#group-rename-submit', '#group-add-name', '#group-add-submit', '#group-close'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    assert.deepEqual(await page.$$eval('#group-members .member-name', (n: any[]) => n.map((x) => x.textContent)), [
      '__proto__',
      'constructor',
      'dana',
    ]);
    assert.equal(await page.locator('#group-members button').count(), 0, 'only the owner removes members');
    await page.click('#group-close');

    // Sends cannot get through: the group message is kept (in storage too, under the group's
    // key), and sent once they can.
    await page.route('**/messages', (route) => (route.request().method() === 'POST' ? route.abort() : route.continue()));
    await send(page, 'kept through the outage');
    await page.waitForSelector('#messages .msg.queued, #messages .msg.sending, #messages .msg.failed');
    const saved = await page.evaluate(() => JSON.parse(window.localStorage.getItem('chat.outbox.constructor')));
    assert.equal(saved.length, 1);
    assert.equal(saved[0].to, key);
    await page.unroute('**/messages');
    // What the page does when its poll reconnects (a send marked failed for want of a
    // connection goes again by itself).
    await page.evaluate(() => window.Chat.send.requeueAfterReconnect());
    await waitForTexts(page, ['to the group <img src=x>', 'kept through the outage'], 40000);
    const history = await apiCall(suite.server.url, 'GET', `/messages?group=${key.slice(1)}`, undefined, danaToken);
    assert.deepEqual(
      history.body.messages.map((m: { body: string }) => m.body),
      ['to the group <img src=x>', 'kept through the outage'],
    );
    // And the user "constructor"'s 1:1 conversation with dana is not the group "constructor".
    await page.click('#back-btn');
    await page.click('.conv[data-name="dana"]');
    await waitForTexts(page, ['direct <b>hi</b>']);
  });

  it('fits the group dialog on an 800x480 kiosk', async () => {
    await createUser(suite.server.url, 'kiosk1');
    const page = await tab(SIZES.kiosk);
    await logIn(page, 'kiosk1', 'Kiosk');
    await page.click('#new-group-btn');
    for (const sel of ['#group-create-name', '#group-create-members', '#group-create-submit', '#group-close'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await page.fill('#group-create-name', 'Front desk');
    await page.fill('#group-create-members', 'nobody-here');
    await page.click('#group-create-submit');
    await page.waitForSelector('#group-error:not(.hidden)');
    assert.ok((await onScreen(page, '#group-create-submit')).ok);
    await page.fill('#group-create-members', '');
    await page.click('#group-create-submit');
    await page.waitForSelector('#group-dialog.hidden', { state: 'attached' });
    await send(page, 'just me for now');
    await waitForTexts(page, ['just me for now']);
    for (const sel of ['#group-btn', '#composer-input', '#send-btn', '#new-group-btn'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await page.click('#group-btn');
    for (const sel of ['#group-name', '#group-add-name', '#group-leave', '#group-close'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    // Leaving (the last member) after the question in the page.
    await page.click('#group-leave');
    await page.click('#confirm-yes');
    await page.waitForSelector('#composer-closed:not(.hidden)');
    assert.ok((await onScreen(page, '#composer-closed')).ok);
  });

  it('has the group controls in the layout where the page itself scrolls', async () => {
    await createUser(suite.server.url, 'oldphone');
    await createUser(suite.server.url, 'oldpeer');
    const peerToken = await apiLogin(suite.server.url, 'oldpeer');
    const made = await apiCall(suite.server.url, 'POST', '/groups', { name: 'Old phones', members: ['oldphone'] }, peerToken);
    assert.equal(made.status, 201);
    const key = `#${made.body.group.id as number}`;
    for (let i = 1; i <= 30; i++) {
      assert.equal(
        (await apiCall(suite.server.url, 'POST', '/messages', { group: made.body.group.id, body: `line ${i}` }, peerToken)).status,
        201,
      );
    }
    const page = await tab(SIZES.phone, '/?layout=page');
    await logIn(page, 'oldphone', 'Old phone');
    await eventually(async () => assert.equal(await unreadBadge(page, key), '30'));
    assert.ok((await onScreen(page, '#new-group-btn')).ok);
    await openKey(page, key);
    await eventually(async () => assert.equal(await unreadBadge(page, key), null), DELIVERY_MS, 'read at the bottom of the page');
    // The head scrolls with the page: it is at the top.
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const sel of ['#group-btn', '#back-btn']) assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await page.click('#group-btn');
    for (const sel of ['#group-close', '#group-name', '#group-leave']) assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await page.keyboard.press('Escape');
    assert.equal(await page.isVisible('#group-dialog'), false, 'Escape closes it');
  });

  it('passes ownership on when the owner leaves, and a member who leaves sees it on every device', async () => {
    for (const name of ['olga', 'pete', 'quinn']) await createUser(suite.server.url, name);
    const olgaToken = await apiLogin(suite.server.url, 'olga');
    const made = await apiCall(suite.server.url, 'POST', '/groups', { name: 'Night shift', members: ['pete', 'quinn'] }, olgaToken);
    assert.equal(made.status, 201);
    const key = `#${made.body.group.id as number}`;
    const pete = await tab();
    const quinn1 = await tab(SIZES.phone);
    const quinn2 = await tab(SIZES.kiosk);
    await logIn(pete, 'pete', 'Desk');
    await logIn(quinn1, 'quinn', 'Phone');
    await logIn(quinn2, 'quinn', 'Kiosk');
    for (const page of [pete, quinn1, quinn2]) {
      await eventually(async () => assert.equal(await page.locator(`.conv[data-name="${key}"]`).count(), 1));
      await openKey(page, key);
    }

    // The owner leaves (through the API): pete joined first, so he owns it now.
    assert.equal((await apiCall(suite.server.url, 'DELETE', `/groups/${key.slice(1)}/members/olga`, undefined, olgaToken)).status, 204);
    await eventually(async () =>
      assert.deepEqual((await quietLines(pete)).slice(-2), ['olga left the group.', 'You are now the owner of the group.']),
    );
    await eventually(async () =>
      assert.deepEqual((await quietLines(quinn1)).slice(-2), ['olga left the group.', 'pete is now the owner of the group.']),
    );
    await pete.click('#group-btn');
    await pete.waitForSelector('#group-members button[data-member="quinn"]');
    await pete.click('#group-close');

    // quinn leaves on her phone: both her devices say so and close the composer; pete sees it.
    await quinn1.click('#group-btn');
    await quinn1.click('#group-leave');
    await quinn1.click('#confirm-yes');
    for (const page of [quinn1, quinn2]) {
      await eventually(async () => assert.equal((await quietLines(page)).pop(), 'You left the group.'));
      await page.waitForSelector('#composer-closed:not(.hidden)');
      assert.ok((await onScreen(page, '#composer-closed')).ok);
      assert.equal(await page.textContent(`.conv[data-name="${key}"] .conv-preview`), 'You are no longer in this group');
    }
    await eventually(async () => assert.equal((await quietLines(pete)).pop(), 'quinn left the group.'));
    assert.equal(await pete.textContent('#chat-status'), 'Only you');
  });
});
