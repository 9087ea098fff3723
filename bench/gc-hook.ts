// Preloaded into both servers by the benchmark (`node --expose-gc --require`): on SIGUSR2, a
// full garbage collection, then a memory report on stderr. W3 reads memory this way because
// RSS right after a burst of 10,000 requests is mostly garbage not yet collected, which made
// the per-poll figure swing by ±50 % from run to run. Not part of either server's code.
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const m = process.memoryUsage();
  process.stderr.write(
    `BENCH_MEMORY ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, gc: gc !== undefined })}\n`,
  );
});
