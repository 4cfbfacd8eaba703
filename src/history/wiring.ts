import { hostname } from 'node:os';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { Provider } from '../model.js';
import type { Clock, Timer } from '../time.js';
import type { History } from './history.js';
import { registerHistoryMetrics } from './metrics.js';
import { Recorder } from './recorder.js';
import { startRetention } from './retention.js';

export interface HistoryWiring {
  /** Undefined with HISTORY=off: then only the metrics that say so are registered. */
  history: History | undefined;
  /** The enabled sources: those with a `recording` get the recorder. */
  providers: readonly Provider[];
  metrics: Metrics;
  clock: Clock;
  timer: Timer;
  /** HISTORY_RETENTION_DAYS in ms. */
  retentionMs: number;
  logger: FastifyBaseLogger;
  /** This replica's name in the recorder's log; default host name and process id. */
  replica?: string;
}

/**
 * The history's metrics, and its jobs: the recorder (when a source records) and the
 * retention job, started when the app is ready and stopped when it closes (after the
 * HTTP server has drained; the shell closes the store itself after that).
 */
export function wireHistory(app: FastifyInstance, wiring: HistoryWiring): Recorder | undefined {
  const { history, clock, timer, logger } = wiring;
  const onRun = registerHistoryMetrics(wiring.metrics, history);
  if (!history) return undefined;
  const recordings = wiring.providers.flatMap((p) => (p.recording ? [{ source: p.id, recording: p.recording }] : []));
  const recorder =
    recordings.length > 0 ? new Recorder({ history, recordings, clock, timer, replica: wiring.replica ?? `${hostname()}:${process.pid}`, logger, onRun }) : undefined;
  let stopRetention: (() => void) | undefined;
  app.addHook('onReady', async () => {
    recorder?.start();
    stopRetention = startRetention({ history, retentionMs: wiring.retentionMs, clock, timer, logger });
  });
  app.addHook('onClose', async () => {
    stopRetention?.();
    await recorder?.stop();
  });
  return recorder;
}
