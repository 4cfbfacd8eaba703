import { buildApp, createLogger } from './app.js';
import { configOrExit, exitOnSignals } from './lifecycle.js';
import type { Lifecycle } from './routes/health.js';

/** The only impure shell: reads env, listens, handles signals. */
async function main(): Promise<void> {
  const config = configOrExit(process.env);
  const logger = createLogger(config.logLevel);
  const lifecycle: Lifecycle = { draining: false };
  const app = await buildApp({ config, logger, lifecycle });
  if (!config.nansen.apiKey) logger.warn('NANSEN_API_KEY is not set: the Nansen source is disabled');
  if (!config.coinmetrics.apiKey) logger.warn('COINMETRICS_API_KEY is not set: using the Coin Metrics Community API');
  if (!config.callers) logger.warn('CALLER_TOKENS_FILE is not set: data routes are open to anyone who can reach them');

  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger);
  await app.listen({ host: config.host, port: config.port });
}

void main();
