import { startupWarnings } from './config.js';
import { configOrExit, exitOnSignals, watchHistory } from './lifecycle.js';
import type { Lifecycle } from './routes/health.js';
import { startTracing } from './tracing/start.js';

/** The only impure shell: reads env, listens, handles signals. */
async function main(): Promise<void> {
  const config = configOrExit(process.env);
  // Before the app's and the history's modules load, so the Redis and PostgreSQL clients are instrumented as they are imported.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  const [{ buildApp, createLogger }, { openHistory }] = await Promise.all([import('./app.js'), import('./history/open.js')]);
  const logger = createLogger(config.logLevel, undefined, tracing?.logFields);
  const lifecycle: Lifecycle = { draining: false };
  // Opens in the background: live answers are served meanwhile.
  const history = openHistory(config.history, logger, tracing);
  const app = await buildApp({ config, logger, lifecycle, ...(history ? { history } : {}), ...(tracing ? { tracing } : {}) });
  for (const warning of startupWarnings(config)) logger.warn(warning);

  watchHistory(history, app, logger);
  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger, async () => {
    await history?.close();
    await tracing?.shutdown();
  });
  await app.listen({ host: config.host, port: config.port });
}

void main();
