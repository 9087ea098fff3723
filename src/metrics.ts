// Prometheus metrics (prom-client). One registry per app, so tests can run several apps in one
// process. Gauges are read from the hub, presence and store when scraped: nothing is counted
// twice and nothing can drift.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Core } from './core';

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly durations: Histogram<'method' | 'route' | 'status'>;
  private readonly pollAnswers: Counter<'outcome'>;

  constructor(core: Core) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to answer, by method, route and status (held polls included)',
      labelNames: ['method', 'route', 'status'],
      // Sub-millisecond sends up to polls held for the longest timeout.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 60],
      registers,
    });
    this.pollAnswers = new Counter({
      name: 'chat_poll_answers_total',
      help: 'Poll answers by outcome: immediate, events, timeout, superseded, revoked, shutdown, cancelled (client gone), overloaded, limited (past POLLS_PER_USER), error',
      labelNames: ['outcome'],
      registers,
    });
    new Gauge({
      name: 'chat_held_polls',
      help: 'Polls held open now',
      registers,
      collect() {
        this.set(core.hub.stats().held);
      },
    });
    new Gauge({
      name: 'chat_poll_waiters',
      help: 'Waiters in the hub (held or about to be); equals chat_held_polls when idle',
      registers,
      collect() {
        this.set(core.hub.stats().waiters);
      },
    });
    new Gauge({
      name: 'chat_devices_online',
      help: 'Devices holding a poll now, or that polled or sent a message within the presence window',
      registers,
      collect() {
        this.set(core.presence.onlineDeviceCount());
      },
    });
    new Gauge({
      name: 'chat_messages_stored',
      help: 'Messages in the database',
      registers,
      async collect() {
        this.set(await core.store.countMessages());
      },
    });
    new Gauge({
      name: 'chat_write_batches_committed',
      help: 'Group commits since start (each is one transaction and one fsync), including those that only saved device cursors',
      registers,
      collect() {
        this.set(core.store.commitStats().batches);
      },
    });
    new Gauge({
      name: 'chat_write_jobs_committed',
      help: 'Writes (sends and read markers) carried by those group commits since start',
      registers,
      collect() {
        this.set(core.store.commitStats().jobs);
      },
    });
  }

  /** Label children per (method, route, status), found once: label hashing per request adds up. */
  private readonly children = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  request(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let c = this.children.get(key);
    if (!c) {
      const labels = { method, route, status: String(status) };
      c = { count: this.requests.labels(labels), time: this.durations.labels(labels) };
      this.children.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  }

  pollAnswered(outcome: string): void {
    this.pollAnswers.inc({ outcome });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
