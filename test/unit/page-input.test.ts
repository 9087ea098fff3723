// The page's checks of what users type (forms.js, composer.js), what it makes of answers (net.js, sync.js,
// devices.js) and its request queue, run under Node with a stand-in XMLHttpRequest (#12).
// The real files are loaded.
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';
import { sleep } from '../support/util';

describe('page input and answers (#12)', () => {
  describe('forms', () => {
    const { Chat } = loadPage();
    const F = Chat.forms;
    const W = Chat.composer;

    it('checks log-in and sign-up fields before asking the server', () => {
      assert.equal(F.checkCredentials('', 'pw', false), 'Please enter a username.');
      assert.equal(F.checkCredentials('amy', '', false), 'Please enter a password.');
      assert.equal(F.checkCredentials('amy', 'x', false), null, 'a log-in takes any password');
      assert.equal(F.checkCredentials('Amy!', 'long enough', false), null, 'a log-in leaves the username to the server');
      assert.match(F.checkCredentials('amy!', 'long enough', true), /^Usernames are 1.32 characters/);
      assert.match(F.checkCredentials('a'.repeat(33), 'long enough', true), /^Usernames are/);
      assert.equal(F.checkCredentials('amy', 'short', true), 'The password needs at least 8 characters.');
      for (const name of ['amy', 'a.b-c_d', '__proto__', 'constructor', 'a'.repeat(32)]) {
        assert.equal(F.checkCredentials(name, 'long enough', true), null, name);
      }
    });

    it('explains a refused log-in or sign-up in words', () => {
      const err = (code: string, message = 'server words') => ({ error: { code, message } });
      assert.equal(F.explainAuthError(err('invalid_credentials')), 'Wrong username or password.');
      assert.equal(F.explainAuthError(err('username_taken')), 'That username is taken. Please choose another.');
      assert.match(F.explainAuthError(err('forbidden')), /^Sign-up is closed/);
      assert.match(F.explainAuthError(err('rate_limited')), /^Too many attempts/);
      assert.match(F.explainAuthError(err('network')), /^Could not reach the server/);
      assert.match(F.explainAuthError(err('timeout')), /^Could not reach the server/);
      assert.equal(F.explainAuthError(err('invalid_request', 'username: too long')), 'username: too long');
      assert.equal(F.explainAuthError({ error: null }), 'Something went wrong. Please try again.');
    });

    it('reads the "start a chat" box: trimmed, lower case, an @ allowed', () => {
      assert.deepEqual(W.checkNewConversation('  Bob '), { name: 'bob' });
      assert.deepEqual(W.checkNewConversation('@Amy'), { name: 'amy' });
      assert.deepEqual(W.checkNewConversation('__proto__'), { name: '__proto__' });
      assert.deepEqual(W.checkNewConversation('   '), { problem: 'Type a username to start a conversation.' });
      assert.deepEqual(W.checkNewConversation('@'), { problem: 'Type a username to start a conversation.' });
      assert.deepEqual(W.checkNewConversation('Not Valid!'), { problem: '\u201cnot valid!\u201d is not a valid username.' });
    });

    it('sends a message of up to 4,000 characters as the server counts them', () => {
      assert.equal(W.checkMessage(''), '', 'nothing to send, nothing to say');
      assert.equal(W.checkMessage(' \n\t '), '');
      assert.equal(W.checkMessage('hi'), null);
      assert.equal(W.checkMessage('\u{1F600}'.repeat(4000)), null, '4,000 emoji are 4,000 characters');
      assert.equal(W.checkMessage('x'.repeat(4001)), 'A message can be at most 4000 characters.');
    });

    it('names the device from its browser', () => {
      const ua = {
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36': 'Chrome on Linux',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0':
          'Edge on Windows',
        'Mozilla/5.0 (Android 4.4; Mobile; rv:41.0) Gecko/41.0 Firefox/41.0': 'Firefox on Android',
        'Mozilla/5.0 (iPad; CPU OS 5_1 like Mac OS X) AppleWebKit/534.46 (KHTML, like Gecko) Version/5.1 Mobile/9B176 Safari/7534.48.3':
          'Safari on iOS',
        'Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)': 'Internet Explorer on Windows',
        'Opera/9.80 (X11; Linux i686) Presto/2.12.388 Version/12.16': 'Opera on Linux',
        'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36': 'Chrome on ChromeOS',
        'curl/8.0': 'Browser',
      };
      for (const [agent, name] of Object.entries(ua)) assert.equal(F.guessDeviceName(agent), name, agent);
    });
  });

  describe('answers', () => {
    const { Chat } = loadPage();

    function xhr(status: number, text: string, headers: Record<string, string> = {}) {
      return { status, responseText: text, getResponseHeader: (k: string) => headers[k] ?? null };
    }

    it('makes one result of every kind of answer', () => {
      const r = Chat.http.resultOf;
      assert.deepEqual(r(xhr(200, '{"a":1}')), { status: 200, ok: true, data: { a: 1 }, error: null, retryAfterMs: 0 });
      assert.deepEqual(r(xhr(1223, '')), { status: 204, ok: true, data: null, error: null, retryAfterMs: 0 }, "old IE's 1223 is 204");
      assert.deepEqual(r(xhr(400, '{"error":{"code":"invalid_cursor","message":"bad cursor"}}')).error, {
        code: 'invalid_cursor',
        message: 'bad cursor',
      });
      assert.deepEqual(
        r(xhr(502, '<html>Bad Gateway</html>')).error,
        { code: 'http_502', message: 'The server answered with status 502.' },
        "a proxy's page",
      );
      assert.deepEqual(r(xhr(0, '')).error, { code: 'network', message: 'Could not reach the server.' });
      assert.equal(r(xhr(503, '{"error":{"code":"overloaded","message":"busy"}}', { 'Retry-After': '7' })).retryAfterMs, 7000);
      const throwing = {
        status: 0,
        get responseText(): string {
          throw new Error('not yet');
        },
        getResponseHeader(): string {
          throw new Error('no');
        },
      };
      assert.equal(r(throwing).error.code, 'network', 'an engine that throws on reading is a network error');
    });

    it('polls for an answer at once after an error, and sends the cursor back encoded', () => {
      assert.equal(Chat.sync.pollPath(null, false), '/poll?timeout=25');
      assert.equal(Chat.sync.pollPath(null, true), '/poll?timeout=0');
      assert.equal(Chat.sync.pollPath('12:a+b/c', false), '/poll?timeout=25&since=12%3Aa%2Bb%2Fc');
    });

    it('describes a device: online now or last seen, and when it logged in', () => {
      const today = new Date(2026, 10, 25, 15, 0);
      const iso = (d: Date) => d.toISOString();
      const details = Chat.devices.deviceDetails;
      assert.equal(
        details({ online: true, created_at: iso(new Date(2026, 10, 25, 9, 12)) }, today),
        'Online now \u00b7 logged in today at 09:12',
      );
      assert.equal(
        details({ online: false, last_seen_at: iso(new Date(2026, 10, 24, 18, 40)), created_at: iso(new Date(2026, 10, 23, 8, 0)) }, today),
        'Last seen yesterday at 18:40 \u00b7 logged in on Monday 23 Nov at 08:00',
      );
      assert.equal(details({ online: false, last_seen_at: null, created_at: 'garbage' }, today), '');
    });
  });

  describe('the request queue (net.js)', () => {
    class FakeXHR {
      static sent: FakeXHR[] = [];
      readyState = 0;
      status = 0;
      responseText = '';
      method = '';
      url = '';
      body: string | null = null;
      aborted = false;
      requestHeaders: Record<string, string> = {};
      headers: Record<string, string> = {};
      onreadystatechange: (() => void) | null = null;
      open(method: string, url: string): void {
        this.method = method;
        this.url = url;
        this.readyState = 1;
      }
      setRequestHeader(k: string, v: string): void {
        this.requestHeaders[k] = v;
      }
      send(body: string | null): void {
        this.body = body;
        FakeXHR.sent.push(this);
      }
      abort(): void {
        this.aborted = true;
      }
      getResponseHeader(k: string): string | null {
        return this.headers[k] ?? null;
      }
      respond(status: number, body: unknown): void {
        this.status = status;
        this.responseText = body === undefined ? '' : JSON.stringify(body);
        this.readyState = 4;
        this.onreadystatechange?.();
      }
    }

    function page() {
      FakeXHR.sent = [];
      const { Chat } = loadPage({ XMLHttpRequest: FakeXHR });
      const ended: string[] = [];
      // The one collaborator that needs a document: ending a session redraws the page.
      Chat.forms = { endSession: (reason: string) => ended.push(reason) };
      Chat.model.beginSession(Chat.state, { token: 'tok', username: 'zoe' });
      return { Chat, ended };
    }

    it('has one request in flight at a time, answered in the order asked', () => {
      const { Chat } = page();
      const answers: string[] = [];
      Chat.http.api('GET', '/conversations', null, (r: { data: unknown }) => answers.push(`conversations ${JSON.stringify(r.data)}`));
      Chat.http.api('POST', '/read', { with: 'amy', up_to: 3 }, () => answers.push('read'));
      Chat.http.api('GET', '/presence', null, () => answers.push('presence'));
      assert.equal(FakeXHR.sent.length, 1, 'only the first is sent');
      const first = FakeXHR.sent[0]!;
      assert.equal(first.method, 'GET');
      assert.match(first.url, /^\/conversations\?_=[a-z0-9]+$/, 'a GET carries a cache-buster');
      assert.equal(first.requestHeaders.Authorization, 'Bearer tok');
      assert.equal(first.body, null);
      first.respond(200, { conversations: [] });
      assert.equal(FakeXHR.sent.length, 2, 'the next goes when the first is answered');
      const second = FakeXHR.sent[1]!;
      assert.equal(second.url, '/read');
      assert.equal(second.requestHeaders['Content-Type'], 'application/json');
      assert.deepEqual(JSON.parse(second.body!), { with: 'amy', up_to: 3 });
      second.respond(204, undefined);
      FakeXHR.sent[2]!.respond(200, { online: [] });
      assert.deepEqual(answers, ['conversations {"conversations":[]}', 'read', 'presence']);
    });

    it('sends DELETE as POST with _method, for proxies that pass only GET and POST', () => {
      const { Chat } = page();
      Chat.http.api('DELETE', '/devices/7', null, () => undefined);
      const x = FakeXHR.sent[0]!;
      assert.equal(x.method, 'POST');
      assert.equal(x.url, '/devices/7');
      assert.deepEqual(JSON.parse(x.body!), { _method: 'DELETE' });
      x.respond(204, undefined);
    });

    it('ends the session on a 401 and drops answers of a session that has ended', () => {
      const { Chat, ended } = page();
      const answers: number[] = [];
      Chat.http.api('GET', '/devices', null, (r: { status: number }) => answers.push(r.status));
      FakeXHR.sent[0]!.respond(401, { error: { code: 'unauthorized', message: 'gone' } });
      assert.deepEqual(ended, ['signedOut']);
      assert.equal(answers.length, 0, 'the caller does not see the 401');

      Chat.http.api('GET', '/presence', null, (r: { status: number }) => answers.push(r.status));
      Chat.http.api('GET', '/conversations', null, (r: { status: number }) => answers.push(r.status));
      Chat.model.endSession(Chat.state);
      FakeXHR.sent[1]!.respond(200, { online: [] });
      assert.equal(answers.length, 0, 'an answer for the old session is dropped');
      assert.equal(FakeXHR.sent.length, 2, 'and a request queued for it is never sent');

      Chat.http.api('POST', '/sessions', { username: 'zoe' }, (r: { status: number }) => answers.push(r.status), {
        token: null,
        always: true,
      });
      const login = FakeXHR.sent[2]!;
      assert.equal(login.requestHeaders.Authorization, undefined, 'token: null sends none');
      login.respond(401, { error: { code: 'invalid_credentials', message: 'no' } });
      assert.deepEqual(answers, [401], 'always: the answer is delivered, the session untouched');
      assert.deepEqual(ended, ['signedOut']);
    });

    it('gives up on a request that takes too long, and aborts it', async () => {
      const { Chat } = page();
      const answers: string[] = [];
      Chat.http.api('GET', '/slow', null, (r: { error: { code: string } }) => answers.push(r.error.code), { timeoutMs: 20 });
      Chat.http.api('GET', '/next', null, () => answers.push('next'));
      await sleep(60);
      assert.deepEqual(answers, ['timeout']);
      assert.equal(FakeXHR.sent[0]!.aborted, true);
      FakeXHR.sent[0]!.respond(200, {});
      assert.deepEqual(answers, ['timeout'], 'a late answer is not delivered too');
      FakeXHR.sent[1]!.respond(200, {});
      assert.deepEqual(answers, ['timeout', 'next']);
    });
  });
});
