import type { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../metrics.js';

interface Children {
  requests: Counter.Internal;
  duration: Histogram.Internal<'route' | 'method'>;
}

/**
 * The request counter, histogram and kept-answer counters of one route, with a label child kept per method,
 * status and caller: prom-client hashes a label object on every call, a child not at all.
 */
export class MetricChildren {
  private readonly children = new Map<string, Children>();
  private readonly keptHit: Counter.Internal;

  constructor(
    private readonly metrics: Metrics,
    private readonly route: string,
  ) {
    this.keptHit = metrics.responseCache.labels({ outcome: 'hit' });
  }

  /** A kept answer served again, by the lane. */
  hit(): void {
    this.keptHit.inc();
    this.metrics.earlyLane.inc();
  }

  count(method: string, status: number, caller: string, seconds: number): void {
    const key = `${method} ${status} ${caller}`;
    let children = this.children.get(key);
    if (!children) {
      children = {
        requests: this.metrics.httpRequests.labels({ route: this.route, method, status: String(status), caller }),
        duration: this.metrics.httpDuration.labels({ route: this.route, method }),
      };
      this.children.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(seconds);
  }
}
