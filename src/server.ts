import { startupWarnings } from './config.js';
import { configOrExit, exitOnSignals } from './lifecycle.js';
import type { Lifecycle } from './routes/health.js';
import { startTracing } from './tracing/start.js';

/** The only impure shell: reads env, listens, handles signals. */
async function main(): Promise<void> {
  const config = configOrExit(process.env);
  // Before the app's modules load, so the Redis and PostgreSQL clients are instrumented as they are imported.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  const { buildApp, createLogger } = await import('./app.js');
  const logger = createLogger(config.logLevel, undefined, tracing?.logFields);
  const lifecycle: Lifecycle = { draining: false };
  const app = await buildApp({ config, logger, lifecycle, ...(tracing ? { tracing } : {}) });
  for (const warning of startupWarnings(config)) logger.warn(warning);

  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger, async () => tracing?.shutdown());
  await app.listen({ host: config.host, port: config.port });
}

void main();
