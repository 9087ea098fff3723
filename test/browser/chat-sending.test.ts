// Sending from the chat page when things go wrong, in real Chromium against the real server
// (issue 4): a send whose answer is lost or refused is marked, retried on request and never
// doubled, and a retried message keeps its place in the order written. Split from
// chat.test.ts (#12).
import assert from 'node:assert/strict';
import {
  apiCall,
  apiLogin,
  browserSuite,
  createUser,
  DELIVERY_MS,
  logIn,
  openConversation,
  send,
  shownTexts,
  type Tab,
  waitForTexts,
} from './helpers';
import { sleep } from '../support/util';

// Callbacks given to page.evaluate run inside the page; the project compiles without the DOM
// library, so name the browser globals they use.
declare const document: any;

describe('sending from the chat page when things go wrong (issue 4)', function () {
  this.timeout(60000);
  const suite = browserSuite();
  const tab = (): Promise<Tab> => suite.tab();

  it('marks a message that could not be sent, retries it on request and never duplicates a send', async () => {
    await createUser(suite.server.url, 'jack');
    await createUser(suite.server.url, 'kate');
    const jackTab = await tab();
    const jack = jackTab.page;
    const kate = (await tab()).page;
    // Poll answers to jack can be held back, so a send's answer is the only news jack gets.
    let holdPolls = false;
    await jackTab.context.route(/\/poll\?/, async (route) => {
      try {
        const response = await route.fetch({ timeout: 45000 });
        while (holdPolls) await sleep(50);
        await route.fulfill({ response });
      } catch {
        // the page aborted the poll or the test ended
      }
    });
    await logIn(jack, 'jack', 'Laptop');
    await logIn(kate, 'kate', 'Phone');
    await openConversation(jack, 'kate');

    // The answer is lost after the server stored the message: the page retries with the same
    // client_id and the server answers with the original, so there is one message, not two.
    holdPolls = true;
    let answersLost = 0;
    const clientIds: string[] = [];
    await jack.route('**/messages', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      clientIds.push(JSON.parse(route.request().postData() ?? '{}').client_id);
      if (answersLost === 0) {
        answersLost += 1;
        await route.fetch(); // reaches the server, which stores the message
        return route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'Retry-After': '1' },
          body: '{"error":{"code":"overloaded","message":"try later"}}',
        });
      }
      return route.continue();
    });
    await send(jack, 'sent once, answered twice');
    assert.equal(await jack.locator('#messages .msg.queued, #messages .msg.sending').count(), 1, 'shown at once, as sending');
    await waitForTexts(jack, ['sent once, answered twice'], 10000, 'jack');
    assert.equal(clientIds.length, 2, 'the page retried once');
    assert.equal(clientIds[0], clientIds[1], 'the retry carries the same client_id');
    holdPolls = false;
    await openConversation(kate, 'jack');
    await waitForTexts(kate, ['sent once, answered twice'], DELIVERY_MS, 'kate');
    await sleep(300); // let jack's held poll answer arrive
    assert.deepEqual(await shownTexts(jack), ['sent once, answered twice'], 'jack shows it once');
    await jack.unroute('**/messages');

    // A send the server refuses is marked as not sent, with Retry.
    await jack.route('**/messages', (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 413,
            contentType: 'application/json',
            body: '{"error":{"code":"payload_too_large","message":"too large"}}',
          })
        : route.continue(),
    );
    await send(jack, 'refused for now');
    await jack.waitForSelector('#messages .msg.failed', { timeout: DELIVERY_MS });
    assert.match((await jack.textContent('#messages .msg.failed')) ?? '', /Not sent.*Retry/);
    assert.match((await jack.textContent('.conv[data-name="kate"] .conv-preview')) ?? '', /not sent/);
    await jack.unroute('**/messages');
    await jack.click('#messages .msg.failed [data-action="retry"]');
    await waitForTexts(jack, ['sent once, answered twice', 'refused for now'], 10000, 'jack after retry');
    await waitForTexts(kate, ['sent once, answered twice', 'refused for now'], DELIVERY_MS, 'kate after retry');
  });

  it('keeps the order written when a message that was not sent is retried', async () => {
    await createUser(suite.server.url, 'opal');
    await createUser(suite.server.url, 'piet');
    const { page } = await tab();
    await logIn(page, 'opal', 'Desk');
    await openConversation(page, 'piet');
    // "first" is refused; "second" meets a busy server and waits out its Retry-After.
    await page.route('**/messages', (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const body = JSON.parse(route.request().postData() ?? '{}').body;
      return body === 'first'
        ? route.fulfill({
            status: 413,
            contentType: 'application/json',
            body: '{"error":{"code":"payload_too_large","message":"too large"}}',
          })
        : route.fulfill({
            status: 503,
            contentType: 'application/json',
            headers: { 'Retry-After': '2' },
            body: '{"error":{"code":"overloaded","message":"busy"}}',
          });
    });
    await send(page, 'first');
    await page.waitForSelector('#messages .msg.failed', { timeout: DELIVERY_MS });
    assert.match((await page.textContent('.conv[data-name="piet"] .conv-preview')) ?? '', /not sent/);
    await send(page, 'second');
    await page.waitForFunction(() => /retrying/.test(document.getElementById('messages')!.textContent ?? ''), undefined, {
      timeout: DELIVERY_MS,
    });
    await page.unroute('**/messages');
    await page.click('#messages .msg.failed [data-action="retry"]');
    assert.doesNotMatch(
      (await page.textContent('.conv[data-name="piet"] .conv-preview')) ?? '',
      /not sent/,
      'the list no longer says "not sent"',
    );
    await waitForTexts(page, ['first', 'second'], 10000, 'opal');
    const history = await apiCall(suite.server.url, 'GET', '/messages?with=piet', undefined, await apiLogin(suite.server.url, 'opal'));
    assert.deepEqual(
      history.body.messages.map((m: { body: string }) => m.body),
      ['first', 'second'],
      'stored in the order written',
    );
  });
});
