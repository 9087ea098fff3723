// The page when the server is down, busy or out of reach (#14): it says what is true ("Can't
// reach the chat server", "The chat server is busy", "This device is offline"), comes back
// within a few seconds of the server's return however long it was away (a cheap GET /healthz
// every couple of seconds, while only the heavy requests back off), shows the banner with
// "Retry now" whole on every screen, and reads each change out once. Its own file: it stops
// and starts its server, and puts a proxy in front of it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { sleep } from '../support/util';
import { browserSuite, connState, createUser, eventually, onScreen, openConversation, SIZES, type Tab } from './helpers';

declare const document: any;
declare const window: any;

/** "Within a few seconds of the server's return": the health check runs every 1.5 to 2.5 s. */
const BACK_WITHIN_MS = 5000;

/** What the page's requests were, and when (path without the cache-buster). */
function recordRequests(t: Tab): Array<{ at: number; path: string }> {
  const seen: Array<{ at: number; path: string }> = [];
  t.page.on('request', (r) => {
    const u = new URL(r.url());
    seen.push({ at: Date.now(), path: u.pathname });
  });
  return seen;
}

/**
 * Counts, inside the page, every change to the text of a live region (aria-live, role=status
 * or role=alert; not the message log, role=log, which is meant to grow) and keeps their texts.
 */
