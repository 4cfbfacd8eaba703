// What history costs: bytes per day of recording, and how long the embedded database
// takes to open (and how long it holds the event loop while it does).
// `npx tsx scripts/history-measure.ts` measures PGlite; with DATABASE_URL set (an empty
// database) it measures that PostgreSQL server instead for the bytes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import { cellsOf, databaseFrom, History } from '../src/history/history.js';
import { PgliteDatabase } from '../src/history/pglite.js';
import type { NansenSnapshot } from '../src/history/types.js';
import type { AssetDays } from '../src/providers/coinmetrics/normalize.js';
import type { TokenFlows } from '../src/providers/nansen/normalize.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D0 = Date.UTC(2026, 10, 1);
const SETS = ['smart_money', 'smart_money:fund'];
const CHAINS = ['ethereum', 'solana', 'base', 'arbitrum', 'bnb', 'polygon', 'optimism', 'avalanche'];
const SECTORS = [[], ['DeFi'], ['Meme'], ['Decentralised Exchanges', 'DeFi'], ['AI'], ['Gaming', 'NFT']];
const EXCHANGES = ['binance', 'coinbase', 'kraken', 'okx', 'bybit', 'bitfinex', 'bitstamp', 'gemini', 'huobi', 'kucoin', 'gate_io', 'mexc'];

function tokens(hour: number): TokenFlows[] {
  return Array.from({ length: 1000 }, (_, i) => {
    const flow = Math.sin(i * 7 + hour) * 1e6;
    return {
      symbol: `tok${i}`,
      chain: CHAINS[i % CHAINS.length]!,
      tokenAddress: i % CHAINS.length === 1 ? `So1${String(i).padStart(41, 'x')}` : `0x${(i * 2654435761).toString(16).padStart(40, '0')}`,
      flowsUsd: { '1h': flow / 24, '24h': flow, '7d': flow * 7, '30d': flow * 30 },
      marketCapUsd: 1e6 * (i + 1),
      traderCount: 1 + (i % 90),
      tokenAgeDays: 30 + i,
      sectors: SECTORS[i % SECTORS.length]!,
    };
  });
}

function coinMetricsDay(day: number): AssetDays[] {
  return ['btc', 'eth', 'usdt_eth', 'usdc_eth', 'sol', 'xrp', 'ltc', 'bch', 'link', 'uni'].map((asset) => ({
    asset,
    supported: EXCHANGES,
    days: { [day]: Object.fromEntries(EXCHANGES.map((e, i) => [e, { native: i * 1.5, usd: i * 1e5 }])) },
  }));
}

async function recordDay(history: History, day: number): Promise<void> {
  for (let h = 0; h < 24; h++) {
    for (const entity of SETS) {
      const snapshot: NansenSnapshot = {
        entity, chains: ['all'], filters: {}, orderBy: [{ field: 'net_flow_24h_usd', direction: 'DESC' }],
        page: 1, perPage: 1000, isLastPage: false, fetchedAt: day + h * HOUR + 2000, tokens: tokens(h),
      };
      history.recordNansen(snapshot);
    }
  }
  history.recordCoinMetrics(cellsOf(coinMetricsDay(day - DAY), EXCHANGES, day - DAY, day - DAY, day + HOUR));
  await history.flush();
}

async function bytes(history: History): Promise<number> {
  const stats = await history.stats();
  return stats.sources!.nansen.bytes + stats.sources!.coinmetrics.bytes;
}

async function measureBytes(databaseUrl: string | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'netflows-measure-'));
  const history = new History({ open: databaseFrom({ databaseUrl, dir: join(dir, 'data') }) });
  try {
    await history.ready;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const began = performance.now();
    await recordDay(history, D0);
    const firstMs = performance.now() - began;
    delay.disable();
    const firstDay = await bytes(history);
    for (let d = 1; d <= 3; d++) await recordDay(history, D0 + d * DAY);
    const perDay = ((await bytes(history)) - firstDay) / 3;
    const where = databaseUrl ? 'postgresql' : 'pglite';
    console.log(`${where}: first day ${(firstDay / 1e6).toFixed(1)} MB (tokens included), each further day ${(perDay / 1e6).toFixed(1)} MB`);
    console.log(
      `${where}: ${((SETS.length * 24 * 1000) / (firstMs / 1000)).toFixed(0)} snapshot rows/s written on the first day (batched); event loop held up to ${(delay.max / 1e6).toFixed(0)} ms at a time meanwhile`,
    );
  } finally {
    await history.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wall time of an open and the longest the event loop waited meanwhile. */
async function timed(label: string, open: () => Promise<PGlite | PgliteDatabase>): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const began = performance.now();
  const db = await open();
  const ms = performance.now() - began;
  delay.disable();
  console.log(`pglite ${label}: ${(ms / 1000).toFixed(1)} s, event loop held up to ${(delay.max / 1e6).toFixed(0)} ms at a time`);
  await db.close();
}

async function measureOpen(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'netflows-measure-open-'));
  try {
    await timed('new data directory', () => PGlite.create(join(dir, 'data')));
    await timed('reopen', () => PGlite.create(join(dir, 'data')));
    await timed('in memory', () => PGlite.create());
    await timed('in its worker thread (our adapter), new data directory', () => PgliteDatabase.open(join(dir, 'worker')));
    await timed('in its worker thread (our adapter), reopen', () => PgliteDatabase.open(join(dir, 'worker')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await measureOpen();
await measureBytes(process.env.DATABASE_URL);
