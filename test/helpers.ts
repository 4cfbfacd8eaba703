import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { buildApp, createLogger, createUpstreamCache } from '../src/app.js';
import { MemoryBudgetStore } from '../src/budget/memory-store.js';
import { RenderedCache } from '../src/cache/rendered.js';
import type { UpstreamCache } from '../src/cache/upstream-cache.js';
import { loadConfig } from '../src/config.js';
import { startCoinMetricsSim, type CoinMetricsSim, type CoinMetricsSimOptions } from '../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim, type NansenSimOptions } from '../src/demo/sim/nansen.js';
import type { History } from '../src/history/history.js';
import type { Timer } from '../src/time.js';

/** 2026-11-21T10:00:00Z: the latest complete day is 2026-11-20. */
export const NOW = Date.parse('2026-11-21T10:00:00Z');

export const CM_KEY = 'cm-test-key-5e1f0c';
export const NANSEN_KEY = 'nsk_test_key_9a7b3d';

export interface Stack {
  app: FastifyInstance;
  cache: UpstreamCache;
  rendered: RenderedCache;
  budgetStore: MemoryBudgetStore;
  /** Forget every cached upstream answer, every kept response and every budget count. */
  clearCaches(): void;
  /** Back to NOW, simulators reset, caches and budgets cleared: each test starts cold. */
  reset(): void;
  cm: CoinMetricsSim;
  nansen: NansenSim;
  logs: string[];
  clock: { now: number };
  close(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  cm?: CoinMetricsSimOptions;
  nansen?: Partial<NansenSimOptions>;
  /** Leave Nansen unconfigured in the gateway (the simulator still runs). */
  nansenDisabled?: boolean;
  /** Community mode: no Coin Metrics key anywhere. */
  community?: boolean;
  /** A history store (the test's own, which it closes); none: the gateway runs with HISTORY=off. */
  history?: History;
  /** Schedules the recorder and the retention job (default: unref'd timers). */
  timer?: Timer;
  replica?: string;
}

/** Both simulators and a gateway wired to them, all on one movable clock; logs captured as lines. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const clock = { now: NOW };
  const now = () => clock.now;
  const cm = await startCoinMetricsSim({ now, ...(options.community ? {} : { apiKey: CM_KEY }), ...options.cm });
  const nansen = await startNansenSim({ now, apiKey: NANSEN_KEY, ...options.nansen });
  const config = loadConfig({
    COINMETRICS_BASE_URL: cm.url,
    NANSEN_BASE_URL: nansen.url,
    ...(options.community ? {} : { COINMETRICS_API_KEY: CM_KEY }),
    ...(options.nansenDisabled ? {} : { NANSEN_API_KEY: NANSEN_KEY }),
    UPSTREAM_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'debug',
    ...(options.history ? {} : { HISTORY: 'off' }),
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const cache = createUpstreamCache(config, now);
  const rendered = new RenderedCache(16 * 1024 * 1024, now);
  const budgetStore = new MemoryBudgetStore();
  const app = await buildApp({
    config,
    clock: now,
    logger: createLogger('debug', sink),
    cache,
    rendered,
    budgetStore,
    ...(options.history ? { history: options.history } : {}),
    ...(options.timer ? { timer: options.timer } : {}),
    ...(options.replica ? { replica: options.replica } : {}),
  });
  const stack: Stack = {
    app,
    cache,
    rendered,
    budgetStore,
    clearCaches() {
      cache.clear();
      rendered.clear();
      budgetStore.clear();
    },
    reset() {
      clock.now = NOW;
      cm.reset();
      nansen.reset();
      stack.clearCaches();
    },
    cm,
    nansen,
    logs,
    clock,
    async close() {
      await app.close();
      await Promise.all([cm.close(), nansen.close()]);
    },
  };
  return stack;
}
