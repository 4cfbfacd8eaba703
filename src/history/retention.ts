import { HistoryUnavailable } from './errors.js';
import type { History, HistoryLogger } from './history.js';
import { HOUR_MS, type Clock, type Timer } from '../time.js';

export interface RetentionOptions {
  history: History;
  /** Rows recorded longer ago than this are deleted (HISTORY_RETENTION_DAYS, ms). */
  retentionMs: number;
  clock: Clock;
  timer: Timer;
  logger: HistoryLogger;
  /** How often the job runs (ms; default an hour). */
  everyMs?: number;
}

/**
 * Deletes what is past retention once the store is open, then every `everyMs`, on the
 * injected (unref'd) timer. Every replica runs it; deleting what another already deleted
 * costs a statement. Returns the function that stops it.
 */
export function startRetention({ history, retentionMs, clock, timer, logger, everyMs = HOUR_MS }: RetentionOptions): () => void {
  let cancel: (() => void) | undefined;
  let stopped = false;
  const runOnce = async () => {
    try {
      const cutoff = clock() - retentionMs;
      const deleted = await history.retain(cutoff);
      if (Object.values(deleted).some((n) => n > 0)) logger.info({ deleted, before: new Date(cutoff).toISOString() }, 'history retention deleted old rows');
    } catch (error) {
      logger.warn({ reason: error instanceof HistoryUnavailable ? error.message : String(error) }, 'history retention did not run; it tries again at the next turn');
    }
  };
  const schedule = () => {
    if (stopped) return;
    cancel = timer(() => void runOnce().finally(schedule), everyMs);
  };
  history.ready.then(
    () => {
      if (!stopped) void runOnce().finally(schedule);
    },
    () => undefined,
  );
  return () => {
    stopped = true;
    cancel?.();
  };
}
