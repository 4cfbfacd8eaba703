import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startupWarnings } from '../config.js';
import { configOrExit, exitOnSignals } from '../lifecycle.js';
import type { Lifecycle } from '../routes/health.js';
import { startCoinMetricsSim } from './sim/coinmetrics.js';
import { startTracing } from '../tracing/start.js';
import { startNansenSim } from './sim/nansen.js';

/**
 * `npm run demo`: simulated Coin Metrics and Nansen on loopback, with keys made up for
 * this run, and the gateway wired to them, on 127.0.0.1 unless HOST says otherwise.
 * Needs no network and no real keys.
 */
async function main(): Promise<void> {
  const coinmetricsKey = `demo-cm-${randomBytes(12).toString('hex')}`;
  const nansenKey = `nsk_demo_${randomBytes(12).toString('hex')}`;
  const coinmetrics = await startCoinMetricsSim({ apiKey: coinmetricsKey });
  const nansen = await startNansenSim({ apiKey: nansenKey });

  const config = configOrExit({
    ...process.env,
    // The demo's data routes are open: it listens on loopback unless HOST says otherwise.
    HOST: process.env.HOST || '127.0.0.1',
    COINMETRICS_API_KEY: coinmetricsKey,
    COINMETRICS_API_KEY_FILE: undefined,
    COINMETRICS_BASE_URL: coinmetrics.url,
    NANSEN_API_KEY: nansenKey,
    NANSEN_API_KEY_FILE: undefined,
    NANSEN_BASE_URL: nansen.url,
  });
  // As server.ts does: tracing (with OTEL_EXPORTER_OTLP_ENDPOINT) starts before the app's modules load.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  const { buildApp, createLogger } = await import('../app.js');
  const logger = createLogger(config.logLevel, undefined, tracing?.logFields);
  const lifecycle: Lifecycle = { draining: false };
  const app = await buildApp({ config, logger, lifecycle, ...(tracing ? { tracing } : {}) });
  for (const warning of startupWarnings(config)) logger.warn(warning);
  await app.listen({ host: config.host, port: config.port });

  const base = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${(app.server.address() as AddressInfo).port}`;
  process.stdout.write(
    [
      '',
      `netflows-gateway demo on ${base} (simulated Coin Metrics at ${coinmetrics.url}, Nansen at ${nansen.url})`,
      'Try:',
      `  curl '${base}/netflows?window=7d&limit=5'`,
      `  curl '${base}/netflows?interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-31'`,
      `  curl '${base}/netflows?window=24h&entity=smart_money:fund,binance&format=csv'`,
      `Explorer: ${base}/ (unless EXPLORER=off); API browser: ${base}/docs (document: ${base}/openapi.json); metrics: ${base}/metrics`,
      '',
    ].join('\n'),
  );

  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger, async () => {
    await Promise.all([coinmetrics.close(), nansen.close(), tracing?.shutdown()]);
  });
}

void main();
