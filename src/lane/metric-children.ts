import type { Metrics } from '../metrics.js';
import type { HistogramSeries } from '../plain-histogram.js';

interface Requests {
  labels: { route: string; method: string; status: string; caller: string };
  count: number;
}

/**
 * The request counter, histogram and kept-answer counters of one route, counted in plain
 * numbers and handed to prom-client when /metrics is read: prom-client hashes and checks a
 * label object on every increment, even a labelled child's.
 */
export class MetricChildren {
  private readonly requests = new Map<string, Requests>();
  private readonly durations = new Map<string, HistogramSeries>();
  private hits = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly route: string,
  ) {
    metrics.beforeRead(() => this.flush());
  }

  /** A kept answer served again, by the lane. */
  hit(): void {
    this.hits += 1;
  }

  count(method: string, status: number, caller: string, seconds: number): void {
    const key = `${method} ${status} ${caller}`;
    let requests = this.requests.get(key);
    if (!requests) {
      requests = { labels: { route: this.route, method, status: String(status), caller }, count: 0 };
      this.requests.set(key, requests);
    }
    requests.count += 1;
    let duration = this.durations.get(method);
    if (!duration) {
      duration = this.metrics.httpDuration.child({ route: this.route, method });
      this.durations.set(method, duration);
    }
    duration.observe(seconds);
  }

  private flush(): void {
    for (const requests of this.requests.values()) {
      if (requests.count === 0) continue;
      this.metrics.httpRequests.inc(requests.labels, requests.count);
      requests.count = 0;
    }
    if (this.hits === 0) return;
    this.metrics.responseCache.inc({ outcome: 'hit' }, this.hits);
    this.metrics.earlyLane.inc(this.hits);
    this.hits = 0;
  }
}
