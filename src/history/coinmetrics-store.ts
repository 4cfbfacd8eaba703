import type { AssetDays } from '../providers/coinmetrics/normalize.js';
import { DAY_MS, isoDay, latestCompleteDay } from '../time.js';
import type { SqlRunner } from './sql.js';
import type { CoinMetricsCell, HeldAssetDays } from './types.js';

/**
 * The cells of one decoded upstream answer: for each asset and day asked, one cell per
 * asked exchange (a supported exchange without a value is a null cell; an unsupported one
 * is marked so, so the store knows the day is held for it too).
 */
export function cellsOf(data: Iterable<AssetDays>, exchanges: readonly string[], startDay: number, endDay: number, fetchedAt: number): CoinMetricsCell[] {
  const cells: CoinMetricsCell[] = [];
  for (const { asset, supported, days } of data) {
    for (let day = startDay; day <= endDay; day += DAY_MS) {
      for (const exchange of exchanges) {
        const isSupported = supported.includes(exchange);
        const cell = isSupported ? days[day]?.[exchange] : undefined;
        cells.push({ asset, exchange, day, supported: isSupported, native: cell?.native ?? null, usd: cell?.usd ?? null, fetchedAt });
      }
    }
  }
  return cells;
}

/**
 * A recorded day is settled when it was fetched after a later day had completed: Coin
 * Metrics may still publish or revise the latest complete day, so a value fetched while
 * its day was the latest is refetched on that day's own freshness.
 */
export function isSettled(day: number, fetchedAt: number): boolean {
  return latestCompleteDay(fetchedAt) > day;
}

/** Writes cells; a cell already held is replaced only by one fetched later. Returns the cells written. */
export async function writeCells(tx: SqlRunner, cells: readonly CoinMetricsCell[]): Promise<number> {
  // One statement may not touch a row twice: keep the latest of each (asset, exchange, day).
  const latest = new Map<string, CoinMetricsCell>();
  for (const cell of cells) {
    const key = `${cell.asset}\u0000${cell.exchange}\u0000${cell.day}`;
    const held = latest.get(key);
    if (!held || held.fetchedAt <= cell.fetchedAt) latest.set(key, cell);
  }
  const rows = [...latest.values()];
  if (rows.length === 0) return 0;
  const written = await tx.query<{ n: number }>(
    `WITH written AS (
       INSERT INTO coinmetrics_days (day, native, usd, fetched_at, supported, asset, exchange)
       SELECT * FROM unnest($1::date[], $2::float8[], $3::float8[], $4::timestamptz[], $5::boolean[], $6::text[], $7::text[])
       ON CONFLICT (asset, exchange, day) DO UPDATE
         SET native = EXCLUDED.native, usd = EXCLUDED.usd, fetched_at = EXCLUDED.fetched_at, supported = EXCLUDED.supported
         WHERE coinmetrics_days.fetched_at <= EXCLUDED.fetched_at
       RETURNING 1
     )
     SELECT count(*)::int AS n FROM written`,
    [
      rows.map((c) => isoDay(c.day)),
      rows.map((c) => c.native),
      rows.map((c) => c.usd),
      rows.map((c) => new Date(c.fetchedAt).toISOString()),
      rows.map((c) => c.supported),
      rows.map((c) => c.asset),
      rows.map((c) => c.exchange),
    ],
  );
  return written[0]!.n;
}

interface CellOut {
  asset: string;
  exchange: string;
  day: number;
  supported: boolean;
  native: number | null;
  usd: number | null;
  fetched_at: number;
}

/**
 * The recorded days of `assets` on `exchanges` from `startDay` to `endDay` (00:00 UTC ms,
 * both included). A day is held for an asset when every asked exchange was recorded for it;
 * the caller fetches the others. Assets with nothing recorded are absent.
 */
export async function readDays(db: SqlRunner, assets: readonly string[], exchanges: readonly string[], startDay: number, endDay: number): Promise<Map<string, HeldAssetDays>> {
  const cells = await db.query<CellOut>(
    `SELECT asset, exchange, (day - date '1970-01-01')::float8 * ${DAY_MS} AS day, supported, native, usd,
       (extract(epoch FROM fetched_at) * 1000)::float8 AS fetched_at
     FROM coinmetrics_days
     WHERE asset = ANY($1::text[]) AND exchange = ANY($2::text[]) AND day BETWEEN $3::date AND $4::date`,
    [assets, exchanges, isoDay(startDay), isoDay(endDay)],
  );
  const byAsset = new Map<string, HeldAssetDays & { recorded: Map<number, { exchanges: number; fetchedAt: number }> }>();
  for (const cell of cells) {
    let entry = byAsset.get(cell.asset);
    if (!entry) byAsset.set(cell.asset, (entry = { asset: cell.asset, supported: [], days: {}, held: {}, recorded: new Map() }));
    if (cell.supported) {
      if (!entry.supported.includes(cell.exchange)) entry.supported.push(cell.exchange);
      (entry.days[cell.day] ??= {})[cell.exchange] = { native: cell.native, usd: cell.usd };
    }
    const seen = entry.recorded.get(cell.day);
    entry.recorded.set(cell.day, { exchanges: (seen?.exchanges ?? 0) + 1, fetchedAt: Math.min(seen?.fetchedAt ?? Infinity, cell.fetched_at) });
  }
  const asked = new Set(exchanges).size;
  const answer = new Map<string, HeldAssetDays>();
  for (const [asset, { recorded, ...entry }] of byAsset) {
    for (const [day, { exchanges: count, fetchedAt }] of recorded) if (count === asked) entry.held[day] = fetchedAt;
    entry.supported.sort((a, b) => exchanges.indexOf(a) - exchanges.indexOf(b));
    answer.set(asset, entry);
  }
  return answer;
}
