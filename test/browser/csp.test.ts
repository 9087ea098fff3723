// The page under the strict Content-Security-Policy the server sends with it (#13, item 13):
// the header is checked as it arrives, holds every directive below, and the page works under it
// in Chromium: no inline script or style, no handler attributes, no eval or string timers. Any
// violation while signing up, logging in, sending, receiving, using the Devices dialog and
// logging out fails the test; the page also refuses to be framed.
import assert from 'node:assert/strict';
import type { BrowserContext } from 'playwright-core';
import {
  apiCall,
  browserSuite,
  createUser,
  DELIVERY_MS,
  eventually,
  logIn,
  openConversation,
  send,
  type Tab,
  unreadBadge,
  signUp,
  waitForTexts,
} from './helpers';

declare const document: any;
declare const window: any;

/** What the policy must say (#13): only the page's own files, nothing inline, no framing. */
const STRICT_CSP_DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
];

interface CspTab extends Tab {
  /** Every violation the page reported, and every console error that names the policy. */
  violations: string[];
}

describe('chat page under a strict Content-Security-Policy (#13)', function () {
  this.timeout(60000);
  const suite = browserSuite();

  async function cspTab(): Promise<CspTab> {
    const violations: string[] = [];
    const prepare = async (context: BrowserContext) => {
      await context.exposeBinding('__chatTestCspViolation', (_source, text: string) => {
        violations.push(text);
      });
      await context.addInitScript(`document.addEventListener('securitypolicyviolation', function (e) {
        window.__chatTestCspViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || '?') + ' at ' +
          (e.sourceFile || '') + ':' + (e.lineNumber || 0) + (e.sample ? ' (' + e.sample + ')' : ''));
      }, true);`);
    };
    const t = await suite.tab({ prepare });
    t.page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content.Security.Policy/i.test(msg.text())) violations.push(`console: ${msg.text()}`);
    });
    return { ...t, violations };
  }

  it('signs up, sends, receives and logs out with no violation, and the policy is really in force (#13)', async () => {
    await createUser(suite.server.url, 'xavi');
    // The server's own header, as a browser gets it.
    const served = await fetch(`${suite.server.url}/`);
    const csp = served.headers.get('content-security-policy') ?? '';
    const directives = csp.split(';').map((d) => d.trim());
    for (const d of STRICT_CSP_DIRECTIVES) assert.ok(directives.includes(d), `the page's policy says ${d}: ${csp}`);
    assert.ok(!/unsafe-|data:|\*/.test(csp), `nothing loosens it: ${csp}`);
    assert.equal(served.headers.get('x-frame-options'), 'DENY');
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
    const first = await cspTab();
    const page = first.page;
    const pageResponse = await page.reload();
    assert.equal(await pageResponse?.headerValue('content-security-policy'), csp, 'Chromium got the same policy');

    // Sign up with a mistake first (an error shown), then for real.
    await signUp(page, 'wanda', 'short');
    await page.waitForSelector('#auth-error:not(.hidden)');
    await signUp(page, 'wanda', 'wandas password', 'Locked-down kiosk');
    await page.waitForSelector('#conn.conn-connected', { timeout: DELIVERY_MS });

    const second = await cspTab();
    await logIn(second.page, 'xavi', 'Phone');

    // Send and receive both ways; unread counts, history, the "no such user" notice.
    await openConversation(page, 'xavi');
    await send(page, 'hello under a strict policy');
    await eventually(async () => assert.equal(await unreadBadge(second.page, 'wanda'), '1'), DELIVERY_MS, 'xavi sees 1 unread');
    await openConversation(second.page, 'wanda');
    await waitForTexts(second.page, ['hello under a strict policy'], DELIVERY_MS, 'xavi');
    await send(second.page, 'and back, <b>as text</b>');
    await waitForTexts(page, ['hello under a strict policy', 'and back, <b>as text</b>'], DELIVERY_MS, 'wanda');
    await page.fill('#new-username', 'nobody-at-all');
    await page.press('#new-username', 'Enter');
    await page.waitForSelector('#notice:not(.hidden)', { timeout: DELIVERY_MS });

    // The Devices dialog, then log out from it.
    await page.click('#devices-btn');
    await page.waitForSelector('#device-list .device.current');
    await page.click('#device-list .device.current button');
    await page.waitForSelector('#auth:not(.hidden)');
    const token = await second.page.evaluate(() => JSON.parse(window.localStorage.getItem('chat.session')).token as string);
    assert.equal((await apiCall(suite.server.url, 'GET', '/devices', undefined, token)).status, 200);

    assert.deepEqual([...first.violations, ...second.violations], [], 'Content-Security-Policy violations');

    // The policy was in force, and a violation would have been seen: an inline script, a
    // handler attribute, a style attribute and a string timer are each refused and reported.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.body.appendChild(s);
      const b = document.createElement('button');
      b.setAttribute('onclick', 'window.__handlerRan = true;');
      document.body.appendChild(b);
      b.click();
      document.body.setAttribute('style', 'outline: 1px solid red');
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the string timer is what the policy must block
      window.setTimeout('window.__timerRan = true;', 0);
    });
    await eventually(
      async () => {
        const seen = first.violations.join('\n');
        assert.match(seen, /script-src-elem blocked inline/, 'the inline script was reported');
        assert.match(seen, /script-src-attr blocked inline/, 'the handler attribute was reported');
        assert.match(seen, /style-src-attr blocked inline/, 'the style attribute was reported');
        assert.match(seen, /script-src blocked eval/, 'the string timer was reported');
      },
      DELIVERY_MS,
      'violations reported',
    );
    const ran = await page.evaluate(() => [window.__inlineRan, window.__handlerRan, window.__timerRan]);
    assert.deepEqual(ran, [undefined, undefined, undefined], 'none of them ran');

    // Framed by another page (frame-ancestors 'none', X-Frame-Options: DENY): the frame stays empty.
    const framer = await first.page.context().newPage();
    await framer.setContent(`<iframe id="f" src="${suite.server.url}/"></iframe>`);
    const frame = await (await framer.waitForSelector('#f')).contentFrame();
    assert.ok(frame);
    await frame.waitForLoadState('load');
    // (Allowed, the frame would hold the page, whose #auth is in its HTML.)
    const framed = await frame.evaluate(() => document.querySelector('#auth') !== null).catch(() => false);
    assert.equal(framed, false, `the page does not load inside a frame (${frame.url()})`);
    await framer.close();
  });
});
