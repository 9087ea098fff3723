// Small helpers shared by the tests and the benchmarks: one copy of each.
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free on 127.0.0.1 a moment ago (another process may still take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The JS heap in use after a full garbage collection, in bytes: for tests that check what a
 * flood leaves behind. Works without `node --expose-gc` (the flag is set at run time and gc()
 * taken from a fresh context).
 */
export function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
