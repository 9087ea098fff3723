// The page on the three screens people use it on (#14): a 1280x800 desktop, an 800x480 kiosk
// and a 375x667 phone. Right-to-left paragraphs, a message box that grows, the log-in and
// sign-up buttons kept on screen with an error shown, the layout where the page itself
// scrolls (for engines that cannot scroll an inner pane with one finger), and a message log
// that new messages are appended to rather than rebuilt.
import assert from 'node:assert/strict';
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
  shownTexts,
  type SizeName,
  SIZES,
  type Tab,
  signUp,
  waitForTexts,
} from './helpers';

declare const document: any;
declare const window: any;
declare const getComputedStyle: any;

const ALL_SIZES: SizeName[] = ['desktop', 'kiosk', 'phone'];

describe('the page on a desktop, a kiosk and a phone (#14)', function () {
  this.timeout(90000);
  const suite = browserSuite();
  let n = 0;

  async function tab(size: SizeName, path = '/'): Promise<Tab> {
    return suite.tab({ path, viewport: SIZES[size] });
  }

  /** Two new users, the second with a token to send from. */
  async function pair(): Promise<{ me: string; peer: string; peerToken: string }> {
    n += 1;
    const me = `sc${n}`;
    const peer = `sc${n}peer`;
    await createUser(suite.server.url, me);
    await createUser(suite.server.url, peer);
    return { me, peer, peerToken: await apiLogin(suite.server.url, peer) };
  }

  async function say(token: string, to: string, body: string): Promise<void> {
    assert.equal((await apiCall(suite.server.url, 'POST', '/messages', { to, body }, token)).status, 201);
  }

  for (const size of ['desktop', 'phone'] as const) {
    it(`lays out right-to-left paragraphs right to left, from their first letter, on a ${size} screen (#14)`, async () => {
      const { me, peer, peerToken } = await pair();
      const sentence =
        '\u05e9\u05dc\u05d5\u05dd, \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da \u05d4\u05d9\u05d5\u05dd? \u05d6\u05d5 \u05d4\u05d5\u05d3\u05e2\u05d4 \u05d0\u05e8\u05d5\u05db\u05d4 \u05e9\u05e0\u05e9\u05d1\u05e8\u05ea \u05dc\u05db\u05de\u05d4 \u05e9\u05d5\u05e8\u05d5\u05ea \u05e2\u05dc \u05de\u05e1\u05da \u05e6\u05e8 \u05e9\u05dc \u05d8\u05dc\u05e4\u05d5\u05df. ';
      const hebrew = sentence.repeat(4) + '\u05e1\u05d5\u05e3';
      const arabic = '42 \u0645\u0631\u062d\u0628\u0627\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f';
      const mixed = 'Meeting in \u05d7\u05d3\u05e8 3';
      for (const body of [hebrew, arabic, mixed]) await say(peerToken, me, body);
      const { page } = await tab(size);
      await logIn(page, me, size);
      await openConversation(page, peer);
      await waitForTexts(page, [hebrew, arabic, mixed]);
      const shown = await page.$$eval('#messages .msg .text', (texts: any[]) =>
        texts.map((t) => ({ dir: t.getAttribute('dir'), direction: getComputedStyle(t).direction, align: getComputedStyle(t).textAlign })),
      );
      assert.deepEqual(shown, [
        { dir: 'rtl', direction: 'rtl', align: 'right' },
        { dir: 'rtl', direction: 'rtl', align: 'right' },
        { dir: 'ltr', direction: 'ltr', align: 'left' },
      ]);
      // Every line of the wrapped Hebrew paragraph, its short last line too, ends at the
      // paragraph's right edge, not its left.
      const lines = await page.$eval('#messages .msg .text', (t: any) => {
        const range = document.createRange();
        range.selectNodeContents(t);
        const box = t.getBoundingClientRect();
        const right: Record<string, number> = {};
        for (const r of Array.from<any>(range.getClientRects())) {
          const line = String(Math.round(r.top / 4));
          right[line] = Math.max(right[line] ?? -1e9, r.right);
        }
        return { ends: Object.values(right), left: box.left, right: box.right };
      });
      assert.ok(lines.ends.length >= 2, `the paragraph wraps (${lines.ends.length} lines)`);
      for (const end of lines.ends)
        assert.ok(Math.abs(end - lines.right) < 2, `a line ends at ${end}, not at the right edge ${lines.right}`);
      // What is typed follows its own direction too.
      await page.fill('#composer-input', '\u0645\u0631\u062d\u0628\u0627');
      await page.dispatchEvent('#composer-input', 'input');
      assert.equal(await page.getAttribute('#composer-input', 'dir'), 'rtl');
      await page.fill('#composer-input', 'hello');
      await page.dispatchEvent('#composer-input', 'input');
      assert.equal(await page.getAttribute('#composer-input', 'dir'), 'ltr');
    });
  }

  for (const size of ALL_SIZES) {
    it(`grows the message box with its text up to a third of a ${size} screen, then scrolls it (#14)`, async () => {
      const { me, peer } = await pair();
      const { page } = await tab(size);
      await logIn(page, me, size);
      await openConversation(page, peer);
      const box = () =>
        page.$eval('#composer-input', (t: any) => ({
          height: t.offsetHeight as number,
          client: t.clientHeight as number,
          scroll: t.scrollHeight as number,
        }));
      const startHeight = (await box()).height;
      await page.focus('#composer-input');
      for (let i = 1; i <= 5; i++) {
        await page.keyboard.type(`line ${i}`);
        if (i < 5) await page.keyboard.press('Shift+Enter');
      }
      const five = await box();
      assert.ok(five.height > startHeight, 'it grew');
      assert.ok(five.scroll <= five.client + 1, `all five lines are in view (${five.scroll} > ${five.client})`);
      for (let i = 6; i <= 40; i++) {
        await page.keyboard.press('Shift+Enter');
        await page.keyboard.type(`line ${i}`);
      }
      const forty = await box();
      const third = SIZES[size].height / 3;
      assert.ok(
        forty.height <= third + 2 && forty.height >= third - 30,
        `about a third of the screen: ${forty.height} of ${SIZES[size].height}`,
      );
      assert.ok(forty.scroll > forty.client, 'then it scrolls');
      for (const sel of ['#composer', '#send-btn']) assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
      const pane = (await page.locator('#messages').boundingBox())!;
      const composer = (await page.locator('#composer').boundingBox())!;
      assert.ok(pane.y + pane.height <= composer.y + 0.5, 'the messages end where the composer begins');
      await page.click('#send-btn');
      await waitForTexts(page, [Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n')]);
      assert.equal((await box()).height, startHeight, 'back to one line once sent');
    });
  }

  for (const size of ALL_SIZES) {
    it(`keeps the form's button on a ${size} screen when sign-up is refused, a password is wrong, or the device was revoked (#14)`, async () => {
      const { me } = await pair();
      const { page } = await tab(size);
      const check = async (what: string, button: string) => {
        await page.waitForSelector('#auth-error:not(.hidden)');
        for (const sel of ['#auth-error', button]) {
          const seen = await onScreen(page, sel);
          assert.ok(seen.ok, `${what}: ${sel} on screen (${JSON.stringify(seen.box)})`);
        }
      };
      await signUp(page, me, 'long enough password');
      await check('username taken', '#signup-submit');
      assert.match((await page.textContent('#auth-error')) ?? '', /taken/);

      await page.click('#tab-login');
      await page.fill('#login-username', me);
      await page.fill('#login-password', 'not the password');
      await page.click('#login-submit');
      await check('wrong password', '#login-submit');

      await logIn(page, me, 'Kiosk');
      const other = await apiLogin(suite.server.url, me);
      const devices = await apiCall(suite.server.url, 'GET', '/devices', undefined, other);
      const kiosk = (devices.body.devices as Array<{ id: string; name: string }>).find((d) => d.name === 'Kiosk')!;
      assert.equal((await apiCall(suite.server.url, 'DELETE', `/devices/${kiosk.id}`, undefined, other)).status, 204);
      await check('revoked', '#login-submit');
      assert.match((await page.textContent('#auth-error')) ?? '', /revoked/);
    });
  }

  it('has the layout where the page itself scrolls, for old engines, when forced with ?layout=page (#14)', async () => {
    const { me, peer, peerToken } = await pair();
    const bodies: string[] = [];
    for (let i = 1; i <= 70; i++) bodies.push(`page-scroll message ${i}`);
    for (const body of bodies) await say(peerToken, me, body);
    const { page } = await tab('phone', '/?layout=page');
    assert.equal(await page.evaluate(() => document.documentElement.className), 'page-scroll');
    await logIn(page, me, 'Old phone');
    await openConversation(page, peer);
    await waitForTexts(page, bodies.slice(20), DELIVERY_MS, 'the newest page');
    const layout = await page.evaluate(() => {
      const m = document.getElementById('messages');
      const s = getComputedStyle(m);
      return {
        overflow: s.overflowY,
        position: s.position,
        page: document.documentElement.scrollHeight,
        view: window.innerHeight,
        top: window.pageYOffset,
      };
    });
    assert.equal(layout.overflow, 'visible', 'no inner scrolling pane');
    assert.equal(layout.position, 'static');
    assert.ok(layout.page > layout.view * 2, `the page is longer than the screen: ${layout.page}`);
    assert.ok(layout.top > 0, 'and it starts scrolled down to the newest message');
    for (const sel of ['#messages .msg:last-child', '#composer-input', '#send-btn'])
      assert.ok((await onScreen(page, sel)).ok, `${sel} on screen`);
    await say(peerToken, me, 'one more');
    await waitForTexts(page, [...bodies.slice(20), 'one more']);
    await eventually(
      async () => assert.ok((await onScreen(page, '#messages .msg:last-child')).ok),
      DELIVERY_MS,
      'the page follows a new message',
    );
    // Up at the top of the page, older messages load, as they do in the pane.
    await eventually(
      async () => {
        await page.evaluate(() => window.scrollTo(0, 0));
        assert.deepEqual(await shownTexts(page), [...bodies, 'one more']);
      },
      15000,
      'older history by scrolling the page up',
    );
    await send(page, 'typed in the page-scroll layout');
    await waitForTexts(page, [...bodies, 'one more', 'typed in the page-scroll layout']);
    // Back to the list: one pane at a time.
    await page.click('#back-btn');
    assert.equal(await page.isVisible('#sidebar'), true);
    assert.equal(await page.isVisible('#chat'), false);
    // A dialog grows the page rather than scrolling inside its overlay.
    await page.click('#devices-btn');
    await page.waitForSelector('#device-list .device');
    assert.equal(await page.$eval('#devices', (o: any) => getComputedStyle(o).overflowY), 'visible');
    assert.ok((await onScreen(page, '#devices-close')).ok, 'the dialog opens in sight');
    await page.click('#devices-close');

    // Without it, the same browser gets the panes that scroll inside.
    const normal = await tab('phone');
    assert.equal(await normal.page.evaluate(() => document.documentElement.className), '');
    await logIn(normal.page, me, 'New phone');
    await openConversation(normal.page, peer);
    assert.equal(await normal.page.$eval('#messages', (m: any) => getComputedStyle(m).overflowY), 'auto');
  });

  it('appends a new message to the log instead of rebuilding it: the nodes on screen stay the same nodes (#14)', async () => {
    const { me, peer, peerToken } = await pair();
    for (const body of ['first', 'second', 'third']) await say(peerToken, me, body);
    const { page } = await tab('desktop');
    await logIn(page, me, 'Desk');
    await openConversation(page, peer);
    await waitForTexts(page, ['first', 'second', 'third']);
    const mark = () =>
      page.evaluate(() => {
        window.__kept = Array.from(document.querySelectorAll('#messages > *'));
        return window.__kept.length;
      });
    const stillThere = () =>
      page.evaluate(() => {
        const now = Array.from(document.querySelectorAll('#messages > *'));
        return window.__kept.map((node: any) => node.isConnected && now.indexOf(node) >= 0);
      });
    const kept = await mark();
    assert.ok(kept >= 4, 'a note, a day and three messages');
    await say(peerToken, me, 'fourth, from them');
    await waitForTexts(page, ['first', 'second', 'third', 'fourth, from them']);
    assert.deepEqual(await stillThere(), new Array(kept).fill(true), 'every node that was there is still the same node');
    assert.equal(
      await page.$eval('#messages', (m: any) => m.lastElementChild.textContent.indexOf('fourth') >= 0),
      true,
      'the new one was appended',
    );

    const before = await mark();
    await send(page, 'fifth, from me');
    await waitForTexts(page, ['first', 'second', 'third', 'fourth, from them', 'fifth, from me']);
    assert.deepEqual(await stillThere(), new Array(before).fill(true), 'sending adds the message sent and changes nothing else');
  });
});
