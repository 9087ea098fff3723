// Prometheus metrics (prom-client). One registry per app, so tests can run several apps in one
// process. Gauges are read from the hub, presence and store when scraped: nothing is counted
// twice and nothing can drift. What every request adds (its count, its duration, a poll's
// outcome) is counted here in plain numbers and handed to the registry when it is scraped
// (request-metrics.ts): prom-client's own counting checks and hashes the labels on every call,
// about 1.3 µs a request (bench/hotpath.ts, #18).
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Core } from './core';
import { DurationHistogram, RequestTally, type Tally, Tallies } from './request-metrics';

export class Metrics {
  readonly registry = new Registry();
  /** Per "method route status": requests and their durations. */
  private readonly requests = new Tallies<RequestTally>();
  /** Per poll outcome: answers. */
  private readonly pollAnswers = new Tallies<Tally>();

  constructor(core: Core) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const requests = this.requests;
    new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
      collect() {
        requests.handOver(this);
      },
    });
    this.registry.registerMetric(
      new DurationHistogram(
        'http_request_duration_seconds',
        'Time from request to answer, by method, route and status (held polls included)',
        requests,
      ).asMetric(),
    );
    const pollAnswers = this.pollAnswers;
    new Counter({
      name: 'chat_poll_answers_total',
      help: 'Poll answers by outcome: immediate, events, timeout, superseded, revoked, shutdown, cancelled (client gone), overloaded, limited (past POLLS_PER_USER), error',
      labelNames: ['outcome'],
      registers,
      collect() {
        pollAnswers.handOver(this);
      },
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

  request(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    const t = this.requests.get(key) ?? this.requests.add(key, new RequestTally({ method, route, status: String(status) }));
    t.add(seconds);
  }

  pollAnswered(outcome: string): void {
    const t = this.pollAnswers.get(outcome) ?? this.pollAnswers.add(outcome, { labels: { outcome }, count: 0, counted: 0 });
    t.count++;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
