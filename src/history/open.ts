import type { Tracing } from '../tracing/tracing.js';
import type { HistoryConfig } from './config.js';
import { databaseFrom, History, type HistoryLogger } from './history.js';

/**
 * The history the configuration asks for, opening in the background (see `History`), or
 * undefined with HISTORY=off. The shell (server, demo) opens it once and closes it after
 * the HTTP server has drained. With traces on, the embedded database gets a span per read
 * and write (node-postgres has an instrumentation of its own).
 */
export function openHistory(config: HistoryConfig, logger: HistoryLogger, tracing?: Pick<Tracing, 'traceDatabase'>): History | undefined {
  if (!config.enabled) return undefined;
  const open = databaseFrom({
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl.reveal() } : { dir: config.dir }),
    postgres: {
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      onIdleError: (error) => logger.warn({ err: error }, 'history database connection lost; it reconnects on the next statement'),
    },
    pglite: { statementTimeoutMs: config.statementTimeoutMs },
  });
  const traced = tracing && !config.databaseUrl ? async () => tracing.traceDatabase(await open()) : open;
  return new History({ open: traced, logger });
}
