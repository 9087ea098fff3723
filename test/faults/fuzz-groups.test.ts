// Property-based fuzzing of the group endpoints (issue #15), beside fuzz.test.ts and with its
// generators (test/support/fuzz.ts): random and adversarial names, member lists, group ids,
// bodies, encodings, token placements and overrides, from members and an outsider. Every answer
// keeps the contract (never a 500, the error shape with a code that fits its status, the caching
// headers); a success needs a valid token; afterwards the database passes its checks, holds
// exactly the group messages that were acknowledged, no group is over its limit, every group
// that is not gone has an owner among its members, and each sender's stream has each of their
// group messages once.
import assert from 'node:assert/strict';
import http from 'node:http';
import fc from 'fast-check';
import { newUser, startApp, type Login, type TestApp } from '../support/app';
import { type AuthKind, authKind, bodyOf, encoding, maybeNasty, nastyString, type Query, send, spoil, type Wire } from '../support/fuzz';
import { report } from './harness';

const SEED = Number(process.env.FUZZ_SEED ?? 60606);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const MAX_MEMBERS = 5;

const STATUS_CODES: Record<number, readonly string[]> = {
  400: ['invalid_request', 'invalid_json'],
  401: ['unauthorized'],
  403: ['forbidden'],
  404: ['not_found', 'user_not_found'],
  405: ['method_not_allowed'],
  409: ['client_id_reused', 'group_full'],
  413: ['payload_too_large'],
  431: ['headers_too_large'],
};

/** Any generated value as path text (some have no prototype, so no String()). */
function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  // JSON.stringify(undefined) is undefined, whatever its declared type says.
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** A path segment from any text, lone surrogates included (encodeURIComponent throws on them). */
function segment(s: string): string {
  return encodeURIComponent(s.toWellFormed());
}

interface Acked {
  id: number;
  from: string;
  group: number;
  body: string;
}

