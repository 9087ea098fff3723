// The per-request metrics are counted in plain numbers and handed to the registry at a scrape
// (src/request-metrics.ts, #18): a scrape must read exactly what prom-client's own Counter and
// Histogram, fed the same requests, would have said.
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Core } from '../../src/core';
import { Metrics } from '../../src/metrics';
import { DURATION_BUCKETS } from '../../src/request-metrics';

/** prom-client's way: what metrics.ts did before #18. */
function reference(): { registry: Registry; request: Metrics['request']; pollAnswered: Metrics['pollAnswered'] } {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request to answer, by method, route and status (held polls included)',
    labelNames: ['method', 'route', 'status'],
    buckets: [...DURATION_BUCKETS],
    registers,
  });
  const polls = new Counter({
    name: 'chat_poll_answers_total',
    help: 'Poll answers by outcome: immediate, events, timeout, superseded, revoked, shutdown, cancelled (client gone), overloaded, limited (past POLLS_PER_USER), error',
    labelNames: ['outcome'],
    registers,
  });
  return {
    registry,
    request: (method, route, status, seconds) => {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      durations.observe(labels, seconds);
    },
    pollAnswered: (outcome) => polls.inc({ outcome }),
  };
}

const core = {
  hub: { stats: () => ({ held: 0, waiters: 0 }) },
  presence: { onlineDeviceCount: () => 0 },
  store: { countMessages: () => Promise.resolve(0), commitStats: () => ({ batches: 0, jobs: 0 }) },
} as unknown as Core;

const NAMES = ['http_requests_total', 'http_request_duration_seconds', 'chat_poll_answers_total'];

async function texts(registry: Registry): Promise<string[]> {
  return Promise.all(NAMES.map((n) => registry.getSingleMetricAsString(n)));
}

describe('per-request metrics (unit, #18)', () => {
  it("a scrape reads what prom-client's Counter and Histogram would, before and after more requests", async () => {
    const ours = new Metrics(core);
    const theirs = reference();
    const both = (f: (m: Pick<Metrics, 'request' | 'pollAnswered'>) => void) => {
      f(ours);
      f(theirs);
    };
    assert.deepEqual(await texts(ours.registry), await texts(theirs.registry), 'nothing yet');

    // Every bucket's bound exactly (it is within that bucket), between bounds, 0, and past the last.
    both((m) => {
      for (const s of [...DURATION_BUCKETS, 0, 0.0003, 0.0123, 0.3, 7, 61, 3600]) m.request('GET', '/poll', 200, s);
      m.request('POST', '/messages', 201, 0.0021);
      m.request('POST', '/messages', 201, 0.0007);
      m.request('GET', '/poll', 401, 0.0001);
      m.pollAnswered('events');
      m.pollAnswered('immediate');
      m.pollAnswered('events');
    });
    const first = await texts(ours.registry);
    assert.deepEqual(first, await texts(theirs.registry));
    assert.match(first[1] ?? '', /^http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/poll",status="200"\} 24$/m);
    assert.match(first[0] ?? '', /^http_requests_total\{method="POST",route="\/messages",status="201"\} 2$/m);
    assert.match(first[2] ?? '', /^chat_poll_answers_total\{outcome="events"\} 2$/m);

    both((m) => {
      m.request('POST', '/messages', 201, 0.004);
      m.request('DELETE', '/messages', 405, 0.0002);
      m.pollAnswered('timeout');
      m.pollAnswered('events');
    });
    assert.deepEqual(await texts(ours.registry), await texts(theirs.registry), 'after a second round');
    assert.deepEqual(await texts(ours.registry), await texts(theirs.registry), 'scraped again with nothing new');
  });

  it('the whole text format holds the three, once each', async () => {
    const ours = new Metrics(core);
    ours.request('GET', '/poll', 200, 0.01);
    ours.pollAnswered('events');
    const text = await ours.text();
    for (const n of NAMES)
      assert.equal(text.split('\n').filter((l) => l === `# TYPE ${n} ${n.endsWith('seconds') ? 'histogram' : 'counter'}`).length, 1, n);
  });
});
