// The ceiling: the least any long-poll chat server on node:http + better-sqlite3 can do per
// message (parse, one durable insert, wake the held polls, answer), with the same JSON shapes
// as our contract so one load generator drives both. Our server is measured as a ratio of it.
// No per-device cursor, no client_id, no validation beyond what keeps it honest. Env:
// PORT, HOST, DB_PATH, CEILING_USERS (users u0.. with tokens tok0..), CEILING_SYNC (FULL|NORMAL),
// CEILING_COMMIT (batch|each), CEILING_SEED_MESSAGES (history to pre-load, see seedPair()),
// CEILING_GROUP_SIZE (W5, #15: users u0..u{n-1} form group 1; a message to it is stored once
// with recipient -1 and wakes every member; 0, the default, leaves every path as it was).
import http from 'node:http';
import Database from 'better-sqlite3';
import { seedPair } from './seed-pattern.js';

const env = process.env;
const USERS = Number(env.CEILING_USERS ?? 1000);
const db = new Database(env.DB_PATH ?? ':memory:');
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${env.CEILING_SYNC === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
// pair = the conversation key, so history is one index range whatever the history size.
db.exec(`CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, sender INT NOT NULL, recipient INT NOT NULL,
  pair INT NOT NULL, body TEXT NOT NULL, sent_at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS m_r ON m(recipient, id); CREATE INDEX IF NOT EXISTS m_s ON m(sender, id);
  CREATE INDEX IF NOT EXISTS m_p ON m(pair, id);`);
type Row = { id: number; sender: number; recipient: number; body: string; sent_at: string };
const insert = db.prepare('INSERT INTO m (sender, recipient, pair, body, sent_at) VALUES (?, ?, ?, ?, ?)');
const stream = db.prepare<[number, number, number, number, number], Row>(`SELECT id, sender, recipient, body, sent_at
  FROM m WHERE recipient = ? AND id > ? UNION SELECT id, sender, recipient, body, sent_at FROM m
  WHERE sender = ? AND id > ? ORDER BY id LIMIT ?`);
const history = db.prepare<[number, number, number], Row>(`SELECT id, sender, recipient, body, sent_at
  FROM m WHERE pair = ? AND id < ? ORDER BY id DESC LIMIT ?`);
// W5's group: its messages are the rows with recipient GROUP, which its members' streams add.
const GROUP = -1;
const GROUP_SIZE = Math.min(USERS, Number(env.CEILING_GROUP_SIZE ?? 0));
const memberStream = db.prepare<[number, number, number, number, number, number, number], Row>(`SELECT id, sender, recipient, body, sent_at
  FROM m WHERE recipient = ? AND id > ? UNION SELECT id, sender, recipient, body, sent_at FROM m
  WHERE sender = ? AND id > ? UNION SELECT id, sender, recipient, body, sent_at FROM m
  WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?`);
const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
const byName = new Map(names.map((n, i) => [n, i]));
const byToken = new Map(names.map((_, i) => [`tok${i}`, i]));
const pairOf = (a: number, b: number) => Math.min(a, b) * 1_048_576 + Math.max(a, b);
db.transaction((n: number) => {
  for (let k = 0; k < n; k++) {
    const [a, b] = seedPair(k, USERS);
    insert.run(a, b, pairOf(a, b), `seeded message ${k}`, new Date(1.7e12 + k).toISOString());
  }
})(Number(env.CEILING_SEED_MESSAGES ?? 0));
db.pragma('wal_checkpoint(TRUNCATE)'); // the seed leaves the WAL, not the first measured write
let head = (db.prepare('SELECT max(id) AS h FROM m').get() as { h: number | null }).h ?? 0;
type Waiter = { res: http.ServerResponse; timer: NodeJS.Timeout };
const waiters = new Map<number, Set<Waiter>>();

const msg = (r: Row) =>
  r.recipient === GROUP
    ? { id: r.id, from: names[r.sender], to: null, group: 1, body: r.body, client_id: null, sent_at: r.sent_at }
    : { id: r.id, from: names[r.sender], to: names[r.recipient], group: null, body: r.body, client_id: null, sent_at: r.sent_at };
function send(res: http.ServerResponse, status: number, obj: unknown): void {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
const fail = (res: http.ServerResponse, status: number, code: string) => send(res, status, { error: { code, message: code } });
function wake(user: number, row: Row): void {
  const set = waiters.get(user);
  if (!set) return;
  waiters.delete(user);
  // A waiter parks only when nothing was newer than its cursor, so this row is its next event.
  for (const w of set) {
    clearTimeout(w.timer);
    send(w.res, 200, { cursor: String(row.id), events: [{ type: 'message', message: msg(row) }] });
  }
}

// CEILING_COMMIT=each: one transaction per message (an fsync each under FULL). Default, batch:
// the sends of one event-loop turn share a transaction, the least a FULL-durable server can pay.
const EACH = env.CEILING_COMMIT === 'each';
let queue: { row: Row; res: http.ServerResponse }[] = [];
const commit = db.transaction((q: typeof queue) => {
  for (const { row: r } of q)
    r.id = Number(insert.run(r.sender, r.recipient, pairOf(r.sender, r.recipient), r.body, r.sent_at).lastInsertRowid);
});
function flush(): void {
  const q = queue;
  queue = [];
  commit(q);
  for (const { row, res } of q) {
    // commit, then notify
    head = row.id;
    if (row.recipient === GROUP) for (let u = 0; u < GROUP_SIZE; u++) wake(u, row);
    else {
      wake(row.recipient, row);
      if (row.recipient !== row.sender) wake(row.sender, row);
    }
    send(res, 201, { message: msg(row) });
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x'),
    q = url.searchParams;
  const token = req.headers.authorization?.slice(7) ?? q.get('access_token') ?? '';
  const me = byToken.get(token);
  if (url.pathname === '/healthz') return send(res, 200, { ok: true });
  if (me === undefined) return fail(res, 401, 'unauthorized');
  if (req.method === 'POST' && url.pathname === '/messages') {
    let raw = '';
    req
      .setEncoding('utf8')
      .on('data', (c: string) => (raw += c))
      .on('end', () => {
        let b: { to?: unknown; group?: unknown; body?: unknown };
        try {
          b = JSON.parse(raw) as typeof b;
        } catch {
          return fail(res, 400, 'invalid_json');
        }
        const toGroup = b.group === 1 && GROUP_SIZE > 0;
        if (toGroup && me >= GROUP_SIZE) return fail(res, 404, 'not_found');
        const to = toGroup ? GROUP : byName.get(String(b.to));
        if (to === undefined) return fail(res, 404, 'user_not_found');
        if (typeof b.body !== 'string' || !b.body.trim()) return fail(res, 400, 'invalid_request');
        queue.push({ row: { id: 0, sender: me, recipient: to, body: b.body, sent_at: new Date().toISOString() }, res });
        if (EACH) flush();
        else if (queue.length === 1) setImmediate(flush);
      });
  } else if (req.method === 'GET' && url.pathname === '/poll') {
    const since = q.has('since') ? Number(q.get('since')) : head; // no per-device cursor here
    const timeout = Math.min(Number(q.get('timeout') ?? 25), 50),
      limit = Math.min(Number(q.get('limit') ?? 100), 1000);
    if (!Number.isInteger(since) || since < 0 || since > head) return fail(res, 400, 'invalid_cursor');
    const rows = me < GROUP_SIZE ? memberStream.all(me, since, me, since, GROUP, since, limit) : stream.all(me, since, me, since, limit);
    if (rows.length > 0 || !(timeout > 0))
      return send(res, 200, { cursor: String(rows.at(-1)?.id ?? since), events: rows.map((r) => ({ type: 'message', message: msg(r) })) });
    const set = waiters.get(me) ?? new Set<Waiter>();
    waiters.set(me, set);
    const w: Waiter = {
      res,
      timer: setTimeout(() => {
        set.delete(w);
        send(res, 200, { cursor: String(since), events: [] });
      }, timeout * 1000),
    };
    set.add(w);
    res.once('close', () => {
      if (!res.writableEnded) {
        clearTimeout(w.timer);
        set.delete(w);
      }
    }); // client left
  } else if (req.method === 'GET' && url.pathname === '/messages') {
    const other = byName.get(q.get('with') ?? '');
    if (other === undefined) return fail(res, 404, 'user_not_found');
    const limit = Math.min(Number(q.get('limit') ?? 50), 200),
      before = Number(q.get('before') ?? Number.MAX_SAFE_INTEGER);
    const rows = history.all(pairOf(me, other), before, limit + 1);
    send(res, 200, { messages: rows.slice(0, limit).reverse().map(msg), has_more: rows.length > limit });
  } else fail(res, 404, 'not_found');
});
server.keepAliveTimeout = 65_000; // longer than the longest hold, so idle pollers keep their socket
server.listen(Number(env.PORT ?? 3100), env.HOST ?? '127.0.0.1');
const stop = () => {
  for (const set of waiters.values())
    for (const w of set) {
      clearTimeout(w.timer);
      w.res.destroy();
    }
  server.close(() => {
    db.close();
    process.exit(0);
  });
};
process.once('SIGTERM', stop).once('SIGINT', stop);
