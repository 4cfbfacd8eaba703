import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Lifecycle } from './routes/health.js';

/**
 * Stops taking work: /readyz turns 503 at once, the listener closes, in-flight requests
 * finish (up to `graceMs`), then upstream connections close. Past the grace, the
 * remaining connections are cut. Resolves with how it ended.
 */
export async function drain(app: FastifyInstance, lifecycle: Lifecycle, graceMs: number): Promise<'closed' | 'forced'> {
  lifecycle.draining = true;
  const grace = new AbortController();
  const ended = await Promise.race([
    app.close().then(() => 'closed' as const),
    sleep(graceMs, 'forced' as const, { signal: grace.signal }).catch(() => 'closed' as const),
  ]);
  grace.abort();
  if (ended === 'forced') app.server.closeAllConnections();
  return ended;
}

/** SIGTERM and SIGINT drain the app, then run `after` and exit: 0 when everything finished, 1 when cut. */
export function exitOnSignals(app: FastifyInstance, lifecycle: Lifecycle, graceMs: number, logger: Logger, after: () => Promise<void> = async () => {}): void {
  const onSignal = async (signal: NodeJS.Signals) => {
    if (lifecycle.draining) return;
    logger.info({ signal, graceMs }, 'draining');
    const ended = await drain(app, lifecycle, graceMs);
    await after();
    logger.info({ ended }, 'stopped');
    process.exit(ended === 'closed' ? 0 : 1);
  };
  process.once('SIGTERM', (s) => void onSignal(s));
  process.once('SIGINT', (s) => void onSignal(s));
}