describe('faults: property-based fuzzing of the group endpoints (#15)', function () {
  this.timeout(300_000);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let t: TestApp;
  let alice: Login;
  let bob: Login;
  let carol: Login;
  const groups: number[] = [];
  const acked = new Map<number, Acked>();
  const statuses = new Map<number, number>();

  before(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off', RATE_GROUPS_USER: 'off', GROUP_MEMBERS_MAX: String(MAX_MEMBERS) });
    alice = await newUser(t, 'alice');
    bob = await newUser(t, 'bob');
    carol = await newUser(t, 'carol');
    for (const members of [[bob.username], []]) {
      const r = await t.http().post('/groups').set(alice.auth).send({ name: 'seed', members }).expect(201);
      groups.push(r.body.group.id as number);
    }
  });
  after(async () => {
    agent.destroy();
    await t.close();
  });

  function auth(kind: AuthKind, who: Login): { headers: Record<string, string>; query: Query; body: Record<string, unknown> } {
    switch (kind) {
      case 'header':
      case 'lowercase-bearer':
        return { headers: { Authorization: `${kind === 'header' ? 'Bearer' : 'bearer  '} ${who.token}` }, query: [], body: {} };
      case 'query':
        return { headers: {}, query: [['access_token', who.token]], body: {} };
      case 'body':
        return { headers: {}, query: [], body: { access_token: who.token } };
      case 'twice':
        return {
          headers: {},
          query: [
            ['access_token', who.token],
            ['access_token', who.token],
          ],
          body: {},
        };
      case 'none':
        return { headers: {}, query: [], body: {} };
      case 'malformed':
      case 'wrong-secret':
      case 'other-user':
        return { headers: { Authorization: `Bearer ${who.token.slice(0, -2)}${kind === 'malformed' ? '!' : 'AA'}` }, query: [], body: {} };
    }
  }
  const valid = (kind: AuthKind): boolean => ['header', 'lowercase-bearer', 'query', 'body'].includes(kind);

  function check(where: string, w: Wire, res: { status: number; headers: http.IncomingHttpHeaders; text: string }): unknown {
    assert.ok(res.status < 500, `${where}: ${res.status} ${res.text.slice(0, 300)}`);
    assert.equal(res.headers['cache-control'], 'no-store', `${where}: Cache-Control`);
    assert.notEqual(res.headers['transfer-encoding'], 'chunked', `${where}: never chunked`);
    if (res.status === 204) return undefined;
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/, `${where}: JSON`);
    const body = JSON.parse(res.text) as { error?: { code: string; message: string } };
    if (res.status >= 400) {
      assert.ok(body.error && body.error.message.length > 0, `${where}: error shape`);
      assert.ok(STATUS_CODES[res.status]?.includes(body.error.code), `${where}: ${body.error.code} with ${res.status}`);
      assert.ok(!/\n\s+at \S+ \(|node_modules/.test(res.text), `${where}: a stack trace leaked`);
    } else assert.ok(w.method === 'GET' || w.method === 'POST' || w.method === 'DELETE');
    return body;
  }

  const ops = ['create', 'rename', 'add', 'remove', 'send', 'send', 'history', 'read'] as const;

  it('every group endpoint answers or refuses in the contract shape, from members and outsiders', async () => {
    let n = 0;
    const out = await fc.check(
      fc.asyncProperty(
        fc.constantFrom(...ops),
        spoil('id', 'name', 'members', 'user', 'body', 'up_to', 'encoding', 'auth', 'override'),
        fc.record({
          actor: fc.constantFrom(0, 0, 1, 2),
          group: fc.nat(3),
          name: fc.oneof(
            fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.trim() !== ''),
            fc.constantFrom('class 3b', '😀'.repeat(64)),
          ),
          members: fc.array(fc.constantFrom('alice', 'bob', 'carol', 'BOB'), { maxLength: 4 }),
          user: fc.nat(2),
          body: fc.oneof(fc.constantFrom('hello', '<b>x</b>', "'; DROP TABLE groups; --"), fc.string({ minLength: 1, maxLength: 20 })),
          clientId: fc.option(fc.constantFrom('g1', 'g2', 'g3'), { nil: undefined }),
        }),
        fc.record({
          id: fc.oneof(nastyString, fc.constantFrom('0', '-1', '1e3', '9007199254740993', '99999', ' 1')),
          value: maybeNasty,
          list: fc.oneof(maybeNasty, fc.array(maybeNasty, { maxLength: 300 }), fc.constant(Array.from({ length: 40 }, (_, i) => `x${i}`))),
          enc: encoding,
          auth: authKind,
          override: fc.constantFrom('DELETE', 'PUT', 'post', ''),
        }),
        nastyString,
        async (op, bad, good, nasty, garbage) => {
          const who = [alice, bob, carol][good.actor] ?? alice;
          const people = [alice, bob, carol];
          const gid = bad.has('id') ? nasty.id : String(groups[good.group % groups.length] ?? 1);
          const kind = bad.has('auth') ? nasty.auth : 'header';
          const a = auth(kind, who);
          const field = (k: string, v: unknown) => (bad.has(k as never) ? nasty.value : v);
          let w: Wire;
          let fields: Record<string, unknown> = {};
          let method = 'POST';
          let path = '/groups';
          const query: Query = [...a.query];
          const target = people[good.user]?.username ?? 'alice';
          switch (op) {
            case 'create':
              fields = { name: field('name', good.name), members: bad.has('members') ? nasty.list : good.members };
              break;
            case 'rename':
              path = `/groups/${segment(gid)}`;
              fields = { name: field('name', good.name) };
              break;
            case 'add':
              path = `/groups/${segment(gid)}/members`;
              fields = { username: field('user', target) };
              break;
            case 'remove':
              method = bad.has('override') ? 'POST' : 'DELETE';
              path = `/groups/${segment(gid)}/members/${segment(bad.has('user') ? asText(nasty.value) : target)}`;
              break;
            case 'send':
              path = '/messages';
              fields = { group: bad.has('id') ? nasty.id : Number(gid), body: field('body', good.body), client_id: good.clientId };
              break;
            case 'history':
              method = 'GET';
              path = '/messages';
              query.push(['group', gid], ['limit', '5']);
              break;
            case 'read':
              path = '/read';
              fields = { group: bad.has('id') ? nasty.id : Number(gid), up_to: field('up_to', [...acked.keys()].at(-1) ?? 1) };
              break;
          }
          if (method === 'GET') w = { method, path, query, headers: a.headers };
          else {
            const all = { ...fields, ...a.body };
            if (bad.has('override')) all._method = nasty.override;
            const enc = bad.has('encoding') ? nasty.enc : 'json';
            const b = bodyOf(enc, all, garbage);
            const headers = { ...a.headers, ...(b.type ? { 'Content-Type': b.type } : {}) };
            w = { method, path, query, headers, body: b.body };
          }
          const res = await send(t.url, w, agent);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const json = check(`#${++n} ${op} ${method} ${path}`, w, res) as Record<string, unknown> | undefined;
          if (res.status < 300) assert.ok(valid(kind), `#${n}: ${res.status} without a valid token (${kind})`);
          if (op === 'create' && res.status === 201) groups.push((json?.group as { id: number }).id);
          if (op === 'send' && (res.status === 201 || res.status === 200)) {
            const m = json?.message as { id: number; from: string; group: number; body: string; to: null };
            assert.equal(m.to, null);
            const known = acked.get(m.id);
            if (res.status === 200)
              assert.deepEqual(known, { id: m.id, from: m.from, group: m.group, body: m.body }, 'a retry: the original');
            else {
              assert.equal(known, undefined, 'a new id');
              acked.set(m.id, { id: m.id, from: m.from, group: m.group, body: m.body });
            }
          }
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    if (out.failed) {
      const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
      throw new Error(`property failed (seed ${out.seed}, path "${out.counterexamplePath}"): ${cause.slice(0, 2000)}`);
    }
  });

  it('afterwards: the database checks out and holds exactly the acknowledged group messages; no group over its limit', async () => {
    const db = t.store.sqlite.db;
    await t.store.flush();
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    const stored = db
      .prepare(
        `SELECT m.id, s.username AS "from", m.group_id AS "group", m.body FROM messages m JOIN users s ON s.id = m.sender_id
         WHERE m.group_id IS NOT NULL ORDER BY m.id`,
      )
      .all();
    assert.deepEqual(
      stored,
      [...acked.values()].sort((x, y) => x.id - y.id),
    );
    const sizes = db.prepare(`SELECT group_id AS g, count(*) AS n FROM group_members GROUP BY group_id`).all() as Array<{ n: number }>;
    assert.ok(sizes.every((s) => s.n <= MAX_MEMBERS));
    const ownerless = db
      .prepare(
        `SELECT count(*) FROM groups g WHERE (g.owner_id IS NULL) <> NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = g.id)
            OR (g.owner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = g.id AND gm.user_id = g.owner_id))`,
      )
      .pluck()
      .get();
    assert.equal(ownerless, 0, 'an owner among the members exactly while there are members');
    const senderCopies = db
      .prepare(
        `SELECT count(*) FROM messages m WHERE m.group_id IS NOT NULL
           AND (SELECT count(*) FROM events e WHERE e.user_id = m.sender_id AND e.kind = 1 AND e.message_id = m.id) <> 1`,
      )
      .pluck()
      .get();
    assert.equal(senderCopies, 0, "each group message once in its sender's stream");
    const byStatus = [...statuses.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([s, c]) => `${s}:${c}`)
      .join(' ');
    report(
      `${[...statuses.values()].reduce((x, y) => x + y, 0)} fuzzed group requests (${byStatus}); ${acked.size} group messages acknowledged, exactly those stored`,
    );
  });
});
