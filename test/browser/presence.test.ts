// Who the page shows online (#14). The server's rules are tested through HTTP
// (test/http/presence.test.ts); here, that the page shows them: someone who has just sent a
// message is online at once, nobody is shown online while the page cannot reach the server,
// the others are back online within seconds of a restart, and someone who logged out or whose
// device was revoked goes offline on the next look. Its own file: it restarts its server.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { sleep } from '../support/util';
import { apiCall, apiLogin, browserSuite, connState, createUser, eventually, logIn, openConversation, SIZES, type Tab } from './helpers';

declare const document: any;
declare const window: any;

/** What the page shows about `name`: the list's dot, and the open conversation's status line. */
async function shownPresence(page: Page, name: string): Promise<{ dot: string | null; status: string; label: string }> {
  return page.evaluate((n) => {
    const btn = document.querySelector(`.conv[data-name="${n}"]`);
    const dot = btn && btn.querySelector('.dot');
    return {
      dot: dot ? (dot.className.indexOf('dot-on') >= 0 ? 'on' : 'off') : null,
      status: document.getElementById('chat-status').textContent,
      label: btn ? btn.getAttribute('aria-label') : '',
    };
  }, name);
}

async function onlineDots(page: Page): Promise<number> {
  return page.locator('#conv-list .dot-on').count();
}

describe('who the page shows online (#14)', function () {
  this.timeout(120000);
  const suite = browserSuite();
  let n = 0;

  async function tab(size: keyof typeof SIZES = 'desktop'): Promise<Tab> {
    return suite.tab({ viewport: SIZES[size] });
  }

  /** Two new users; `a` and `b` are their names. */
  async function pair(): Promise<{ a: string; b: string }> {
    n += 1;
    const a = `pa${n}`;
    const b = `pb${n}`;
    await createUser(suite.server.url, a);
    await createUser(suite.server.url, b);
    return { a, b };
  }

  it('shows someone who has just sent a message as online at once, though they never poll (#14)', async () => {
    const { a, b } = await pair();
    const page = (await tab()).page;
    await logIn(page, b, 'Desk');
    const aToken = await apiLogin(suite.server.url, a); // a script: it sends, it never polls
    assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: b, body: 'sent from a script' }, aToken)).status, 201);
    await eventually(async () => assert.equal((await shownPresence(page, a)).dot, 'on'), 4000, `${a} shown online`);
    await openConversation(page, a);
    assert.equal((await shownPresence(page, a)).status, 'Online');
    assert.match((await shownPresence(page, a)).label, /, online/);
  });

  it('shows nobody online while it cannot reach the server, and everyone who is back within seconds of a restart (#14)', async () => {
    const { a, b } = await pair();
    const aTab = await tab('kiosk');
    const bTab = await tab('phone');
    await logIn(aTab.page, a, 'Kiosk');
    await logIn(bTab.page, b, 'Phone');
    await openConversation(bTab.page, a);
    await eventually(async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Online'), 20000, `${a} online for ${b}`);

    // b's own network goes: b cannot know who is online.
    await bTab.context.setOffline(true);
    await eventually(async () => assert.match(await connState(bTab.page), /conn-offline/), 8000, 'b offline');
    assert.deepEqual(await shownPresence(bTab.page, a), { dot: null, status: '', label: a }, 'neither online nor offline: unknown');
    await bTab.context.setOffline(false);
    await eventually(async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Online'), 8000, 'online again once b is back');

    // The server restarts: nobody is shown online while it is away, and a, back within
    // seconds, is shown online again within seconds, not at the next 15 s look.
    await suite.server.stop('SIGTERM');
    await eventually(
      async () => assert.match(await connState(bTab.page), /conn-(reconnecting|unreachable)/),
      8000,
      'b sees the server gone',
    );
    assert.equal(await onlineDots(bTab.page), 0);
    assert.equal((await shownPresence(bTab.page, a)).status, '');
    await sleep(3000);
    await suite.restart();
    const upAt = Date.now();
    await eventually(
      async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Online'),
      12000,
      `${a} online again after the restart`,
    );
    assert.ok(Date.now() - upAt < 10000, `shown ${Date.now() - upAt} ms after the restart`);
    assert.match(await connState(aTab.page), /conn-connected/);
  });

  it('shows someone offline on the next look once they log out, or their only device is revoked (#14)', async () => {
    const { a, b } = await pair();
    const aTab = await tab('kiosk');
    const bTab = await tab('desktop');
    await logIn(aTab.page, a, 'Kiosk');
    await logIn(bTab.page, b, 'Desk');
    // b looks every 3 s here instead of every 15 s, so the test does not wait on the timer.
    await bTab.page.evaluate(() => {
      window.Chat.config.PRESENCE_EVERY_MS = 3000;
    });
    await openConversation(bTab.page, a);
    await eventually(async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Online'), 8000, `${a} online`);

    await aTab.page.click('#logout-btn');
    await aTab.page.waitForSelector('#auth:not(.hidden)');
    await eventually(
      async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Offline'),
      6000,
      `${a} offline after logging out`,
    );

    await logIn(aTab.page, a, 'Kiosk again');
    await eventually(async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Online'), 8000, `${a} online again`);
    const other = await apiLogin(suite.server.url, a); // another device of a, which never polls
    const devices = await apiCall(suite.server.url, 'GET', '/devices', undefined, other);
    const kiosk = (devices.body.devices as Array<{ id: string; name: string }>).find((d) => d.name === 'Kiosk again')!;
    assert.equal((await apiCall(suite.server.url, 'DELETE', `/devices/${kiosk.id}`, undefined, other)).status, 204);
    await aTab.page.waitForSelector('#auth:not(.hidden)', { timeout: 5000 });
    await eventually(
      async () => assert.equal((await shownPresence(bTab.page, a)).status, 'Offline'),
      6000,
      `${a} offline after the revocation`,
    );
  });
});
