// What a reload, a log-out and a kiosk's many log-ins do (#14): a reload keeps the open
// conversation and the drafts; logging out with messages not sent asks in the page (kiosks
// block window.confirm()); and a kiosk whose storage is blocked, which logs in anew on every
// reload, can log out every other device at once and sees only live devices as online.
import assert from 'node:assert/strict';
import type { BrowserContext } from 'playwright-core';
import {
  apiCall,
  apiLogin,
  browserSuite,
  createUser,
  DELIVERY_MS,
  eventually,
  logIn,
  onScreen,
  openConversation,
  send,
  type SizeName,
  SIZES,
  type Tab,
} from './helpers';

declare const window: any;
declare const document: any;

/** Kiosks block dialogs: window.confirm answers nothing and is counted; a real dialog fails the test. */
async function blockDialogs(context: BrowserContext): Promise<void> {
  await context.addInitScript(`window.__confirmCalls = 0; window.confirm = function () { window.__confirmCalls += 1; return false; };`);
}

describe("reloads, log-outs and a kiosk's devices (#14)", function () {
  this.timeout(90000);
  const suite = browserSuite();
  let n = 0;

  async function tab(size: SizeName, prepare?: (c: BrowserContext) => Promise<void>): Promise<Tab> {
    const t = await suite.tab({ viewport: SIZES[size], prepare });
    t.page.on('dialog', (d) => {
      t.errors.push(`a browser dialog was opened: ${d.message()}`);
      void d.dismiss();
    });
    return t;
  }

  async function users(k: number): Promise<string[]> {
    n += 1;
    const names = Array.from({ length: k }, (_, i) => `se${n}${'abc'[i]}`);
    for (const u of names) await createUser(suite.server.url, u);
    return names;
  }

  for (const size of ['desktop', 'phone'] as const) {
    it(`keeps the open conversation and the drafts across a reload on a ${size} screen, and forgets them on logging out (#14)`, async () => {
      const [me, bob, cat] = await users(3);
      const { page } = await tab(size);
      await logIn(page, me!, 'Kiosk');
      await openConversation(page, cat!);
      await page.fill('#composer-input', 'a draft for cat');
      await page.dispatchEvent('#composer-input', 'input');
      if (size === 'phone') await page.click('#back-btn');
      await openConversation(page, bob!);
      await page.focus('#composer-input');
      await page.keyboard.type('half a thought for bob,');
      await page.keyboard.press('Shift+Enter');
      await page.keyboard.type('still typing');
      await page.reload(); // at once: what was typed in the last moment is kept too
      await eventually(async () => assert.equal(await page.textContent('#chat-name'), bob), DELIVERY_MS, 'bob is open again');
      assert.equal(await page.isVisible('#chat'), true);
      assert.equal(await page.inputValue('#composer-input'), 'half a thought for bob,\nstill typing');
      assert.ok((await onScreen(page, '#composer-input')).ok);
      await page.waitForSelector('#conn.conn-connected', { state: 'attached', timeout: DELIVERY_MS });
      assert.match((await page.textContent('#messages')) ?? '', /No messages yet/, 'its history was loaded');
      if (size === 'phone') await page.click('#back-btn');
      await openConversation(page, cat!);
      assert.equal(await page.inputValue('#composer-input'), 'a draft for cat');

      // Logging out takes the drafts with it (a kiosk's next user must not find them).
      await page.click(size === 'phone' ? '#back-btn' : '#logout-btn');
      if (size === 'phone') await page.click('#logout-btn');
      await page.waitForSelector('#auth:not(.hidden)');
      assert.deepEqual(
        await page.evaluate(() => Object.keys(window.localStorage).filter((k: string) => k.indexOf('chat.view.') === 0)),
        [],
      );
      await logIn(page, me!, 'Kiosk');
      await openConversation(page, cat!);
      assert.equal(await page.inputValue('#composer-input'), '');
    });
  }

  for (const size of ['kiosk', 'phone'] as const) {
    it(`asks in the page, not with window.confirm(), before logging out with a message not sent, on a ${size} screen (#14)`, async () => {
      const [me, bob] = await users(2);
      const t = await tab(size, blockDialogs);
      const { page } = t;
      await logIn(page, me!, 'Kiosk');
      await openConversation(page, bob!);
      await page.route('**/messages', (route) => (route.request().method() === 'POST' ? route.abort() : route.continue()));
      await send(page, 'not sent yet');
      await page.waitForSelector('#messages .msg.queued, #messages .msg.sending, #messages .msg.failed');
      if (size === 'phone') await page.click('#back-btn');

      await page.click('#logout-btn');
      await page.waitForSelector('#confirm:not(.hidden)');
      assert.equal(await page.textContent('#confirm-text'), 'One message has not been sent yet and will be lost if you log out now.');
      for (const sel of ['#confirm-text', '#confirm-yes', '#confirm-cancel']) assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-cancel', 'the safe answer has the keyboard');
      await page.click('#confirm-cancel');
      assert.equal(await page.isVisible('#confirm'), false);
      assert.equal(await page.isVisible('#app'), true, 'still logged in');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'logout-btn', 'the keyboard is back where it was');

      // Escape is "no" too; Tab stays inside the question.
      await page.click('#logout-btn');
      await page.waitForSelector('#confirm:not(.hidden)');
      for (let i = 0; i < 4; i++) {
        await page.keyboard.press('Tab');
        assert.equal(
          await page.evaluate(() => !!document.activeElement.closest('#confirm')),
          true,
          `focus stays in the question (step ${i})`,
        );
      }
      await page.keyboard.press('Escape');
      assert.equal(await page.isVisible('#confirm'), false);
      assert.equal(await page.isVisible('#app'), true);

      await page.click('#logout-btn');
      await page.click('#confirm-yes');
      await page.waitForSelector('#auth:not(.hidden)');
      assert.match((await page.textContent('#auth-info')) ?? '', /logged out/);
      assert.equal(await page.evaluate(() => window.__confirmCalls), 0, 'window.confirm was never asked');
    });
  }

  it('lets a kiosk with blocked storage log out every other device it left behind; only live devices show online (#14)', async () => {
    const [me] = await users(1);
    // As on a locked-down kiosk: localStorage throws, so every reload is a new log-in.
    const noStorage = async (c: BrowserContext) => {
      await c.addInitScript(
        `Object.defineProperty(window, 'localStorage', { get: function () { throw new Error('storage is disabled'); } });`,
      );
    };
    const t = await tab('kiosk', noStorage);
    const { page } = t;
    for (let i = 0; i < 4; i++) {
      if (i > 0) await page.reload();
      await logIn(page, me!, 'Front desk kiosk');
    }
    // Another device of the same user, alive: its page is open and polling.
    const phone = await tab('phone');
    await logIn(phone.page, me!, 'Phone');

    await page.click('#devices-btn');
    await page.waitForSelector('#device-list .device.current');
    const rows = () =>
      page.$$eval('#device-list .device', (els: any[]) =>
        els.map((e) => ({
          text: e.querySelector('.device-name').textContent,
          online: !!e.querySelector('.dot-on'),
          details: e.querySelector('.device-details').textContent,
        })),
      );
    const before = await rows();
    assert.equal(before.length, 5, 'four kiosk log-ins and the phone');
    assert.deepEqual(
      before.map((r) => r.online),
      [true, false, false, false, true],
      'online: this page and the phone, not the three pages that were reloaded away',
    );
    assert.match(before[0]!.text, /Front desk kiosk.*This device/);
    assert.match(before[1]!.details, /^Last seen /);
    assert.ok((await onScreen(page, '#devices-others')).ok, 'the button is on screen');

    await page.click('#devices-others');
    assert.equal(await page.textContent('#devices-others'), 'Confirm: log out all 4 other devices', 'two clicks');
    assert.equal((await rows()).length, 5, 'nothing done after one click');
    await page.click('#devices-others');
    await eventually(async () => assert.equal((await rows()).length, 1), DELIVERY_MS, 'only this device is left');
    assert.equal(await page.textContent('#devices-info'), '4 other devices were logged out.');
    assert.equal(await page.isVisible('#devices-others'), false, 'nothing left to log out');
    // The phone's held poll was answered 401 at once: it is on the log-in screen.
    await phone.page.waitForSelector('#auth:not(.hidden)', { timeout: DELIVERY_MS });
    assert.match((await phone.page.textContent('#auth-error')) ?? '', /revoked/);
    // And this device still works.
    assert.match((await page.getAttribute('#conn', 'class')) ?? '', /conn-connected/);
    const token = await apiLogin(suite.server.url, me!);
    const left = await apiCall(suite.server.url, 'GET', '/devices', undefined, token);
    assert.deepEqual(left.body.devices.map((d: { name: string }) => d.name).sort(), ['Front desk kiosk', 'test script']);
  });
});
