import { buildApp, createLogger } from './app.js';
import { startupWarnings } from './config.js';
import { openHistory } from './history/open.js';
import { configOrExit, exitOnSignals, watchHistory } from './lifecycle.js';
import type { Lifecycle } from './routes/health.js';

/** The only impure shell: reads env, listens, handles signals. */
async function main(): Promise<void> {
  const config = configOrExit(process.env);
  const logger = createLogger(config.logLevel);
  const lifecycle: Lifecycle = { draining: false };
  // Opens in the background: live answers are served meanwhile.
  const history = openHistory(config.history, logger);
  const app = await buildApp({ config, logger, lifecycle, ...(history ? { history } : {}) });
  for (const warning of startupWarnings(config)) logger.warn(warning);

  watchHistory(history, app, logger);
  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger, async () => {
    await history?.close();
  });
  await app.listen({ host: config.host, port: config.port });
}

void main();
