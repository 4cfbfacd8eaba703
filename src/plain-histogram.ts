import type { Registry } from 'prom-client';

/** One label set's observations: a count per bucket (not cumulative), their sum and number. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    this.sum += value;
    this.count += 1;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]! += 1;
        return;
      }
    }
  }
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/**
 * A Prometheus histogram kept in plain numbers, registered like prom-client's own: its get()
 * answers what prom-client's Histogram answers for the same observations, so /metrics prints
 * the same lines. prom-client hashes and validates the label object on every observation,
 * even through a labelled child (about 3 µs of a 65 µs cache hit); a series here is found
 * once and then only counted.
 */
export class PlainHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of these labels, kept by a caller that observes it often. */
  child(labels: Readonly<Record<L, string>>): HistogramSeries {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      series = new HistogramSeries(Object.fromEntries(this.labelNames.map((name) => [name, labels[name]])), this.buckets);
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Readonly<Record<L, string>>, value: number): void {
    this.child(labels).observe(value);
  }

  reset(): void {
    this.series.clear();
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ labels: { le: bound, ...series.labels }, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: `${this.name}_bucket`, exemplar: null },
        { labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` },
        { labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
