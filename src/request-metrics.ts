// What every request adds to the metrics (metrics.ts), counted in plain numbers and handed to
// prom-client's registry only when it is scraped. prom-client's own Counter and Histogram check
// and hash the labels on every call: about 1.3 µs a request, two requests per message
// (bench/hotpath.ts, #18). The text a scrape gets is the one they would make:
// test/unit/request-metrics.test.ts feeds both the same requests and compares.
import type { Counter, Metric } from 'prom-client';

/** http_request_duration_seconds: sub-millisecond sends up to polls held for the longest timeout. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 60,
];

/** One label set's count, and how much of it the registry's counter has been told. */
export interface Tally {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
  counted: number;
}

/** Tallies by key, in the order first seen: the order prom-client lists label sets in. */
export class Tallies<T extends Tally> {
  private readonly byKey = new Map<string, T>();

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  add(key: string, t: T): T {
    this.byKey.set(key, t);
    return t;
  }

  values(): IterableIterator<T> {
    return this.byKey.values();
  }

  /** Tells a counter what it has not been told yet (from its collect(), at a scrape). */
  handOver(counter: Counter): void {
    for (const t of this.byKey.values()) {
      if (t.count === t.counted) continue;
      counter.inc(t.labels, t.count - t.counted);
      t.counted = t.count;
    }
  }
}

/** One (method, route, status): its requests (count) and their durations. */
export class RequestTally implements Tally {
  count = 0;
  counted = 0;
  sum = 0;
  /** Requests per bucket, each in the first whose bound it is within (not cumulative); past the last, in none. */
  readonly buckets: number[] = DURATION_BUCKETS.map(() => 0);

  constructor(readonly labels: Readonly<{ method: string; route: string; status: string }>) {}

  /** One request answered after `seconds`. */
  add(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= (DURATION_BUCKETS[i] ?? Infinity)) {
        this.buckets[i] = (this.buckets[i] ?? 0) + 1;
        return;
      }
    }
  }
}

/** A line of the text format, as prom-client's registry takes it. */
interface Value {
  labels: Record<string, string | number>;
  sharedLabels: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
}

/**
 * A histogram of request durations read from the tallies: what prom-client's Histogram hands its
 * registry for the text format (cumulative buckets with `le`, then +Inf, _sum and _count per
 * label set), made at a scrape.
 */
export class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly tallies: Tallies<RequestTally>,
  ) {}

  /** What the registry reads for the text format. */
  getForPromString(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }> {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const t of this.tallies.values()) {
      let below = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        below += t.buckets[i] ?? 0;
        values.push({ labels: { le }, sharedLabels: t.labels, value: below, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: t.labels, value: t.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: t.labels, value: t.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: t.labels, value: t.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /**
   * As registerMetric() is typed: for prom-client's own four classes. Its registry makes the
   * text format (metrics()) from name, help, type and getForPromString() alone; the rest of its
   * interface (getMetricsAsJSON, resetMetrics) is not used here.
   */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
