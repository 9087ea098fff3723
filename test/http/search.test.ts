// GET /search through HTTP (issue #17): the contract's shape, its limits and refusals, and who
// finds what. The matching rules themselves are the Store contract's (test/support/search-contract.ts).
import assert from 'node:assert/strict';
import { expectError, logIn, newUser, send, startApp, type TestApp } from '../support/app';
import { makeGroup, sentToGroup } from '../support/groups';

describe('search (HTTP, #17)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(() => t.close());

  function search(auth: { Authorization: string }, query: Record<string, string | number>) {
    return t.http().get('/search').query(query).set(auth);
  }

  it('answers the matches newest first in the MESSAGE shape, with has_more', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await send(t, a, b.username, 'the address is 12 Main St', 'k1');
    await send(t, b, a.username, 'Address noted');
    await send(t, a, b.username, 'unrelated');
    const res = await search(a.auth, { q: 'ADDR' }).expect(200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(Object.keys(res.body).sort(), ['has_more', 'messages']);
    assert.equal(res.body.has_more, false);
    assert.deepEqual(
      res.body.messages.map((m: { from: string; body: string; client_id: string | null }) => [m.from, m.body, m.client_id]),
      [
        [b.username, 'Address noted', null],
        [a.username, 'the address is 12 Main St', 'k1'],
      ],
    );
    const m = res.body.messages[1];
    assert.deepEqual(Object.keys(m).sort(), ['body', 'client_id', 'from', 'group', 'id', 'sent_at', 'to']);
    const other = await search(b.auth, { q: 'address main' }).expect(200);
    assert.equal(other.body.messages.length, 1);
    assert.equal(other.body.messages[0].client_id, null, "client_id is the sender's own key");
  });

  it('finds every message whose send was answered before it, from any device, with sends racing it (#18)', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const other = await logIn(t, b.username); // the recipient's second device
    for (let i = 0; i < 20; i++) {
      const sent = await send(t, a, b.username, `ferry ${i}`);
      const [found] = await Promise.all([
        search(i % 2 ? other.auth : b.auth, { q: `ferry ${i}` }).expect(200),
        send(t, b, a.username, `boat ${i}`), // racing it: no error, whether stored before the search or not
      ]);
      assert.deepEqual(
        found.body.messages.map((m: { id: number }) => m.id),
        [sent.body.message.id],
      );
    }
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => send(t, a, b.username, `harbour ${i}`)));
    const all = await search(other.auth, { q: 'harbour', limit: 100 }).expect(200);
    assert.deepEqual(
      all.body.messages.map((m: { id: number }) => m.id),
      burst.map((r) => r.body.message.id as number).sort((x, y) => y - x),
      'each once, newest first',
    );
  });

  it('pages with limit and before; limit defaults to 20 and must be 1-100', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const ids: number[] = [];
    for (let i = 0; i < 23; i++) ids.push((await send(t, a, b.username, `item ${i}`)).body.message.id);
    const first = await search(a.auth, { q: 'item' }).expect(200);
    assert.equal(first.body.messages.length, 20);
    assert.equal(first.body.has_more, true);
    assert.equal(first.body.messages[0].id, ids[22]);
    const rest = await search(a.auth, { q: 'item', before: first.body.messages[19].id }).expect(200);
    assert.deepEqual(
      rest.body.messages.map((m: { id: number }) => m.id),
      [ids[2], ids[1], ids[0]],
    );
    assert.equal(rest.body.has_more, false);
    const two = await search(a.auth, { q: 'item', limit: 2, before: ids[5] ?? 0 }).expect(200);
    assert.deepEqual(
      two.body.messages.map((m: { id: number }) => m.id),
      [ids[4], ids[3]],
    );
    assert.equal((await search(a.auth, { q: 'item', limit: 100 }).expect(200)).body.messages.length, 23);
    for (const limit of ['0', '101', '-1', 'ten', '1.5']) expectError(await search(a.auth, { q: 'item', limit }), 400, 'invalid_request');
    expectError(await search(a.auth, { q: 'item', before: 'x' }), 400, 'invalid_request');
  });

  it('refuses a query without a letter or digit, over 200 characters, or missing', async () => {
    const a = await newUser(t);
    for (const q of ['', ' ', '---', '* " %', '"', '\u3000']) {
      const res = await search(a.auth, { q });
      expectError(res, 400, 'invalid_request');
      assert.match(res.body.error.message, /^q: /);
    }
    expectError(await t.http().get('/search').set(a.auth), 400, 'invalid_request');
    expectError(await t.http().get('/search?q=a&q=b').set(a.auth), 400, 'invalid_request');
    expectError(await search(a.auth, { q: 'x'.repeat(201) }), 400, 'invalid_request');
    await search(a.auth, { q: 'x'.repeat(200) }).expect(200);
    await search(a.auth, { q: '字'.repeat(200) }).expect(200);
    await search(a.auth, { q: '😀'.repeat(199) + 'a' }).expect(200); // characters, not UTF-16 units
    await search(a.auth, { q: '-x-' }).expect(200);
    expectError(await t.http().get('/search?q=x'), 401, 'unauthorized');
  });

  it('hostile queries are plain text: never an error, never more than the words say', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    await send(t, a, b.username, 'plain hello');
    await send(t, a, b.username, '100% sure_thing "quoted" *starred*');
    for (const q of [
      '"',
      '"hello',
      'hello OR x',
      'NEAR(hello x)',
      'body:hello',
      'scope:u1',
      '-hello',
      '^hello',
      'hello*',
      "'; DROP TABLE messages; --",
      '(',
      'a"b"c',
      '\\"',
    ]) {
      const res = await search(a.auth, { q });
      if (res.status === 400) {
        expectError(res, 400, 'invalid_request');
        continue;
      }
      assert.equal(res.status, 200, `${q}: ${res.status} ${JSON.stringify(res.body)}`);
      for (const m of res.body.messages as { body: string }[])
        assert.ok(m.body === 'plain hello' || m.body.startsWith('100%'), `${q} found ${m.body}`);
    }
    assert.equal((await search(a.auth, { q: 'hello OR x' }).expect(200)).body.messages.length, 0);
    assert.equal((await search(a.auth, { q: '100%' }).expect(200)).body.messages.length, 1);
    assert.equal((await search(a.auth, { q: 'sure_thing' }).expect(200)).body.messages.length, 1);
    assert.equal((await search(a.auth, { q: '"quoted"' }).expect(200)).body.messages.length, 1);
  });

  it('with narrows to one conversation; an unknown user is 404 user_not_found; with and group together are 400', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    await send(t, a, b.username, 'lunch with b');
    await send(t, c, a.username, 'lunch with c');
    const all = await search(a.auth, { q: 'lunch' }).expect(200);
    assert.equal(all.body.messages.length, 2);
    const narrowed = await search(a.auth, { q: 'lunch', with: c.username.toUpperCase() }).expect(200);
    assert.deepEqual(
      narrowed.body.messages.map((m: { body: string }) => m.body),
      ['lunch with c'],
    );
    expectError(await search(a.auth, { q: 'lunch', with: 'nobody-here' }), 404, 'user_not_found');
    expectError(await search(a.auth, { q: 'lunch', with: b.username, group: 1 }), 400, 'invalid_request');
    expectError(await search(a.auth, { q: 'lunch', group: 999 }), 404, 'not_found');
  });

  it("a word only in other people's conversations is never found (authorization)", async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    await send(t, b, c.username, 'the password is swordfish');
    await send(t, a, b.username, 'hi b');
    await send(t, a, c.username, 'hi c');
    const queries: Record<string, string>[] = [
      { q: 'swordfish' },
      { q: 'swordfish', with: b.username },
      { q: 'swordfish', with: c.username },
      { q: 'sword' },
    ];
    for (const query of queries) {
      const res = await search(a.auth, query).expect(200);
      assert.deepEqual(res.body, { messages: [], has_more: false }, JSON.stringify(query));
    }
    assert.equal((await search(b.auth, { q: 'swordfish' }).expect(200)).body.messages.length, 1);
    assert.equal((await search(c.auth, { q: 'swordfish', with: b.username }).expect(200)).body.messages.length, 1);
  });

  it('finds group messages only while a member: group= narrows, outside it 404 not_found, removed finds nothing (#15)', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    const g = await makeGroup(t, b, 'trip', [a, c]);
    const secret = await makeGroup(t, b, 'surprise for a', [c]);
    await sentToGroup(t, b, g.id, 'tickets booked');
    await sentToGroup(t, c, secret.id, 'tickets for the surprise party');
    await send(t, a, b.username, 'tickets? thanks');
    const mine = await search(a.auth, { q: 'tickets' }).expect(200);
    assert.deepEqual(
      mine.body.messages.map((m: { body: string; group: number | null; to: string | null }) => [m.body, m.group, m.to]),
      [
        ['tickets? thanks', null, b.username],
        ['tickets booked', g.id, null],
      ],
    );
    const narrowed = await search(a.auth, { q: 'tickets', group: g.id }).expect(200);
    assert.deepEqual(
      narrowed.body.messages.map((m: { body: string }) => m.body),
      ['tickets booked'],
    );
    expectError(await search(a.auth, { q: 'tickets', group: secret.id }), 404, 'not_found');
    expectError(await search(a.auth, { q: 'tickets', group: 424242 }), 404, 'not_found');
    expectError(await search(a.auth, { q: 'tickets', group: 'x' }), 400, 'invalid_request');
    // a leaves the group: nothing of it is found any more, however asked.
    await t.http().delete(`/groups/${g.id}/members/${a.username}`).set(a.auth).expect(204);
    assert.deepEqual(
      (await search(a.auth, { q: 'tickets' }).expect(200)).body.messages.map((m: { body: string }) => m.body),
      ['tickets? thanks'],
    );
    assert.deepEqual((await search(a.auth, { q: 'booked' }).expect(200)).body, { messages: [], has_more: false });
    expectError(await search(a.auth, { q: 'booked', group: g.id }), 404, 'not_found');
    assert.equal((await search(c.auth, { q: 'booked', group: g.id }).expect(200)).body.messages.length, 1);
  });

  it('answers JSONP like any GET', async () => {
    const a = await newUser(t);
    const res = await t.http().get('/search').query({ q: 'x', callback: 'cb' }).set(a.auth).expect(200);
    assert.match(res.text, /^\/\*\*\/cb\(\{"messages":\[\],"has_more":false\}\);$/);
  });
});
