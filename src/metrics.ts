import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { droppedLogLines } from './log-destination.js';
import { PlainHistogram } from './plain-histogram.js';

/** Seconds: from a fast cache hit to a slow upstream page. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/** Node process metrics are collected once per process, whatever the number of apps. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * Every metric of one app. Label values are bounded: route templates, sources, outcomes,
 * window texts from the configuration and caller names from the tokens file; never a raw
 * URL, a token or a key.
 */
export class Metrics {
  readonly registry = new Registry();

  /** What a hot path (the early lane) counted in plain numbers, handed to the counters as they are read. */
  private readonly pending: (() => void)[] = [];
  private readonly handOver = (): void => {
    for (const flush of this.pending) flush();
  };

  readonly httpRequests = new Counter({
    name: 'netflows_http_requests_total',
    help: 'HTTP requests answered, by route template, method, status and caller',
    labelNames: ['route', 'method', 'status', 'caller'] as const,
    registers: [this.registry],
    collect: this.handOver,
  });

  readonly httpDuration = new PlainHistogram(
    'netflows_http_request_duration_seconds',
    'Time to answer an HTTP request, by route template and method',
    ['route', 'method'] as const,
    LATENCY_BUCKETS,
    this.registry,
  );

  readonly sourceAnswers = new Counter({
    name: 'netflows_cache_requests_total',
    help: 'Upstream data asked of the cache per source: hit, miss (fetched), stale (served stale), error (none to be had)',
    labelNames: ['source', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly responseCache = new Counter({
    name: 'netflows_response_cache_total',
    help: 'Finished /netflows answers served again (hit) or built (miss)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: this.handOver,
  });

  readonly earlyLane = new Counter({
    name: 'netflows_early_lane_total',
    help: 'Kept /netflows answers served before routing (included in netflows_response_cache_total{outcome="hit"})',
    registers: [this.registry],
    collect: this.handOver,
  });

  readonly cacheEvictions = new Counter({
    name: 'netflows_cache_evictions_total',
    help: 'Upstream cache entries evicted to stay within CACHE_MAX_MB, by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: 'netflows_upstream_requests_total',
    help: 'Upstream call attempts by source and outcome (2xx, 4xx, 429, 5xx, timeout, unreachable, too_large); refused and circuit_open count calls not made',
    labelNames: ['source', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'netflows_upstream_request_duration_seconds',
    help: 'Time of one upstream call attempt, by source',
    labelNames: ['source'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** `flush` hands what was counted in plain numbers to the counters; called before any of them is read. */
  beforeRead(flush: () => void): void {
    this.pending.push(flush);
  }

  readonly logLinesDropped = new Counter({
    name: 'netflows_log_lines_dropped_total',
    help: 'Log lines not written: stdout was not keeping up (behind) or had failed (failed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
    collect() {
      this.reset();
      for (const [reason, lines] of Object.entries(droppedLogLines())) this.inc({ reason }, lines);
    },
  });

  /** Gauges read when scraped; the readers are added by whoever owns the state. */
  gauge(name: string, help: string, labelNames: readonly string[], read: (set: (labels: Record<string, string>, value: number) => void) => Promise<void> | void): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        await read((labels, value) => this.set(labels, value));
      },
    });
  }

  async text(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
