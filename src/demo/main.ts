import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startupWarnings } from '../config.js';
import type { History } from '../history/history.js';
import { configOrExit, exitOnSignals, watchHistory } from '../lifecycle.js';
import type { Logger } from 'pino';
import type { RecordSet } from '../providers/nansen/config.js';
import type { Lifecycle } from '../routes/health.js';
import { seedHistory } from './seed.js';
import { startCoinMetricsSim } from './sim/coinmetrics.js';
import { startTracing } from '../tracing/start.js';
import { startNansenSim } from './sim/nansen.js';

/** The demo keeps its history here (not the gateway's default ./data), unless DEMO_HISTORY_DIR says otherwise. */
const DEMO_HISTORY_DIR = '.demo-data';
/** What the demo records every hour (contract §7), unless NANSEN_RECORD says otherwise. */
const DEMO_RECORD = 'smart_money@all,smart_money:fund@all';

/**
 * `npm run demo`: simulated Coin Metrics and Nansen on loopback, with keys made up for
 * this run, and the gateway wired to them, on 127.0.0.1 unless HOST says otherwise, with
 * a history of its own seeded with 14 days of hourly Nansen snapshots from the simulator.
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
    // An embedded store of the demo's own, whatever the shell has for the gateway.
    HISTORY: 'on',
    DATABASE_URL: undefined,
    DATABASE_URL_FILE: undefined,
    HISTORY_DIR: process.env.DEMO_HISTORY_DIR || DEMO_HISTORY_DIR,
    NANSEN_RECORD: process.env.NANSEN_RECORD || DEMO_RECORD,
  });
  // As server.ts does: tracing (with OTEL_EXPORTER_OTLP_ENDPOINT) starts before the app's modules load.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  const { buildApp, createLogger } = await import('../app.js');
  const logger = createLogger(config.logLevel, undefined, tracing?.logFields);
  const lifecycle: Lifecycle = { draining: false };
  const { openHistory } = await import('../history/open.js');
  const history = openHistory(config.history, logger, tracing)!;
  const app = await buildApp({ config, logger, lifecycle, history, ...(tracing ? { tracing } : {}) });
  for (const warning of startupWarnings(config)) logger.warn(warning);
  watchHistory(history, app, logger);
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
      `History: ${history.location?.kind === 'embedded' ? history.location.dir : config.history.dir} (seeding 14 days of hourly Nansen snapshots; the hourly curl line follows)`,
      '',
    ].join('\n'),
  );
  void seedThenSay(history, config.sources.nansen.recordSets, base, logger);

  exitOnSignals(app, lifecycle, config.shutdownGraceMs, logger, async () => {
    await history.close();
    await Promise.all([coinmetrics.close(), nansen.close(), tracing?.shutdown()]);
  });
}

/** Seeds the history while the gateway serves, then prints the hourly curl line with a token that has rows in every hour. */
async function seedThenSay(history: History, sets: readonly RecordSet[], base: string, logger: Logger): Promise<void> {
  const began = performance.now();
  try {
    const seeded = await seedHistory(history, sets, Date.now());
    if (history.state !== 'ready') return;
    logger.info(
      { snapshots: seeded.snapshots, rows: seeded.rows, from: new Date(seeded.from).toISOString(), to: new Date(seeded.to).toISOString(), ms: Math.round(performance.now() - began) },
      "history seeded: 14 days of hourly Nansen snapshots, made by the simulator's own data function for each past hour (its data is a function of the hour); no upstream call, no credit spent",
    );
    process.stdout.write(`\nHistory is seeded. Nansen's hourly series for the last 48 hours:\n  curl '${base}/netflows?interval=1h&source=nansen&asset=${seeded.topSymbol ?? 'uni'}'\n\n`);
  } catch (error) {
    logger.error({ reason: (error as Error).message }, 'history could not be seeded');
  }
}

void main();