async function watchAnnouncements(page: Page): Promise<void> {
  await page.evaluate(() => {
    window.__announced = [];
    const live = (n: any): any => {
      for (let e = n && n.nodeType === 1 ? n : n && n.parentNode; e && e !== document; e = e.parentNode) {
        const role = e.getAttribute && e.getAttribute('role');
        if (role === 'log') return null;
        if (e.getAttribute && (e.getAttribute('aria-live') || role === 'status' || role === 'alert')) return e;
      }
      return null;
    };
    new window.MutationObserver((records: any[]) => {
      const regions = new Set<any>();
      for (const r of records) {
        const region = live(r.target);
        if (region && !region.closest('.hidden')) regions.add(region);
      }
      for (const region of regions) window.__announced.push(`${region.id}: ${region.textContent}`);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

async function announcements(page: Page): Promise<string[]> {
  return page.evaluate(() => window.__announced.slice());
}

type ProxyMode = 'pass' | 'unavailable' | 'retry-after-2';

/** A tiny proxy in front of the server: passes requests on, or answers 503 for everything. */
interface Proxy {
  url: string;
  /** A refusing mode also answers what is in flight (the held poll), as a proxy whose upstream was taken out of service would. */
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<Proxy> {
  let mode: ProxyMode = 'pass';
  const inFlight = new Set<http.ServerResponse>();
  const refuse = (res: http.ServerResponse): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/html', 'Cache-Control': 'no-store' };
    if (mode === 'retry-after-2') headers['Retry-After'] = '2';
    res.writeHead(503, headers);
    res.end('<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>');
  };
  const server = http.createServer((req, res) => {
    if (mode !== 'pass') return refuse(res);
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setMode(m) {
      mode = m;
      if (m !== 'pass') for (const res of [...inFlight]) refuse(res);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the page when the server is down, busy or out of reach (#14)', function () {
  this.timeout(120000);
  const suite = browserSuite();
  let users = 0;

  async function loggedIn(size: keyof typeof SIZES, base = suite.server.url): Promise<Tab> {
    users += 1;
    const me = `out${users}`;
    await createUser(suite.server.url, me);
    await createUser(suite.server.url, `${me}peer`);
    const t = await suite.loggedInTab(me, `${size} screen`, { base, viewport: SIZES[size] });
    await openConversation(t.page, `${me}peer`);
    return t;
  }

  it('says it cannot reach the chat server (not "offline"), reads that out once, and is back within seconds of its return however long it was down (#14)', async () => {
    const t = await loggedIn('desktop');
    const { page } = t;
    const requests = recordRequests(t);
    await watchAnnouncements(page);
    await suite.server.stop('SIGTERM');
    const downAt = Date.now();
    await eventually(async () => assert.match(await connState(page), /conn-unreachable/), 8000, 'unreachable shown');
    assert.match((await page.textContent('#conn-text')) ?? '', /^Can.t reach the chat server$/);
    const row = (await page.locator('.conn-row').boundingBox())!;
    const retryButton = (await page.locator('#conn-retry').boundingBox())!;
    assert.ok(
      retryButton.x + retryButton.width <= row.x + row.width,
      `"Retry now" fits beside it: ${JSON.stringify(retryButton)} in ${JSON.stringify(row)}`,
    );
    assert.match((await page.textContent('#banner')) ?? '', /Can.t reach the chat server\. What you write is kept/);
    assert.doesNotMatch((await page.textContent('#app')) ?? '', /offline/i, 'the browser is online: nothing says "offline"');
    // Long enough for the heavy requests' back-off to grow past 15 s (1, 2, 4, 8, 16 s ...).
    await sleep(25000);
    const during = requests.filter((r) => r.at >= downAt);
    const polls = during.filter((r) => r.path === '/poll' || r.path === '/conversations').length;
    const checks = during.filter((r) => r.path === '/healthz').length;
    assert.ok(polls <= 7, `the heavy requests back off: ${polls} polls in 25 s`);
    assert.ok(checks >= 8, `the cheap health check keeps asking: ${checks} in 25 s`);

    await suite.restart();
    const upAt = Date.now();
    await eventually(async () => assert.match(await connState(page), /conn-connected/), 15000, 'connected again');
    const took = Date.now() - upAt;
    assert.ok(took < BACK_WITHIN_MS, `back ${took} ms after the server's return`);
    assert.equal(await page.isVisible('#banner'), false, 'the banner is gone');
    // Read out once each: the loss and the return. No per-second countdown in a live region.
    await sleep(500);
    assert.deepEqual(await announcements(page), [
      'announce: Can\u2019t reach the chat server. What you write is kept and sent when it is back.',
      'announce: Connected again.',
    ]);
  });

  it('says the chat server is busy when a proxy answers 503, and is back within seconds of the proxy passing again; a Retry-After is waited, not grown (#14)', async () => {
    const proxy = await startProxy(suite.server.port);
    try {
      const t = await loggedIn('kiosk', proxy.url);
      const { page } = t;
      const requests = recordRequests(t);
      proxy.setMode('unavailable');
      await eventually(async () => assert.match(await connState(page), /conn-busy/), 8000, 'busy shown');
      assert.equal(await page.textContent('#conn-text'), 'The chat server is busy');
      assert.match((await page.textContent('#banner')) ?? '', /The chat server is busy/);
      await sleep(12000);
      proxy.setMode('pass');
      const passAt = Date.now();
      await eventually(async () => assert.match(await connState(page), /conn-connected/), 15000, 'connected again');
      const took = Date.now() - passAt;
      assert.ok(took < BACK_WITHIN_MS, `back ${took} ms after the proxy passed again`);

      // 503 with Retry-After: 2, ten seconds long: asked again every 2 s (the server's word),
      // no health checks in between (they would not respect it), and back 2 s after.
      proxy.setMode('retry-after-2');
      const busyAt = Date.now();
      await eventually(async () => assert.match(await connState(page), /conn-(reconnecting|busy)/), 8000, 'busy again');
      await sleep(10000);
      const during = requests.filter((r) => r.at >= busyAt);
      assert.equal(during.filter((r) => r.path === '/healthz').length, 0, 'no health check while Retry-After runs');
      const polls = during.filter((r) => r.path === '/poll').length;
      assert.ok(polls >= 4 && polls <= 7, `one poll per Retry-After: ${polls} in 10 s`);
      proxy.setMode('pass');
      const againAt = Date.now();
      await eventually(async () => assert.match(await connState(page), /conn-connected/), 15000, 'connected again');
      assert.ok(Date.now() - againAt < BACK_WITHIN_MS, `back ${Date.now() - againAt} ms after`);
    } finally {
      await proxy.close();
    }
  });

  for (const size of ['phone', 'kiosk', 'desktop'] as const) {
    it(`shows the whole banner with "Retry now" over an open conversation on a ${size} screen, and "Retry now" works (#14)`, async () => {
      const t = await loggedIn(size);
      const { page } = t;
      // Only the heavy path: the health check is held back, so the return is found by the button.
      await t.context.route(/\/healthz/, (route) => route.abort());
      // And the page's own retries of it are refused until the click: one of them could
      // otherwise reach the restarted server first and take the banner, and its button, away.
      let clicked = false;
      await t.context.route('**/*', (route) => (clicked ? route.fallback() : route.abort()));
      await suite.server.stop('SIGTERM');
      await eventually(async () => assert.match(await connState(page), /conn-unreachable/), 8000, 'unreachable shown');
      const banner = await onScreen(page, '#banner');
      assert.ok(banner.ok, `the banner is on screen: ${JSON.stringify(banner.box)}`);
      const retry = await onScreen(page, '#banner-retry');
      assert.ok(retry.ok, `"Retry now" is on screen: ${JSON.stringify(retry.box)}`);
      const clipped = await page.$eval(
        '#banner',
        (b: any) =>
          (b.scrollHeight as number) > (b.clientHeight as number) + 1 || (b.scrollWidth as number) > (b.clientWidth as number) + 1,
      );
      assert.equal(clipped, false, 'no part of the banner is cut off');
      const b = (await page.locator('#banner').boundingBox())!;
      const m = (await page.locator('#messages').boundingBox())!;
      assert.ok(m.y >= b.y + b.height - 0.5, `the messages start below the banner (${m.y} < ${b.y + b.height})`);
      const composer = await onScreen(page, '#composer');
      assert.ok(composer.ok, 'the composer stays on screen');
      await sleep(5000); // the heavy requests' back-off grows past a second or two

      await suite.restart();
      await sleep(1500); // a retry of the page's own now would be refused, not answered
      assert.equal(await page.isVisible('#banner-retry'), true, 'still unreachable for the page');
      const requests = recordRequests(t);
      clicked = true;
      const clickedAt = Date.now();
      await page.click('#banner-retry');
      await eventually(async () => assert.match(await connState(page), /conn-connected/), 5000, 'connected after Retry now');
      const first = requests.find((r) => r.path === '/poll' || r.path === '/conversations');
      assert.ok(first && first.at - clickedAt < 500, `the click tried at once: ${first ? first.at - clickedAt : 'no'} ms after it`);
      assert.ok(Date.now() - clickedAt < 2000, `back ${Date.now() - clickedAt} ms after the click`);
      assert.equal(await page.isVisible('#banner'), false);
    });
  }

  it('says this device is offline when the browser has no network, and comes back when it has (#14)', async () => {
    const t = await loggedIn('phone');
    const { page } = t;
    await t.context.setOffline(true);
    await eventually(async () => assert.match(await connState(page), /conn-offline/), 8000, 'offline shown');
    assert.match((await page.textContent('#banner')) ?? '', /This device is offline: it has no network/);
    assert.doesNotMatch((await page.textContent('#banner')) ?? '', /chat server/, 'the server is not blamed');
    await t.context.setOffline(false);
    await eventually(async () => assert.match(await connState(page), /conn-connected/), BACK_WITHIN_MS, 'connected again');
  });
});
