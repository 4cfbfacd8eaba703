import { buildApp, createLogger } from './app.js';
import { startupWarnings } from './config.js';
import { configOrExit, exitOnSignals } from './lifecycle.js';
import type { Lifecycle } from './routes/health.js';

/** The only impure shell: reads env, listens, handles signals. */
async function main(): Promise<void> {
  const config = configOrExit(process.env);
  const logger = createLogger(config.logLevel);
  const lifecycle: Lifecycle = { draining: false };
  const app = await buildApp({ config, logger, lifecycle });
  for (const warning of startupWarnings(config)) logger.warn(warning);

  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger);
  await app.listen({ host: config.host, port: config.port });
}

void main();
