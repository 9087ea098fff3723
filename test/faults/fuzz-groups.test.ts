// Property-based fuzzing of the group endpoints (issue #15), beside the other fuzz-*.test.ts and
// with their generators (test/support/fuzz.ts) and contract (fuzz-contract.ts): random and adversarial names, member lists, group ids,
// bodies, encodings, token placements and overrides, from members and an outsider. Every answer
// keeps the contract (never a 500, the error shape with a code that fits its status, the caching,
// CORS and nosniff headers, a Content-Length); a success needs a valid token; afterwards the database passes its checks, holds
// exactly the group messages that were acknowledged, no group is over its limit, every group
// that is not gone has an owner among its members, and each sender's stream has each of their
// group messages once.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newUser, startApp, type Login, type TestApp } from '../support/app';
import { authKind, encoding, maybeNasty, nastyString, type Query, spoil, type Wire } from '../support/fuzz';
import { authenticated, Fuzzer, fuzzCheck, tokenFor, withBody } from '../support/fuzz-contract';
import { report } from './harness';

const MAX_MEMBERS = 5;

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
  let t: TestApp;
  let fuzzer: Fuzzer;
  let alice: Login;
  let bob: Login;
  let carol: Login;
  const groups: number[] = [];
  const acked = new Map<number, Acked>();

  before(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off', RATE_GROUPS_USER: 'off', GROUP_MEMBERS_MAX: String(MAX_MEMBERS) });
    fuzzer = new Fuzzer(t.url);
    alice = await newUser(t, 'alice');
    bob = await newUser(t, 'bob');
    carol = await newUser(t, 'carol');
    for (const members of [[bob.username], []]) {
      const r = await t.http().post('/groups').set(alice.auth).send({ name: 'seed', members }).expect(201);
      groups.push(r.body.group.id as number);
    }
  });
  after(async () => {
    fuzzer.close();
    await t.close();
  });

  const ops = ['create', 'rename', 'add', 'remove', 'send', 'send', 'history', 'read'] as const;

  it('every group endpoint answers or refuses in the contract shape, from members and outsiders', async () => {
    let n = 0;
    await fuzzCheck(
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
          const a = tokenFor(kind, who, who === alice ? bob : alice);
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
            const enc = bad.has('encoding') ? nasty.enc : 'json';
            w = withBody(method, path, fields, enc, { ...a, query }, garbage, bad.has('override') ? nasty.override : undefined);
          }
          const { res, json: answer } = await fuzzer.exchange(`#${++n} ${op}`, w);
          const json = answer as Record<string, unknown> | undefined;
          if (res.status < 300) assert.ok(authenticated(kind), `#${n}: ${res.status} without a valid token (${kind})`);
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
    );
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
    report(`${fuzzer.summary('fuzzed group requests')}; ${acked.size} group messages acknowledged, exactly those stored`);
  });
});
