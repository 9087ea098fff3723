// The group commit's fsync off the event loop (#18, store/sqlite/wal-sync.ts): with
// synchronous=FULL nothing a group commit wrote is acknowledged, or handed to a reader, before
// an fsync of the WAL that began after that commit has returned. The fsync is stood in for here
// so that it can be held back and released (or failed) when the test says.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openStore, type SqliteStore } from '../../src/store';
import { type Fsync, WalSync } from '../../src/store/sqlite/wal-sync';
import type { User } from '../../src/types';
import { tempDbPath } from '../support/server';
import { sleep } from '../support/util';

/** Resolves once `cond` holds, checking every turn of the event loop (at most 2 s). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Whether a promise has settled, read after the current turn's callbacks have run. */
function tracked<T>(p: Promise<T>): { done: () => boolean; p: Promise<T> } {
  let done = false;
  const q = p.finally(() => (done = true));
  q.catch(() => undefined);
  return { done: () => done, p: q };
}

describe('the group commit syncs off the event loop, and holds back what it wrote until then (unit, #18)', () => {
  let file: string;
  let store: SqliteStore;
  let alice: User;
  let bob: User;
  /** fsyncs asked for and not yet let through, oldest first. */
  let held: (() => void)[];
  let calls: number;
  /** What the next fsyncs do: be held back, or fail. */
  let mode: 'hold' | 'fail';

  const fsync: Fsync = (fd, done) => {
    calls++;
    if (mode === 'fail') setImmediate(() => done(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })));
    else held.push(() => fs.fsync(fd, done));
  };
  const release = (): void => (held.shift() ?? assert.fail('no fsync is waiting'))();
  const send = (body: string, clientId: string | null = null) => store.sendMessage({ sender: alice, recipient: bob, body, clientId });
  const countOnDisk = (): number => {
    const other = new Database(file, { readonly: true });
    try {
      return other.prepare<[], number>('SELECT count(*) FROM messages').pluck().get() ?? -1;
    } finally {
      other.close();
    }
  };

  beforeEach(async () => {
    held = [];
    calls = 0;
    mode = 'hold';
    file = tempDbPath('chat-walsync-');
    store = openStore(file, { walFsync: fsync });
    alice = (await store.createUser('alice', 'h')) ?? assert.fail('alice');
    bob = (await store.createUser('bob', 'h')) ?? assert.fail('bob');
  });
  afterEach(async () => {
    await store.close();
    while (held.length > 0) release();
  });

  it('acknowledges a send only once the fsync after its commit returns; reads of it wait as long', async () => {
    const sent = tracked(send('hello'));
    await until(() => held.length === 1, 'the fsync after the commit began');
    assert.equal(countOnDisk(), 1, 'committed: another connection sees it');
    const events = tracked(store.eventsAfter(bob.id, 0, 10));
    const history = tracked(store.history(alice.id, bob.id, { limit: 10 }));
    const conversations = tracked(store.conversations(bob.id));
    const retry = tracked(store.earlierSend({ sender: alice, recipient: bob, body: 'hello', clientId: null }));
    const count = tracked(store.countMessages());
    await sleep(30);
    assert.equal(sent.done(), false, 'not acknowledged before its fsync returned');
    assert.equal(events.done(), false, 'a poll is not handed it before');
    assert.equal(history.done(), false, 'nor is history');
    assert.equal(conversations.done(), false, 'nor the conversation list');
    assert.equal(retry.done(), false, 'nor a retry');
    assert.equal(count.done(), false, 'nor the count of messages (metrics)');
    release();
    const result = await sent.p;
    assert.equal(result.status, 'created');
    assert.deepEqual(
      (await events.p).map((e) => (e.kind === 'message' ? e.message.body : e.kind)),
      ['hello'],
    );
    assert.equal((await history.p).messages.length, 1);
    assert.equal((await conversations.p).length, 1);
    assert.equal(await retry.p, null);
    assert.equal(await count.p, 1);
    assert.equal(calls, 1);
    // Nothing pending any more: a read is handed back at once, with no fsync.
    assert.equal((await store.eventsAfter(bob.id, 0, 10)).length, 1);
    assert.equal(calls, 1);
  });

  it('sends that arrive while an fsync is in flight are committed together once it returns, with one fsync', async () => {
    const first = tracked(send('one'));
    await until(() => held.length === 1, 'the first fsync began');
    const later = [tracked(send('two')), tracked(send('three'))];
    await sleep(20);
    assert.equal(countOnDisk(), 1, 'the next batch waits for the fsync in flight');
    assert.equal(held.length, 1, 'no second fsync while the first is in flight');
    const batches = store.commitStats().batches;
    release();
    await first.p;
    await until(() => held.length === 1, 'the second fsync began once the first returned');
    assert.equal(countOnDisk(), 3, 'then both committed');
    assert.equal(store.commitStats().batches, batches + 1, 'in one batch');
    await sleep(10);
    assert.ok(
      later.every((s) => !s.done()),
      'not acknowledged before their own fsync',
    );
    release();
    assert.deepEqual(
      (await Promise.all(later.map((s) => s.p))).map((r) => r.status),
      ['created', 'created'],
    );
    assert.equal(calls, 2);
  });

  it('flush() commits and syncs at once, even while an fsync is in flight', async () => {
    const first = tracked(send('one'));
    await until(() => held.length === 1, 'the first fsync began');
    const later = tracked(send('two'));
    await store.flush();
    assert.equal(countOnDisk(), 2);
    assert.equal((await later.p).status, 'created', 'synced by flush() on this thread');
    release();
    assert.equal((await first.p).status, 'created');
  });

  it('after an fsync fails nothing more is acknowledged or shown until a restart, whose recovery settles it', async () => {
    mode = 'fail';
    await assert.rejects(send('maybe', 'c-1'), /the disk did not confirm a commit/);
    // Linux may drop the dirty pages a failed fsync was writing and report success on the next
    // one: a later fsync proves nothing about this commit, so no later one may vouch for it.
    mode = 'hold';
    await assert.rejects(send('maybe', 'c-1'), /the disk did not confirm a commit/, 'the retry is not acknowledged');
    await assert.rejects(send('other'), /the disk did not confirm a commit/, 'nor is any later send');
    await assert.rejects(store.eventsAfter(bob.id, 0, 10), /the disk did not confirm a commit/, 'nor shown to a poll');
    await assert.rejects(store.history(alice.id, bob.id, { limit: 10 }), /the disk did not confirm a commit/);
    await store.close();
    // A restart recovers what the disk holds (here all of it): a retry then finds the message.
    store = openStore(file, { walFsync: fsync });
    const retry = tracked(send('maybe', 'c-1'));
    await until(() => held.length === 1, 'the restarted store syncs again');
    release();
    assert.equal((await retry.p).status, 'existing');
  });

  it('a WAL that cannot be opened stops the store from opening, rather than failing a later commit', () => {
    assert.throws(() => new WalSync(path.join(path.dirname(file), 'no-such-dir', 'x-wal')), /ENOENT/);
  });

  it('a database opened through a symbolic link syncs the WAL beside the file it points to', async () => {
    const real = tempDbPath('chat-walsync-real-');
    const link = path.join(path.dirname(tempDbPath('chat-walsync-link-')), 'link.sqlite');
    fs.symlinkSync(real, link);
    const synced: string[] = [];
    const linked = openStore(link, {
      walFsync: (fd, done) => {
        synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
        fs.fsync(fd, done);
      },
    });
    try {
      const a = (await linked.createUser('a', 'h')) ?? assert.fail('a');
      const b = (await linked.createUser('b', 'h')) ?? assert.fail('b');
      assert.equal((await linked.sendMessage({ sender: a, recipient: b, body: 'x', clientId: null })).status, 'created');
      assert.deepEqual(synced, [`${fs.realpathSync(real)}-wal`], 'the WAL SQLite writes, not a file beside the link');
    } finally {
      await linked.close();
    }
  });

  it('writes outside the group commit still sync themselves (FULL), and close() syncs what is pending', async () => {
    const sent = tracked(send('last words'));
    await until(() => held.length === 1, 'the fsync began');
    assert.equal(store.sqlite.db.pragma('synchronous', { simple: true }), 2, 'FULL between group commits');
    await store.close();
    assert.equal((await sent.p).status, 'created', 'acknowledged by the synchronous fsync of close()');
  });

  it("the admin command line's commits sync themselves: the server reads them at once, and cannot wait for its fsync", async () => {
    await store.close();
    store = openStore(tempDbPath('chat-walsync-'), { syncInCommit: true, walFsync: fsync });
    const a = (await store.createUser('a', 'h')) ?? assert.fail('a');
    const b = (await store.createUser('b', 'h')) ?? assert.fail('b');
    assert.equal((await store.sendMessage({ sender: a, recipient: b, body: 'x', clientId: null })).status, 'created');
    assert.equal(calls, 0, 'no fsync left for later: SQLite synced the commit (FULL)');
  });

  it('synchronous=NORMAL asks for no fsync at all', async () => {
    await store.close();
    store = openStore(tempDbPath('chat-walsync-'), { synchronous: 'NORMAL', walFsync: fsync });
    const a = (await store.createUser('a', 'h')) ?? assert.fail('a');
    const b = (await store.createUser('b', 'h')) ?? assert.fail('b');
    assert.equal((await store.sendMessage({ sender: a, recipient: b, body: 'x', clientId: null })).status, 'created');
    assert.equal(calls, 0);
  });
});
