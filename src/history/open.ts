import type { HistoryConfig } from './config.js';
import { databaseFrom, History, type HistoryLogger } from './history.js';

/**
 * The history the configuration asks for, opening in the background (see `History`), or
 * undefined with HISTORY=off. The shell (server, demo) opens it once and closes it after
 * the HTTP server has drained.
 */
export function openHistory(config: HistoryConfig, logger: HistoryLogger): History | undefined {
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
  return new History({ open, logger });
}
