import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../metrics.js';
import type { History, HistoryStats } from './history.js';
import type { RecorderRun } from './recorder-store.js';

/** The store's size is read at most this often (a scrape otherwise asks the database each time). */
const STATS_REUSE_MS = 30_000;
const STATES = ['off', 'opening', 'ready', 'failed', 'closed'] as const;

/**
 * The history's metrics: its state, rows written, stored and dropped, the queue, write
 * latency, the store's rows and bytes per source, and the recorder's runs and credits.
 * Labels are bounded: states, outcomes, source ids and the configured recorder sets.
 * Returns what the recorder tells of each run.
 */
export function registerHistoryMetrics(metrics: Metrics, history: History | undefined): (run: RecorderRun) => void {
  const registers = [metrics.registry];
  metrics.gauge('netflows_history_state', 'History store: 1 for its state (off, opening, ready, failed, closed)', ['state'], (set) => {
    const state = history?.state ?? 'off';
    for (const s of STATES) set({ state: s }, s === state ? 1 : 0);
  });
  const runs = new Counter({ name: 'netflows_history_recorder_runs_total', help: 'Recorder sets run by this replica, by source, set and outcome (recorded, skipped, failed)', labelNames: ['source', 'set', 'outcome'], registers });
  const credits = new Counter({ name: 'netflows_history_recorder_credits_total', help: 'Credits the recorder of this replica spent, by source', labelNames: ['source'], registers });
  const onRun = (run: RecorderRun) => {
    runs.inc({ source: run.source, set: run.set, outcome: run.outcome });
    if (run.credits > 0) credits.inc({ source: run.source }, run.credits);
  };
  if (!history) return onRun;

  new Counter({
    name: 'netflows_history_rows_total',
    help: 'Rows handed to the history store: written (in committed batches), stored (new, not held before), dropped (queue full, store refused, or left at shutdown)',
    labelNames: ['outcome'],
    registers,
    collect() {
      const writes = history.writeCounters;
      this.reset();
      this.inc({ outcome: 'written' }, writes.writtenRows);
      this.inc({ outcome: 'stored' }, writes.storedRows);
      this.inc({ outcome: 'dropped' }, writes.droppedRows);
    },
  });
  metrics.gauge('netflows_history_queue_rows', 'Rows waiting to be written to the history store', [], (set) => set({}, history.writeCounters.queuedRows));
  const latency = new Histogram({ name: 'netflows_history_write_duration_seconds', help: 'Time to write one batch to the history store', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
  history.onWrite((_rows, _stored, ms) => latency.observe(ms / 1000));
  const stats = reusedStats(history);
  metrics.gauge('netflows_history_store_bytes', 'Bytes the history store holds per source, indexes included', ['source'], async (set) => {
    for (const [source, s] of Object.entries((await stats()).sources ?? {})) set({ source }, s.bytes);
  });
  metrics.gauge('netflows_history_store_rows', 'Rows the history store holds per source (an estimate past 100 000)', ['source'], async (set) => {
    for (const [source, s] of Object.entries((await stats()).sources ?? {})) set({ source }, s.rows);
  });
  return onRun;
}

/** `history.stats()`, read again only when the last reading is older than STATS_REUSE_MS. */
function reusedStats(history: History): () => Promise<HistoryStats> {
  let taken: { at: number; stats: Promise<HistoryStats> } | undefined;
  return () => {
    if (!taken || performance.now() - taken.at > STATS_REUSE_MS) taken = { at: performance.now(), stats: history.stats() };
    return taken.stats;
  };
}
