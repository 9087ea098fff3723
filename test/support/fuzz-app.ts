// The app the endpoint fuzz tests run against (test/faults/fuzz-*.test.ts, issues #6 and #12), and what it acknowledged: two users with three messages between them, no
// holds (the poll timeout clamped to 0, so thousands of polls run quickly) and no rate limits
// (only validation answers). Afterwards the database must pass integrity_check and hold exactly
// the messages and users that were acknowledged, and Object.prototype must be untouched.
import assert from 'node:assert/strict';
import { newUser, startApp, type Login, type TestApp } from './app';
import type { AuthKind, Encoding } from './fuzz';
import { Fuzzer, RUNS, SEED, tokenFor, type TokenPlacement } from './fuzz-contract';

/** A message as the ledger and the database hold it. */
export interface LedgerMessage {
  id: number;
  from: string;
  to: string;
  body: string;
  client_id: string | null;
}

export interface FuzzApp {
  t: TestApp;
  alice: Login;
  bob: Login;
  fuzzer: Fuzzer;
  /** Messages answered 201 (or 200 to a retry), by id. */
  ledger: Map<number, LedgerMessage>;
  /** Users answered 201. */
  users: Set<string>;
  /** `own`'s token placed as `kind` says; 'other-user' takes the other one's secret. */
  token(kind: AuthKind, own: Login): TokenPlacement;
  /** Object.prototype's own names before the run, to find a prototype polluted by it. */
  protoKeysBefore: string;
  close(): Promise<void>;
}

const protoKeys = (): string => Object.getOwnPropertyNames(Object.prototype).sort().join();

export async function startFuzzApp(): Promise<FuzzApp> {
  const protoKeysBefore = protoKeys();
  const t = await startApp({
    POLL_TIMEOUT_DEFAULT: '0',
    POLL_TIMEOUT_MAX: '0',
    RATE_LOGIN_USER: 'off',
    RATE_LOGIN_IP: 'off',
    RATE_SIGNUP_IP: 'off',
    RATE_MESSAGES_USER: 'off',
  });
  const alice = await newUser(t, 'alice');
  const bob = await newUser(t, 'bob');
  const ledger = new Map<number, LedgerMessage>();
  for (const [from, to, body] of [
    [alice, bob, 'seed one'],
    [bob, alice, 'seed two'],
    [alice, alice, 'seed note'],
  ] as const) {
    const r = await t.http().post('/messages').set(from.auth).send({ to: to.username, body }).expect(201);
    const m = r.body.message as LedgerMessage;
    ledger.set(m.id, { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id });
  }
  const fuzzer = new Fuzzer(t.url);
  return {
    t,
    alice,
    bob,
    fuzzer,
    ledger,
    users: new Set([alice.username, bob.username]),
    token: (kind, own) => tokenFor(kind, own, own === alice ? bob : alice),
    protoKeysBefore,
    close: async () => {
      fuzzer.close();
      await t.close();
    },
  };
}

/**
 * In a describe(): the app started before its tests (the seed and the number of cases told to
 * `report`) and closed after them. The object's fields are there from before() on.
 */
export function useFuzzApp(report: (line: string) => void): FuzzApp {
  const f = {} as FuzzApp;
  before(async () => {
    Object.assign(f, await startFuzzApp());
    report(`seed ${SEED}, ${RUNS} cases per endpoint (FUZZ_SEED / FUZZ_RUNS to change)`);
  });
  after(() => f.close());
  return f;
}

/**
 * Checks a message answered 201 or 200 and adds it to the ledger: a 201 is new, a 200 (a retry
 * by client_id) returns the original; a body sent as JSON is stored exactly as sent.
 */
export function recordMessage(
  f: FuzzApp,
  where: string,
  json: unknown,
  status: number,
  sent: { to: unknown; body: unknown; client_id: unknown },
  sender: Login,
  enc: Encoding,
): void {
  const m = (json as { message: LedgerMessage }).message;
  assert.ok(Number.isSafeInteger(m.id) && m.id > 0, `${where}: id`);
  assert.equal(m.from, sender.username);
  if (enc === 'json' || enc === 'text' || enc === 'untyped') {
    assert.equal(m.body, sent.body, `${where}: body stored exactly as sent`);
    assert.equal(m.to, String(sent.to).toLowerCase());
  }
  const known = f.ledger.get(m.id);
  if (status === 200) {
    assert.ok(known, `${where}: a 200 retry returned a message that was never acknowledged`);
    assert.deepEqual(
      { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id },
      { id: known.id, from: known.from, to: known.to, body: known.body, client_id: known.client_id },
      `${where}: a retry returns the original`,
    );
  } else {
    assert.equal(known, undefined, `${where}: a 201 reused the id of another message`);
    f.ledger.set(m.id, { id: m.id, from: m.from, to: m.to, body: m.body, client_id: m.client_id });
  }
}

/**
 * integrity_check passes, the messages table is exactly the ledger, the users table exactly the
 * 201 sign-ups, every message is in each of its streams once, and Object.prototype is as it
 * was. Returns the line to report.
 */
export async function checkAcknowledged(f: FuzzApp): Promise<string> {
  const db = f.t.store.sqlite.db;
  await f.t.store.flush();
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  const stored = db
    .prepare(
      `SELECT m.id, s.username AS "from", r.username AS "to", m.body, m.client_id
       FROM messages m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id ORDER BY m.id`,
    )
    .all() as LedgerMessage[];
  const acknowledged = [...f.ledger.values()].sort((x, y) => x.id - y.id);
  assert.equal(stored.length, acknowledged.length, 'as many messages stored as acknowledged');
  assert.deepEqual(stored, acknowledged, 'every stored message is one that was acknowledged, unchanged');
  const storedUsers = (db.prepare('SELECT username FROM users').pluck().all() as string[]).sort();
  assert.deepEqual(storedUsers, [...f.users].sort(), 'exactly the users that were answered 201');
  const torn = db
    .prepare(
      `SELECT count(*) FROM messages m WHERE (SELECT count(*) FROM events e WHERE e.kind = 1 AND e.message_id = m.id) <> CASE WHEN m.sender_id = m.recipient_id THEN 1 ELSE 2 END`,
    )
    .pluck()
    .get();
  assert.equal(torn, 0);
  assert.equal(protoKeys(), f.protoKeysBefore, 'Object.prototype untouched');
  return `${f.fuzzer.summary()}; ${acknowledged.length} messages and ${f.users.size} users acknowledged, exactly those stored; integrity_check ok`;
}
