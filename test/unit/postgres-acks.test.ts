// The PostgreSQL backend's batched device acknowledgements alone (#16): many polls, one write per
// device per interval; visible before written; a failed write is kept and tried again.
import assert from 'node:assert/strict';
import { AckLedger } from '../../src/store/postgres/acks';

interface Write {
  ids: string[];
  cursors: number[];
  seenAts: number[];
}

function device(id: string, cursor = 0) {
  return { id, userId: 1, name: 'n', createdAt: 0, lastSeenAt: 0, cursor };
}

describe('PostgreSQL acknowledgements (unit, #16)', () => {
  it('writes every device once per batch, forward only, in id order, visible before and while written', async () => {
    const writes: Write[] = [];
    let release: () => void = () => undefined;
    const ledger = new AckLedger((ids, cursors, seenAts) => {
      writes.push({ ids, cursors, seenAts });
      return new Promise((r) => (release = r));
    });
    for (let i = 1; i <= 50; i++) ledger.note('b', 1000 + i, i);
    ledger.note('b', 900, 3); // older: changes nothing
    ledger.note('a', 5000, 7);
    assert.equal(ledger.withPending(device('b')).cursor, 50, 'visible before it is written');
    const flushed = ledger.flush();
    await Promise.resolve();
    assert.deepEqual(writes, [{ ids: ['a', 'b'], cursors: [7, 50], seenAts: [5000, 1050] }], 'one statement, sorted ids');
    assert.equal(ledger.withPending(device('b')).cursor, 50, 'still visible while the write is under way');
    assert.equal(ledger.withPending(device('b', 60)).cursor, 60, 'a stored cursor further on wins');
    release();
    await flushed;
    assert.equal(ledger.withPending(device('b')).cursor, 0, 'written: the row says it now');
    ledger.stop();
  });

  it('a failed write is kept, merged with what came since, and written by the next flush', async () => {
    const writes: Write[] = [];
    let fail = true;
    const ledger = new AckLedger((ids, cursors, seenAts) => {
      writes.push({ ids, cursors, seenAts });
      return fail ? Promise.reject(new Error('database away')) : Promise.resolve();
    });
    ledger.note('a', 100, 4);
    await ledger.flush();
    assert.equal(ledger.failed, 1);
    assert.equal(ledger.withPending(device('a')).cursor, 4, 'kept');
    ledger.note('a', 200, 6);
    ledger.note('c', 200, 1);
    ledger.forget('c'); // deleted meanwhile: never written
    fail = false;
    await ledger.flush();
    assert.deepEqual(writes[1], { ids: ['a'], cursors: [6], seenAts: [200] });
    assert.equal(ledger.lastUsed('a', 0), 0, 'nothing pending any more');
    ledger.stop();
  });
});
