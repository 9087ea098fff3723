// Log-ins take turns at scrypt (src/auth.ts, #18): at most SCRYPT_AT_ONCE run in libuv's thread
// pool at once, so that the WAL's fsync every send waits for (store/sqlite/wal-sync.ts) always
// finds a thread; the others wait in order, and every one gets its right answer.
import assert from 'node:assert/strict';
import { hashPassword, SCRYPT_AT_ONCE, scryptLoad, verifyPassword } from '../../src/auth';

describe('scrypt takes turns, leaving a thread of the pool free (unit, #18)', () => {
  it('runs at most SCRYPT_AT_ONCE at once, the rest wait, and every hash and check comes out right', async () => {
    assert.deepEqual(scryptLoad(), { running: 0, waiting: 0 }, 'nothing left over from another test');
    assert.equal(SCRYPT_AT_ONCE, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1);
    const n = SCRYPT_AT_ONCE + 5;
    const hashes = Array.from({ length: n }, (_, i) => hashPassword(`password ${i}`, 10));
    assert.deepEqual(scryptLoad(), { running: SCRYPT_AT_ONCE, waiting: 5 });
    const stored = await Promise.all(hashes);
    assert.deepEqual(scryptLoad(), { running: 0, waiting: 0 }, 'every slot given back');
    const checks = stored.flatMap((h, i) => [verifyPassword(`password ${i}`, h), verifyPassword(`password ${i + 1}`, h)]);
    assert.equal(scryptLoad().running, SCRYPT_AT_ONCE);
    assert.deepEqual(
      await Promise.all(checks),
      stored.flatMap(() => [true, false]),
    );
    assert.deepEqual(scryptLoad(), { running: 0, waiting: 0 });
  });

  it('a scrypt that fails gives its turn back', async () => {
    // N not a power of two: Node refuses it, after the turn was taken.
    const bad = 'scrypt$1000$8$1$c2FsdA==$a2V5';
    const results = await Promise.allSettled(Array.from({ length: SCRYPT_AT_ONCE + 2 }, () => verifyPassword('x', bad)));
    assert.ok(results.every((r) => r.status === 'rejected'));
    assert.deepEqual(scryptLoad(), { running: 0, waiting: 0 });
  });
});
