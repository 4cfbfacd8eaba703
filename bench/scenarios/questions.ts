// The questions of the warm scenarios: every one different (no kept answer can serve it),
// every one answerable from upstream data the gateway already holds — one 1000-row Nansen
// page and three years of Coin Metrics days for btc and eth on every exchange.
import { writeFileSync } from 'node:fs';
import { BenchError } from '../lib/children.js';

const DAY_MS = 86_400_000;
/** Coin Metrics days the warm-up fetches: three year-long questions ending on the latest complete day. */
export const CM_SPAN_YEARS = 3;
export const CM_YEAR_DAYS = 366;

/** What the gateway holds after the warm-up, as the question generators need it. */
export interface WarmData {
  /** Symbols that occur once in the cached 1000-row Nansen page (asset= picks exactly that row). */
  nansenSymbols: string[];
  /** First and last day (ms, 00:00 UTC) of the cached Coin Metrics span. */
  cmFirstDay: number;
  cmLastDay: number;
}

/** The Coin Metrics questions that fill the span: one per year, newest first. */
export function cmWarmUpPaths(latestDay: number): string[] {
  return Array.from({ length: CM_SPAN_YEARS }, (_, k) => {
    const end = latestDay - k * CM_YEAR_DAYS * DAY_MS;
    return `/netflows?source=coinmetrics&interval=1d&asset=btc,eth&start=${isoDay(end - (CM_YEAR_DAYS - 1) * DAY_MS)}&end=${isoDay(end)}&limit=1`;
  });
}

export const NANSEN_WARM_UP_PATH = '/netflows?source=nansen&window=7d&limit=1000';

export function latestCompleteDay(now: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS - DAY_MS;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** mulberry32: a small seeded generator, so every run asks the same questions. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const int = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** `sort` values that reorder rows locally, with no field twice. */
function sortOf(random: Random, fields: readonly string[], maxKeys: number): string {
  const pool = [...fields];
  const keys: string[] = [];
  for (let n = int(random, 1, maxKeys); n > 0 && pool.length > 0; n--) {
    const field = pool.splice(Math.floor(random() * pool.length), 1)[0]!;
    keys.push(random() < 0.5 ? `-${field}` : field);
  }
  return keys.join(',');
}

/** Fields a Coin Metrics row has values for. */
const CM_SORT_FIELDS = ['period_start', 'entity', 'asset', 'net_flow_usd', 'net_flow_native'];
/** Sort keys Nansen's order_by does not take (nansen/index.ts drops them): the upstream page stays the cached one. */
const NANSEN_LOCAL_SORT_FIELDS = ['entity', 'period_start', 'net_flow_native'];

/** A series window of `days` days inside the cached span. */
function seriesWindow(random: Random, data: WarmData, days: number): string {
  const positions = (data.cmLastDay - data.cmFirstDay) / DAY_MS - days + 2;
  const start = data.cmFirstDay + int(random, 0, positions - 1) * DAY_MS;
  return `start=${isoDay(start)}&end=${isoDay(start + (days - 1) * DAY_MS)}`;
}

/**
 * The warm mix, a dashboard's day over held data (weights in brackets; rows per answer):
 * [35 %] Nansen tokens picked by asset= (1–50 of them; that many rows); [10 %] Nansen's
 * top 101–300 with a sort that keeps Nansen's order; [40 %] Coin Metrics daily series of
 * btc, eth or both, 7–60 days inside the span, some with chain=, sorted any way (100 rows);
 * [15 %] Coin Metrics snapshots (24h, 7d, 30d) of btc, eth or both, any sort, 10–100 rows.
 */
export function warmQuestion(random: Random, data: WarmData): string {
  const kind = random();
  if (kind < 0.35) {
    const pool = [...data.nansenSymbols];
    const symbols = Array.from({ length: int(random, 1, 50) }, () => pool.splice(Math.floor(random() * pool.length), 1)[0]!);
    return `/netflows?source=nansen&window=7d&asset=${symbols.sort().join(',')}`;
  }
  if (kind < 0.45) {
    const tail = sortOf(random, NANSEN_LOCAL_SORT_FIELDS, 3);
    return `/netflows?source=nansen&window=7d&limit=${int(random, 101, 300)}&sort=-net_flow_usd,${tail}`;
  }
  const asset = pick(random, ['btc', 'eth', 'btc,eth']);
  if (kind < 0.85) {
    const chain = random() < 0.2 ? `&chain=${asset === 'eth' ? 'ethereum' : 'bitcoin'}` : '';
    return `/netflows?source=coinmetrics&interval=1d&asset=${asset}&${seriesWindow(random, data, int(random, 7, 60))}${chain}&sort=${sortOf(random, CM_SORT_FIELDS, 3)}`;
  }
  const window = pick(random, ['24h', '7d', '30d']);
  return `/netflows?source=coinmetrics&window=${window}&asset=${asset}&limit=${int(random, 10, 100)}&sort=${sortOf(random, CM_SORT_FIELDS, 3)}`;
}

/** A growth point: btc's daily series over every exchange, `days` days, `limit` rows, any sort. */
export function growthQuestion(days: number, limit: number) {
  return (random: Random, data: WarmData) =>
    `/netflows?source=coinmetrics&interval=1d&asset=btc&${seriesWindow(random, data, days)}&limit=${limit}&sort=${sortOf(random, CM_SORT_FIELDS, 3)}`;
}

/**
 * `count` distinct questions from `generate`, written one per line to `file` (for wrk's
 * script) and kept as a list (for autocannon and for sampling).
 */
export function distinctQuestions(file: string, count: number, seed: number, data: WarmData, generate: (random: Random, data: WarmData) => string) {
  const random = seeded(seed);
  const seen = new Set<string>();
  let misses = 0;
  while (seen.size < count) {
    const question = generate(random, data);
    if (seen.has(question)) {
      if (++misses > count) throw new BenchError(`could not make ${count} distinct questions (${seen.size} made): the generator repeats itself`);
      continue;
    }
    seen.add(question);
  }
  const list = [...seen];
  writeFileSync(file, `${list.join('\n')}\n`);
  return { file, list };
}
