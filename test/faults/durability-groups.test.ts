// Durability of group sends (issue #15): the real server is killed with SIGKILL in the middle of
// concurrent sends to a group, twice, on one database file. After each restart every acknowledged
// group message is in the stream of every member exactly once and in id order, and in the
// group's history; sends whose answer was lost are retried with their client_id, as a client
// would, and each lands exactly once.
import assert from 'node:assert/strict';
import { call, signUpAndLogIn } from '../support/client';
import { type RunningServer, startServer } from '../support/server';
import { sleep } from '../support/util';
import { readStream, report } from './harness';

const ENV = { RATE_MESSAGES_USER: 'off', RATE_LOGIN_IP: 'off', SCRYPT_COST: '10' };

interface Spec {
  clientId: string;
  from: string;
  body: string;
}

interface GroupMessage {
  id: number;
  from: string;
  group: number | null;
  body: string;
}

describe('faults: durability of group sends under kill -9 (#15)', function () {
  this.timeout(120_000);
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL');
    server = undefined;
  });

  it('kill -9 in the middle of concurrent group sends: every 201 reaches every member once, in order; lost answers retried land once', async () => {
    server = await startServer({ env: ENV });
    const { dbPath, port } = server;
    let url = server.url;
    const names = ['gd_owner', 'gd_a', 'gd_b', 'gd_c'];
    const tokens = new Map<string, string>();
    for (const n of names) tokens.set(n, (await signUpAndLogIn(url, n, 'burst')).token);
    const made = await call(url, 'POST', '/groups', { token: tokens.get('gd_owner'), body: { name: 'durable', members: names.slice(1) } });
    assert.equal(made.status, 201);
    const group = made.body.group.id as number;
    const acked = new Map<string, number>(); // client_id -> message id
    const specs: Spec[] = [];
    let inDoubtTotal = 0;

    for (let round = 0; round < 2; round++) {
      const inDoubt: Spec[] = [];
      let alive = true;
      const loop = async (from: string, k: number): Promise<void> => {
        for (let n = 0; alive; n++) {
          const spec = { clientId: `g${round}-${from}-${k}-${n}`, from, body: `round ${round} ${from} ${k} #${n} ✓` };
          try {
            const res = await call(url, 'POST', '/messages', {
              token: tokens.get(from),
              body: { group, body: spec.body, client_id: spec.clientId },
            });
            assert.equal(res.status, 201, res.text);
            specs.push(spec);
            acked.set(spec.clientId, res.body.message.id as number);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            inDoubt.push(spec); // no answer: the server died with it somewhere on the way
            return;
          }
        }
      };
      const loops = names.flatMap((n) => [loop(n, 0), loop(n, 1)]);
      await sleep(400);
      await server.stop('SIGKILL');
      alive = false;
      await Promise.all(loops);
      server = await startServer({ dbPath, port, env: ENV });
      url = server.url;
      // The client retries what it does not know the fate of: each lands once (201 or 200).
      for (const spec of inDoubt) {
        const res = await call(url, 'POST', '/messages', {
          token: tokens.get(spec.from),
          body: { group, body: spec.body, client_id: spec.clientId },
        });
        assert.ok(res.status === 201 || res.status === 200, res.text);
        const id = res.body.message.id as number;
        specs.push(spec);
        acked.set(spec.clientId, id);
      }
      inDoubtTotal += inDoubt.length;
    }

    const ids = [...acked.values()].sort((x, y) => x - y);
    assert.equal(new Set(ids).size, ids.length, 'one message per client_id');
    assert.ok(ids.length > 20, `${ids.length} sends acknowledged`);
    for (const n of names) {
      const { events } = await readStream(url, tokens.get(n) ?? '');
      const mine = events
        .flatMap((e) => (e.type === 'message' ? [e.message as unknown as GroupMessage] : []))
        .filter((m) => m.group === group);
      assert.deepEqual(
        mine.map((m) => m.id),
        ids,
        `${n}: every acknowledged group message once, in id order`,
      );
    }
    const history: GroupMessage[] = [];
    for (let after = 0; ;) {
      const r = await call(url, 'GET', `/messages?group=${group}&after=${after}&limit=200`, { token: tokens.get('gd_a') });
      assert.equal(r.status, 200);
      history.push(...(r.body.messages as GroupMessage[]));
      if (!r.body.has_more) break;
      after = history.at(-1)?.id ?? after;
    }
    assert.deepEqual(
      history.map((m) => m.id),
      ids,
      'the history holds exactly what was acknowledged',
    );
    const byId = new Map(specs.map((s) => [acked.get(s.clientId), s]));
    for (const m of history) assert.equal(m.body, byId.get(m.id)?.body, 'stored exactly as sent');
    report(
      `${ids.length} group messages acknowledged across 2 kill -9 restarts (${inDoubtTotal} retried by client_id): each in all 4 members' streams once, in order`,
    );
  });
});
