// The stream heads the SQLite store keeps in memory (src/store/sqlite/heads.ts, #18): only what
// is committed is ever known.
import assert from 'node:assert/strict';
import { StreamHeads } from '../../src/store/sqlite/heads';

describe('stream heads in memory (unit, #18)', () => {
  it('what a group commit appended is known once it committed, the newest seq of each user', () => {
    const h = new StreamHeads();
    h.begin();
    h.noteAppended(1, 5);
    h.noteAppended(2, 9);
    h.noteAppended(1, 6);
    assert.equal(h.get(1, 0), undefined, 'not before the commit');
    h.end(true);
    assert.equal(h.get(1, 0), 6);
    assert.equal(h.get(2, 0), 9);
  });

  it('a transaction that rolled back leaves nothing, and forgets every head', () => {
    const h = new StreamHeads();
    assert.equal(h.get(1, 0), undefined, 'nothing known yet (data_version 0 read)');
    h.set(1, 4);
    h.set(2, 7);
    h.begin();
    h.noteAppended(1, 5);
    h.end(false);
    assert.equal(h.get(1, 0), undefined, 'read from the database again');
    // A position taken from memory might be what failed it: the retries read them all.
    assert.equal(h.get(2, 0), undefined, 'the ones it did not touch too');
  });

  it('hands out the next position inside a group commit only once it has checked data_version', () => {
    const h = new StreamHeads();
    assert.equal(h.get(1, 3), undefined);
    h.set(1, 4);
    assert.equal(h.next(1), undefined, 'outside a group commit: read from the table');
    h.begin();
    assert.equal(h.next(1), undefined, 'before the transaction has read data_version');
    h.began(3);
    assert.equal(h.next(1), 5, 'after the committed head');
    assert.equal(h.next(2), undefined, 'a head not known: read from the table');
    h.noteAppended(1, 5);
    h.noteAppended(2, 10);
    assert.equal(h.next(1), 6, 'after what this transaction appended');
    assert.equal(h.next(2), 11);
    h.end(true);
    assert.equal(h.next(1), undefined, 'the transaction is over');
    h.begin();
    h.began(4); // another connection wrote in between
    assert.equal(h.next(1), undefined, 'forgotten: read from the table');
    assert.equal(h.next(2), undefined);
    h.end(true);
  });

  it('an append outside a group commit only forgets the head', () => {
    const h = new StreamHeads();
    assert.equal(h.get(1, 0), undefined);
    h.set(1, 4);
    h.noteAppended(1, 5);
    h.begin();
    h.end(true);
    assert.equal(h.get(1, 0), undefined);
  });

  it('forgets everything when data_version moves (another connection wrote)', () => {
    const h = new StreamHeads();
    assert.equal(h.get(1, 3), undefined);
    h.set(1, 4);
    assert.equal(h.get(1, 3), 4);
    assert.equal(h.get(1, 4), undefined);
  });
});
