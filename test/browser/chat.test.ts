// The chat page in real Chromium against the real server on a temporary database (issue 4):
// accounts, messages between users and devices, history, unread counts, small screens. Sends
// that fail are chat-sending.test.ts.
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
  shownMessages,
  shownTexts,
  type Tab,
  unreadBadge,
  signUp,
  waitForTexts,
} from './helpers';

// Callbacks given to page.evaluate run inside the page; the project compiles without the DOM
// library, so name the few browser globals they use.
declare const document: any;
declare const window: any;
declare const localStorage: any;

describe('chat page in Chromium (issue 4)', function () {
  this.timeout(60000);
  const suite = browserSuite();

  async function tab(viewport?: { width: number; height: number }, timezoneId?: string): Promise<Tab> {
    const t = await suite.tab({ viewport, timezoneId });
    return t;
  }

  it('signs up, logs out, refuses a wrong password and logs in naming the device', async () => {
    const { page } = await tab();
    await signUp(page, 'Carol', 'short');
    assert.match((await page.textContent('#auth-error')) ?? '', /at least 8 characters/);

    await signUp(page, 'Carol', 'carols password', 'Reception kiosk');
    await page.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    assert.equal(await page.textContent('#me-name'), 'carol', 'usernames are lowercased');
    assert.equal(await page.isVisible('#conv-empty'), true, 'a new user sees the empty state');

    const token = JSON.parse(await page.evaluate(() => localStorage.getItem('chat.session'))).token as string;
    assert.equal((await apiCall(suite.server.url, 'GET', '/devices', undefined, token)).status, 200);
    await page.click('#devices-btn');
    await page.waitForSelector('#device-list .device.current');
    assert.match((await page.textContent('#device-list .device.current')) ?? '', /Reception kiosk.*This device/);
    await page.click('#device-list .device.current button');
    await page.waitForSelector('#auth:not(.hidden)');
    assert.match((await page.textContent('#auth-info')) ?? '', /logged out/);
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.session')), null, 'the token is forgotten');
    await eventually(
      async () => assert.equal((await apiCall(suite.server.url, 'GET', '/devices', undefined, token)).status, 401),
      DELIVERY_MS,
      'the server revoked the token',
    );

    await page.fill('#login-username', 'carol');
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.waitForSelector('#auth-error:not(.hidden)');
    assert.equal(await page.textContent('#auth-error'), 'Wrong username or password.');

    await logIn(page, 'carol', 'Back office PC', 'carols password');
    // A reload keeps the session: the token is in localStorage, no cookie involved.
    await page.reload();
    await page.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    assert.equal(await page.textContent('#me-name'), 'carol');
    assert.deepEqual(await page.context().cookies(), [], 'the page sets no cookies');
  });

  it('delivers messages both ways and to the other device of the same user, in the same order', async () => {
    await createUser(suite.server.url, 'alice');
    await createUser(suite.server.url, 'bob');
    const alice1 = (await tab()).page;
    const alice2 = (await tab()).page;
    const bob = (await tab()).page;
    await logIn(alice1, 'alice', 'Laptop');
    await logIn(alice2, 'alice', 'Kiosk');
    await logIn(bob, 'bob', 'Phone');

    await openConversation(alice1, 'bob');
    assert.match((await alice1.textContent('#messages')) ?? '', /No messages yet/);
    await send(alice1, 'Hi Bob, from the laptop');
    await eventually(async () => assert.ok(await bob.isVisible('.conv[data-name="alice"]')), DELIVERY_MS, 'bob sees the conversation');
    await eventually(async () => assert.ok(await alice2.isVisible('.conv[data-name="bob"]')), DELIVERY_MS, 'alice2 sees the conversation');
    await openConversation(bob, 'alice');
    await openConversation(alice2, 'bob');
    await waitForTexts(bob, ['Hi Bob, from the laptop'], DELIVERY_MS, 'bob');
    await waitForTexts(alice2, ['Hi Bob, from the laptop'], DELIVERY_MS, 'alice2');

    await send(bob, 'Hello Alice');
    await send(alice2, 'And hello from the kiosk');
    await send(bob, 'Two devices, nice');
    const expected = ['Hi Bob, from the laptop', 'Hello Alice', 'And hello from the kiosk', 'Two devices, nice'];
    // Server order decides; the two sends from bob and alice2 race, so take the order from
    // bob's view once it is complete and require the same everywhere.
    await eventually(async () => assert.deepEqual([...(await shownTexts(bob))].sort(), [...expected].sort()), DELIVERY_MS, 'bob has all');
    const order = await shownMessages(bob);
    const ids = order.map((m) => m.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'shown in id order',
    );
    const texts = order.map((m) => m.text);
    await waitForTexts(alice1, texts, DELIVERY_MS, 'alice1');
    await waitForTexts(alice2, texts, DELIVERY_MS, 'alice2');
    assert.deepEqual(
      (await shownMessages(alice1)).map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      (await shownMessages(alice2)).map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      (await shownMessages(alice1)).map((m) => m.mine),
      order.map((m) => !m.mine),
      'sides as seen by alice',
    );

    // Notes to self reach the user's other device and nobody else.
    await openConversation(alice1, 'alice');
    await send(alice1, 'buy milk');
    await openConversation(alice2, 'alice');
    await waitForTexts(alice2, ['buy milk'], DELIVERY_MS, 'alice2 notes');
    assert.equal(await bob.locator('.conv[data-name="alice"]').count(), 1);
    assert.deepEqual(await shownTexts(bob), texts, 'bob sees no notes');
  });

  it('loads older history as the reader scrolls up, without gaps or repeats', async () => {
    await createUser(suite.server.url, 'dora');
    await createUser(suite.server.url, 'eve');
    const eveToken = await apiLogin(suite.server.url, 'eve');
    const total = 130;
    const bodies: string[] = [];
    for (let i = 1; i <= total; i++) {
      bodies.push(`history message ${i}`);
      const res = await apiCall(suite.server.url, 'POST', '/messages', { to: 'dora', body: `history message ${i}` }, eveToken);
      assert.equal(res.status, 201);
    }
    const { page } = await tab();
    await logIn(page, 'dora', 'Desk');
    await openConversation(page, 'eve');
    const firstPage = await shownTexts(page);
    assert.deepEqual(firstPage, bodies.slice(total - 50), 'the newest page first');
    // The view starts at the bottom, on the newest message.
    assert.ok(await page.$eval('#messages', (m) => m.scrollHeight - m.scrollTop - m.clientHeight < 48));

    await eventually(
      async () => {
        await page.$eval('#messages', (m) => {
          m.scrollTop = 0;
        });
        assert.deepEqual(await shownTexts(page), bodies);
      },
      15000,
      'all history after scrolling up',
    );
    assert.match((await page.textContent('#messages')) ?? '', /This is the start of your conversation with eve/);
    assert.equal(await page.isVisible('[data-action="older"]'), false, 'no "load older" once the start is reached');
  });

  it('syncs unread counts between devices: reading on one clears the other', async () => {
    await createUser(suite.server.url, 'fred');
    await createUser(suite.server.url, 'gina');
    const ginaToken = await apiLogin(suite.server.url, 'gina');
    const fred1 = (await tab()).page;
    const fred2 = (await tab()).page;
    await logIn(fred1, 'fred', 'Office');
    await logIn(fred2, 'fred', 'Home');
    for (const body of ['one', 'two', 'three']) {
      assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: 'fred', body }, ginaToken)).status, 201);
    }
    for (const page of [fred1, fred2]) {
      await eventually(async () => assert.equal(await unreadBadge(page, 'gina'), '3'), DELIVERY_MS, 'badge 3');
    }
    assert.match(await fred2.title(), /^\(3\) /, 'the unread count is in the title');
    // A reload rebuilds the counts from GET /conversations and the stream without counting twice.
    await fred2.reload();
    await fred2.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });
    await eventually(async () => assert.equal(await unreadBadge(fred2, 'gina'), '3'), DELIVERY_MS, 'badge 3 after reload');

    await openConversation(fred1, 'gina');
    await waitForTexts(fred1, ['one', 'two', 'three']);
    await eventually(async () => assert.equal(await unreadBadge(fred1, 'gina'), null), DELIVERY_MS, 'cleared where read');
    await eventually(async () => assert.equal(await unreadBadge(fred2, 'gina'), null), DELIVERY_MS, 'cleared on the other device');
    assert.doesNotMatch(await fred2.title(), /^\(/);

    // A new message is unread again on the device that is not looking, not on the one that is.
    assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: 'fred', body: 'four' }, ginaToken)).status, 201);
    await waitForTexts(fred1, ['one', 'two', 'three', 'four']);
    await eventually(
      async () => assert.equal(await unreadBadge(fred2, 'gina'), null),
      DELIVERY_MS,
      'read on fred1, so not unread on fred2',
    );
    assert.equal(await unreadBadge(fred1, 'gina'), null);
  });

  it('shows HTML in a message as text', async () => {
    await createUser(suite.server.url, 'hank');
    await createUser(suite.server.url, 'ivy');
    const ivyToken = await apiLogin(suite.server.url, 'ivy');
    const { page } = await tab();
    await logIn(page, 'hank', 'Kiosk');
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b> & <script>window.__pwned=2</script>\nsecond line';
    assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to: 'hank', body: evil }, ivyToken)).status, 201);
    await eventually(async () => assert.ok(await page.isVisible('.conv[data-name="ivy"]')), DELIVERY_MS, 'conversation listed');
    assert.match((await page.textContent('.conv[data-name="ivy"] .conv-preview')) ?? '', /<img src=x/);
    await openConversation(page, 'ivy');
    await waitForTexts(page, [evil]);
    assert.equal(await page.locator('#messages img, #messages b, #messages script, #conv-list img').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    // Line breaks are kept as typed.
    const lines = await page.$eval('#messages .msg .text', (t) => (t as any).innerText.split('\n').length);
    assert.equal(lines, 2);
    // Right-to-left text gets its direction from its own letters.
    assert.equal(
      (await apiCall(suite.server.url, 'POST', '/messages', { to: 'hank', body: '\u05e9\u05dc\u05d5\u05dd!' }, ivyToken)).status,
      201,
    );
    await waitForTexts(page, [evil, '\u05e9\u05dc\u05d5\u05dd!']);
    const direction = await page.$$eval(
      '#messages .msg .text',
      (ts) => (globalThis as any).getComputedStyle(ts[ts.length - 1]).direction as string,
    );
    assert.equal(direction, 'rtl');
  });

  it('logs a revoked device out at once', async () => {
    await createUser(suite.server.url, 'lena');
    const laptop = (await tab()).page;
    const kiosk = (await tab()).page;
    await logIn(laptop, 'lena', 'Laptop');
    await logIn(kiosk, 'lena', 'Lost kiosk');

    await laptop.click('#devices-btn');
    const row = laptop.locator('#device-list .device', { hasText: 'Lost kiosk' });
    await row.waitFor();
    await row.locator('button').click();
    assert.equal(await row.locator('button').textContent(), 'Confirm revoke', 'revoking asks for a second click');
    await row.locator('button').click();
    await eventually(
      async () => assert.equal(await laptop.locator('#device-list .device', { hasText: 'Lost kiosk' }).count(), 0),
      DELIVERY_MS,
      'gone from the list',
    );

    await kiosk.waitForSelector('#auth:not(.hidden)', { timeout: DELIVERY_MS });
    assert.match((await kiosk.textContent('#auth-error')) ?? '', /logged out, or revoked/);
    assert.equal(await kiosk.evaluate(() => localStorage.getItem('chat.session')), null);
    await kiosk.reload();
    await kiosk.waitForSelector('#login-form:not(.hidden)');
    assert.equal(await laptop.isVisible('#conn.conn-connected'), true, 'the other device is untouched');
  });

  it('keeps a draft when another conversation is opened beside it', async () => {
    await createUser(suite.server.url, 'quin');
    await createUser(suite.server.url, 'rudi');
    const { page } = await tab({ width: 1024, height: 700 });
    await logIn(page, 'quin', 'Desk');
    await openConversation(page, 'rudi');
    await page.fill('#composer-input', 'half a thought');
    await page.click('.conv[data-name="quin"]'); // notes to self, in the same window
    assert.equal(await page.inputValue('#composer-input'), '');
    await page.click('.conv[data-name="rudi"]');
    assert.equal(await page.inputValue('#composer-input'), 'half a thought');
  });

  it('keeps the header in one line for a long name, and shows log-in errors on a small screen', async () => {
    const long = 'margaret.longname_1';
    await createUser(suite.server.url, long);
    const { page } = await tab({ width: 480, height: 320 });
    await page.click('#tab-login');
    await page.fill('#login-username', long);
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.waitForSelector('#auth-error:not(.hidden)');
    const box = await page.locator('#auth-error').boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 320, `the error is on screen: ${JSON.stringify(box)}`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-password', 'the keyboard is on the field to correct');
    await page.setViewportSize({ width: 800, height: 480 });
    await logIn(page, long, 'Kiosk');
    const head = await page.locator('.side-head').boundingBox();
    for (const id of ['#devices-btn', '#logout-btn', '#me-name']) {
      const b = await page.locator(id).boundingBox();
      assert.ok(
        head && b && b.y >= head.y && b.y + b.height <= head.y + head.height,
        `${id} stays in the header row: ${JSON.stringify(b)}`,
      );
    }
    assert.equal(await page.getAttribute('#me-name', 'title'), long, 'the whole name is one hover away');
  });

  it('fits a small kiosk screen: one pane at a time, usable with the keyboard', async () => {
    await createUser(suite.server.url, 'mia');
    await createUser(suite.server.url, 'ned');
    const { page } = await tab({ width: 480, height: 640 });
    await logIn(page, 'mia', 'Small kiosk');
    await page.focus('#new-username');
    await page.keyboard.type('ned');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#chat:not(.hidden)');
    assert.equal(await page.isVisible('#sidebar'), false, 'the list gives way to the chat');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer-input', 'ready to type');
    await page.keyboard.type('typed with the keyboard');
    await page.keyboard.press('Enter');
    await waitForTexts(page, ['typed with the keyboard']);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 480, `no horizontal scrolling (content is ${width}px wide)`);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#sidebar', { state: 'visible' });
    assert.equal(await page.isVisible('#chat'), false);
    assert.equal(
      await page.evaluate(() => document.activeElement?.getAttribute('data-name')),
      'ned',
      'back on the conversation it came from',
    );
    // The Devices dialog keeps the keyboard inside while it is open.
    await page.click('#devices-btn');
    await page.waitForSelector('#device-list .device');
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press(i % 3 === 2 ? 'Shift+Tab' : 'Tab');
      assert.equal(await page.evaluate(() => !!document.activeElement?.closest('#devices')), true, `focus stays in the dialog (step ${i})`);
    }
  });

  it('says so clearly when a conversation is started with a user who does not exist', async () => {
    await createUser(suite.server.url, 'otto');
    const { page } = await tab();
    await logIn(page, 'otto', 'Desk');
    await page.fill('#new-username', 'nobody-here');
    await page.press('#new-username', 'Enter');
    await page.waitForSelector('#notice:not(.hidden)', { timeout: DELIVERY_MS });
    assert.match((await page.textContent('#notice')) ?? '', /no user called .nobody-here./);
    assert.equal(await page.locator('.conv[data-name="nobody-here"]').count(), 0, 'not left in the list');
    assert.equal(await page.isVisible('#placeholder'), true);
    await page.fill('#new-username', 'Not Valid!');
    await page.press('#new-username', 'Enter');
    await eventually(async () => assert.match((await page.textContent('#notice')) ?? '', /not a valid username/));
  });

  it("shows times in the viewer's local time", async () => {
    await createUser(suite.server.url, 'uma');
    const token = await apiLogin(suite.server.url, 'uma');
    const sent = await apiCall(suite.server.url, 'POST', '/messages', { to: 'uma', body: 'what time is it?' }, token);
    assert.equal(sent.status, 201);
    const sentAt = new Date(sent.body.message.sent_at as string);
    // Half-hour offsets catch a page that shows UTC or only shifts whole hours.
    for (const zone of ['Asia/Kolkata', 'America/St_Johns']) {
      const t = await tab(undefined, zone);
      await logIn(t.page, 'uma', `Clock in ${zone}`);
      await openConversation(t.page, 'uma');
      await waitForTexts(t.page, ['what time is it?']);
      const expected = sentAt.toLocaleTimeString('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hour12: false });
      assert.equal(await t.page.textContent('#messages .msg .time'), expected, zone);
    }
  });

  it('works where localStorage is unavailable, keeping the token in memory', async () => {
    await createUser(suite.server.url, 'walt');
    // As in some privacy modes and kiosk lock-downs: touching localStorage throws.
    const t = await suite.tab({
      prepare: async (context) => {
        await context.addInitScript(
          `Object.defineProperty(window, 'localStorage', { get: function () { throw new Error('storage is disabled'); } });`,
        );
      },
    });
    assert.match((await t.page.textContent('#auth-info')) ?? '', /log in again after reloading/);
    await logIn(t.page, 'walt', 'Locked-down kiosk');
    await openConversation(t.page, 'walt');
    await send(t.page, 'still works');
    await waitForTexts(t.page, ['still works']);
  });
});
