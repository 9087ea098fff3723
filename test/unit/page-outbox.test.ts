// The page's outbox (public/js/outbox.js) and send decisions (public/js/send.js) run under
// Node: the order written is the order sent, retries keep their place, what a lost connection
// failed goes again by itself and what the server refused waits for the user (#12).
import assert from 'node:assert/strict';
import { loadPage } from '../support/page';

type Item = {
  client_id: string;
  to: string;
  body: string;
  state: string;
  error: string | null;
  auto: boolean;
  firstTry: number;
  attempts: number;
};

describe('page outbox: order, retries and storage (#12)', () => {
  const { Chat } = loadPage();
  const O = Chat.outbox;
  const M = Chat.model;

  function stateWith(...bodies: string[]) {
    const st = M.newState();
    M.beginSession(st, { token: 't', username: 'zoe' });
    bodies.forEach((b, i) => O.queue(st, b.split(':')[0] ?? 'amy', b, `c${i + 1}`, 1000 + i));
    return st;
  }
  const states = (st: { outbox: Item[] }) => st.outbox.map((o) => `${o.client_id}:${o.state}${o.auto ? '+auto' : ''}`);

  it('queues in the order written; the next to send is the first queued', () => {
    const st = stateWith('amy:1', 'bob:2', 'amy:3');
    assert.deepEqual(states(st), ['c1:queued', 'c2:queued', 'c3:queued']);
    assert.equal(O.nextQueued(st).client_id, 'c1');
    O.nextQueued(st).state = 'sending';
    assert.equal(O.nextQueued(st).client_id, 'c2', 'one in flight is not sent twice');
    assert.deepEqual(st.outbox[0], {
      client_id: 'c1',
      to: 'amy',
      body: 'amy:1',
      state: 'sending',
      error: null,
      auto: false,
      createdAt: 1000,
      firstTry: 1000,
      attempts: 0,
    });
    assert.equal(st.convs.get('amy').touched, 1002, 'a new conversation with only unsent messages sorts as just touched');
  });

  it('lets a message the server refused wait for the user, and the rest go on', () => {
    const st = stateWith('amy:1', 'amy:2');
    O.markFailed(st, st.outbox[0], 'Not sent: too long', false);
    assert.deepEqual(states(st), ['c1:failed', 'c2:queued']);
    assert.equal(O.nextQueued(st).client_id, 'c2');
    assert.equal(O.requeueAfterReconnect(st, 5000), false, 'a reconnect does not resend what the server refused');
    assert.deepEqual(states(st), ['c1:failed', 'c2:queued']);
    assert.equal(st.outbox[1].firstTry, 5000, 'queued ones get a fresh retry period');
  });

  it('fails everything queued behind a message that failed for want of a connection, and sends it all again in order on reconnect', () => {
    const st = stateWith('amy:1', 'amy:2', 'bob:3', 'bob:4');
    O.markFailed(st, st.outbox[0], 'Refused', false);
    st.outbox[1].state = 'sending';
    O.markFailed(st, st.outbox[1], 'No connection', true);
    assert.deepEqual(states(st), ['c1:failed', 'c2:failed+auto', 'c3:failed+auto', 'c4:failed+auto']);
    assert.equal(O.nextQueued(st), null);
    assert.equal(O.failedCount(st, 'bob'), 2);
    st.outbox[2].attempts = 3;
    assert.equal(O.requeueAfterReconnect(st, 9000), true);
    assert.deepEqual(states(st), ['c1:failed', 'c2:queued', 'c3:queued', 'c4:queued']);
    assert.deepEqual(st.outbox.map((o: Item) => [o.error, o.firstTry, o.attempts]).slice(1), [
      [null, 9000, 0],
      [null, 9000, 0],
      [null, 9000, 0],
    ]);
    assert.equal(O.nextQueued(st).client_id, 'c2');
  });

  it('retries a message in its place, so it still goes before the ones written after it', () => {
    const st = stateWith('amy:first', 'amy:second');
    O.markFailed(st, st.outbox[0], 'Refused', false);
    st.outbox[1].attempts = 2; // waiting out a back-off
    assert.equal(O.retry(st, 'c1', 7000), true);
    assert.deepEqual(states(st), ['c1:queued', 'c2:queued']);
    assert.equal(O.nextQueued(st).client_id, 'c1');
    assert.deepEqual([st.outbox[0].error, st.outbox[0].firstTry, st.outbox[0].attempts], [null, 7000, 0]);
    assert.equal(O.retry(st, 'nope', 7000), false);
  });

  it('deletes only a message that failed, and marks the open conversation for redrawing', () => {
    const st = stateWith('amy:1', 'amy:2');
    st.current = 'amy';
    st.chatDirty = false;
    assert.equal(O.discard(st, 'c1'), false, 'a queued message cannot be deleted');
    O.markFailed(st, st.outbox[0], 'Refused', false);
    assert.equal(O.discard(st, 'c1'), true);
    assert.deepEqual(states(st), ['c2:queued']);
    assert.equal(st.chatDirty, true);
    assert.equal(O.discard(st, 'c1'), false);
  });

  it('removes a confirmed message wherever it is', () => {
    const st = stateWith('amy:1', 'amy:2', 'amy:3');
    assert.equal(O.remove(st, 'c2'), true);
    assert.equal(O.remove(st, 'c2'), false);
    assert.deepEqual(states(st), ['c1:queued', 'c3:queued']);
    assert.equal(O.find(st, 'c3'), 1);
    assert.equal(O.find(st, 'c2'), -1);
  });

  it('counts what logging out would lose, the one in flight included', () => {
    const st = stateWith('amy:1', 'amy:2');
    assert.equal(O.unsentCount(st, false), 2);
    st.outbox[0].state = 'sending';
    assert.equal(O.unsentCount(st, true), 2);
    assert.equal(O.unsentCount(M.newState(), false), 0);
  });

  it('stores and restores the outbox: a message being sent comes back queued, anything malformed is dropped', () => {
    const st = stateWith('amy:1', 'bob:2', 'amy:3');
    st.outbox[0].state = 'sending';
    O.markFailed(st, st.outbox[1], 'Refused', false);
    st.outbox[2].attempts = 4;
    const saved = JSON.parse(JSON.stringify(O.toSave(st)));
    assert.deepEqual(saved, [
      { client_id: 'c1', to: 'amy', body: 'amy:1', state: 'queued', error: null, auto: false, createdAt: 1000 },
      { client_id: 'c2', to: 'bob', body: 'bob:2', state: 'failed', error: 'Refused', auto: false, createdAt: 1001 },
      { client_id: 'c3', to: 'amy', body: 'amy:3', state: 'queued', error: null, auto: false, createdAt: 1002 },
    ]);
    const back = O.fromSaved(
      [
        ...saved,
        null,
        { client_id: 5, to: 'x', body: 'y' },
        { client_id: 'c9', to: 'x' },
        { client_id: 'c8', to: 'x', body: 'z', state: 'sending' },
      ],
      50000,
    );
    assert.deepEqual(
      back.map((o: Item) => `${o.client_id}:${o.state}:${o.firstTry}:${o.attempts}`),
      ['c1:queued:50000:0', 'c2:failed:50000:0', 'c3:queued:50000:0', 'c8:queued:50000:0'],
    );
    assert.equal(back[3].createdAt, 50000, 'a missing creation time is now');
    for (const junk of [null, {}, 'x', 3]) assert.deepEqual(O.fromSaved(junk, 1), []);
  });

  it('keeps sending to users named __proto__ and constructor apart (#13)', () => {
    const st = stateWith('__proto__:1', 'constructor:2');
    O.markFailed(st, st.outbox[0], 'Refused', false);
    assert.equal(O.failedCount(st, '__proto__'), 1);
    assert.equal(O.failedCount(st, 'constructor'), 0);
    assert.equal(st.convs.get('__proto__').touched, 1000);
    assert.equal(st.convs.get('constructor').touched, 1001);
  });

  describe('send decisions (send.js)', () => {
    const S = Chat.send;
    const res = (status: number, code?: string, data: unknown = null) => ({
      status,
      ok: status >= 200 && status < 300,
      data,
      error: code ? { code, message: `the ${code}` } : null,
      retryAfterMs: 0,
    });

    it('retries what a connection or a busy server failed, not what the server refused', () => {
      for (const [r, again] of [
        [res(0, 'network'), true],
        [res(0, 'timeout'), true],
        [res(408, 'request_timeout'), true],
        [res(429, 'rate_limited'), true],
        [res(500, 'internal'), true],
        [res(503, 'overloaded'), true],
        [res(201, undefined, {}), true], // a success without the message: not confirmed
        [res(201, undefined, { message: { id: 1 } }), false],
        [res(400, 'invalid_request'), false],
        [res(404, 'user_not_found'), false],
        [res(413, 'payload_too_large'), false],
      ] as const) {
        assert.equal(S.retryable(r), again, JSON.stringify(r));
      }
    });

    it('says why a message was not sent', () => {
      assert.match(S.sendError(res(0, 'network')), /^Not sent yet: no connection/);
      assert.match(S.sendError(res(0, 'timeout')), /^Not sent yet: the server did not answer/);
      assert.equal(S.sendError(res(404, 'user_not_found')), 'Not sent: there is no such user.');
      assert.equal(S.sendError(res(413, 'payload_too_large')), 'Not sent: the message is too long.');
      assert.equal(S.sendError(res(429, 'rate_limited')), 'Not sent: too many messages, slow down a little.');
      assert.equal(S.sendError(res(400, 'invalid_request')), 'Not sent: the invalid_request');
      assert.equal(S.sendError(res(201)), 'The server sent something unexpected.');
    });
  });
});
