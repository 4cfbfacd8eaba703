import type { NetflowRecord, NumberRange, SnapshotWindow } from '../model.js';
import type { NansenFilters } from '../providers/nansen/filters.js';
import { rfc3339 } from '../time.js';
import type { AsOfAnswer, AsOfQuestion, AsOfSnapshot, Coverage, NansenOrder, NansenQuestion, NansenSnapshot, SeriesAnswer, SeriesQuestion } from './types.js';
import type { SqlRunner } from './sql.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** §8's buckets: a bucket H is served by a snapshot taken in [H + step, H + step + tolerance). */
export const BUCKETS = {
  '1h': { stepMs: HOUR_MS, toleranceMs: 10 * 60_000, window: '1h' },
  '1d': { stepMs: DAY_MS, toleranceMs: 60 * 60_000, window: '24h' },
} as const satisfies Record<SeriesQuestion['interval'], { stepMs: number; toleranceMs: number; window: SnapshotWindow }>;

const WINDOW_MS: Record<SnapshotWindow, number> = { '1h': HOUR_MS, '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS };
const FLOW_COLUMN: Record<SnapshotWindow, string> = { '1h': 'flow_1h_usd', '24h': 'flow_24h_usd', '7d': 'flow_7d_usd', '30d': 'flow_30d_usd' };

/** The key of a token without an address: its symbol, marked so it never equals an address. */
export function tokenKey(symbol: string, address: string | null): string {
  return address ?? `~${symbol}`;
}

/** The upstream filters in one canonical form: lists sorted (addresses lower-cased), defaults filled in. */
interface CanonicalFilters {
  includeStablecoins: boolean;
  includeNativeTokens: boolean;
  sectors: string[] | null;
  tokenAddresses: string[] | null;
  marketCap: [number | null, number | null];
  traderCount: [number | null, number | null];
  tokenAge: [number | null, number | null];
}

function canonical(filters: NansenFilters): CanonicalFilters {
  const list = (values: readonly string[] | undefined, lower = false) =>
    values && values.length > 0 ? [...new Set(values.map((v) => (lower ? v.toLowerCase() : v)))].sort() : null;
  const range = (r: NumberRange | undefined): [number | null, number | null] => [r?.min ?? null, r?.max ?? null];
  return {
    includeStablecoins: filters.includeStablecoins ?? false,
    includeNativeTokens: filters.includeNativeTokens ?? false,
    sectors: list(filters.sectors),
    tokenAddresses: list(filters.tokenAddresses, true),
    marketCap: range(filters.marketCapUsd),
    traderCount: range(filters.traderCount),
    tokenAge: range(filters.tokenAgeDays),
  };
}

export function orderText(order: readonly NansenOrder[]): string {
  return order.map((o) => `${o.field} ${o.direction}`).join(',');
}

/** Positional parameters for one statement. */
class Params {
  readonly values: unknown[] = [];

  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * Writes snapshots; a snapshot recorded before (the same call at the same time) is skipped
 * whole, and a row already held under the same (cohort, token, time) is kept once.
 * Returns the rows written. Run it inside one transaction.
 */
export async function writeSnapshots(tx: SqlRunner, snapshots: readonly NansenSnapshot[]): Promise<number> {
  let written = 0;
  for (const snapshot of snapshots) {
    if (!(await insertFetch(tx, snapshot))) continue;
    if (snapshot.tokens.length === 0) continue;
    await upsertTokens(tx, snapshot);
    written += await insertRows(tx, snapshot);
  }
  return written;
}

async function insertFetch(tx: SqlRunner, s: NansenSnapshot): Promise<boolean> {
  const f = canonical(s.filters);
  const chains = [...s.chains].sort();
  const order = orderText(s.orderBy);
  const key = JSON.stringify({ chains, f, order, page: s.page, perPage: s.perPage });
  const inserted = await tx.query(
    `INSERT INTO nansen_fetches (fetched_at, market_cap_min, market_cap_max, trader_count_min, trader_count_max, token_age_min, token_age_max,
       page, per_page, tokens, include_stablecoins, include_native_tokens, last_page, entity, chains, sectors, token_addresses, order_by, fetch_key)
     VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text[], $16::text[], $17::text[], $18, $19)
     ON CONFLICT DO NOTHING RETURNING 1 AS inserted`,
    [
      iso(s.fetchedAt), ...f.marketCap, ...f.traderCount, ...f.tokenAge,
      s.page, s.perPage, new Set(s.tokens.map((t) => `${t.chain}\u0000${tokenKey(t.symbol, t.tokenAddress)}`)).size, f.includeStablecoins, f.includeNativeTokens, s.isLastPage,
      s.entity, chains, f.sectors, f.tokenAddresses, order, key,
    ],
  );
  return inserted.length > 0;
}

/** New tokens get an id; a token whose symbol changed takes the new one. In key order, so concurrent writers lock alike. */
async function upsertTokens(tx: SqlRunner, s: NansenSnapshot): Promise<void> {
  const byKey = new Map(s.tokens.map((t) => [`${t.chain}\u0000${tokenKey(t.symbol, t.tokenAddress)}`, t]));
  const tokens = [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
  await tx.query(
    `INSERT INTO nansen_tokens (chain, token_key, symbol, token_address)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT (chain, token_key) DO UPDATE SET symbol = EXCLUDED.symbol WHERE nansen_tokens.symbol <> EXCLUDED.symbol`,
    [tokens.map((t) => t.chain), tokens.map((t) => tokenKey(t.symbol, t.tokenAddress)), tokens.map((t) => t.symbol), tokens.map((t) => t.tokenAddress)],
  );
}

async function insertRows(tx: SqlRunner, s: NansenSnapshot): Promise<number> {
  const t = s.tokens;
  const inserted = await tx.query<{ n: number }>(
    `WITH input AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::bigint[], $11::bigint[], $12::text[])
         AS u(chain, token_key, f1h, f24h, f7d, f30d, market_cap, traders, age, sectors)
     ), written AS (
       INSERT INTO nansen_rows (taken_at, flow_1h_usd, flow_24h_usd, flow_7d_usd, flow_30d_usd, market_cap_usd, trader_count, token_age_days, token_id, entity, sectors)
       SELECT $2::timestamptz, i.f1h, i.f24h, i.f7d, i.f30d, i.market_cap, i.traders, i.age, k.id, $1, i.sectors::jsonb
       FROM input i JOIN nansen_tokens k ON k.chain = i.chain AND k.token_key = i.token_key
       ON CONFLICT DO NOTHING RETURNING 1
     )
     SELECT count(*)::int AS n FROM written`,
    [
      s.entity, iso(s.fetchedAt),
      t.map((r) => r.chain), t.map((r) => tokenKey(r.symbol, r.tokenAddress)),
      t.map((r) => r.flowsUsd['1h']), t.map((r) => r.flowsUsd['24h']), t.map((r) => r.flowsUsd['7d']), t.map((r) => r.flowsUsd['30d']),
      t.map((r) => r.marketCapUsd), t.map((r) => r.traderCount), t.map((r) => r.tokenAgeDays), t.map((r) => JSON.stringify(r.sectors)),
    ],
  );
  return inserted[0]!.n;
}

/**
 * The snapshots that may answer a question (see README): the same cohort; a chain scope
 * that covers the question's chains; the same stablecoin and native-token choice (they
 * cannot be re-applied to rows); and no token filter narrower than the question's (the
 * question's own filters are then applied to the rows as recorded).
 */
function qualifying(p: Params, q: NansenQuestion, alias: string): string {
  const f = canonical(q.filters);
  const chains = q.chains && q.chains.length > 0 ? [...q.chains].sort() : null;
  const within = (column: string, value: number | null, op: '>=' | '<=') =>
    `(${alias}.${column} IS NULL OR ${p.add(value, 'float8')} ${op} ${alias}.${column})`;
  return [
    `${alias}.entity = ANY(${p.add(q.entities, 'text[]')})`,
    `(${alias}.chains = '{all}' OR ${alias}.chains @> ${p.add(chains, 'text[]')})`,
    `${alias}.include_stablecoins = ${p.add(f.includeStablecoins, 'boolean')}`,
    `${alias}.include_native_tokens = ${p.add(f.includeNativeTokens, 'boolean')}`,
    `(${alias}.sectors IS NULL OR ${alias}.sectors @> ${p.add(f.sectors, 'text[]')})`,
    `(${alias}.token_addresses IS NULL OR ${alias}.token_addresses @> ${p.add(f.tokenAddresses, 'text[]')})`,
    within('market_cap_min', f.marketCap[0], '>='),
    within('market_cap_max', f.marketCap[1], '<='),
    within('trader_count_min', f.traderCount[0], '>='),
    within('trader_count_max', f.traderCount[1], '<='),
    within('token_age_min', f.tokenAge[0], '>='),
    within('token_age_max', f.tokenAge[1], '<='),
  ].join(' AND ');
}

/** Filters on who a token is: the same at every time. */
function identityFilters(p: Params, q: NansenQuestion, alias: string): string[] {
  const f = canonical(q.filters);
  const where: string[] = [];
  if (q.chains && q.chains.length > 0) where.push(`${alias}.chain = ANY(${p.add(q.chains, 'text[]')})`);
  if (q.assets && q.assets.length > 0) where.push(`${alias}.symbol = ANY(${p.add(q.assets, 'text[]')})`);
  if (f.tokenAddresses) where.push(`lower(${alias}.token_address) = ANY(${p.add(f.tokenAddresses, 'text[]')})`);
  return where;
}

/** Filters on what was recorded at t, as Nansen applies them: any of the sectors, ranges inclusive, no value fails a range. */
function valueFilters(p: Params, q: NansenQuestion, alias: string): string[] {
  const f = canonical(q.filters);
  const where: string[] = [];
  if (f.sectors) where.push(`${alias}.sectors ?| ${p.add(f.sectors, 'text[]')}`);
  const range = (column: string, [min, max]: [number | null, number | null]) => {
    if (min !== null) where.push(`${alias}.${column} >= ${p.add(min, 'float8')}`);
    if (max !== null) where.push(`${alias}.${column} <= ${p.add(max, 'float8')}`);
  };
  range('market_cap_usd', f.marketCap);
  range('trader_count', f.traderCount);
  range('token_age_days', f.tokenAge);
  return where;
}

interface RowOut {
  entity: string;
  chain: string;
  symbol: string;
  token_address: string | null;
  t: number;
  flow: number | null;
  market_cap_usd: number | null;
  trader_count: number | null;
  token_age_days: number | null;
  sectors: string[];
}

/** The recorded columns, with the flow of one window, as `RowOut`. */
function rowColumns(rows: string, tokens: string, window: SnapshotWindow): string {
  return `${rows}.entity, ${tokens}.chain, ${tokens}.symbol, ${tokens}.token_address, ${epochMs(`${rows}.taken_at`)} AS t,
    ${rows}.${FLOW_COLUMN[window]} AS flow, ${rows}.market_cap_usd, ${rows}.trader_count::float8 AS trader_count,
    ${rows}.token_age_days::float8 AS token_age_days, ${rows}.sectors`;
}

function toRecord(row: RowOut, window: SnapshotWindow): NetflowRecord {
  return {
    source: 'nansen',
    entity_type: 'smart_money',
    entity: row.entity,
    asset: row.symbol,
    chain: row.chain,
    token_address: row.token_address,
    window,
    period_start: rfc3339(row.t - WINDOW_MS[window]),
    period_end: rfc3339(row.t),
    net_flow_native: null,
    net_flow_usd: row.flow,
    market_cap_usd: row.market_cap_usd,
    trader_count: row.trader_count,
    token_age_days: row.token_age_days,
    token_sectors: row.sectors,
  };
}

/**
 * §8's series. Per series (cohort, chain, token) and bucket, the earliest row among the
 * qualifying snapshots taken inside the bucket's window; the question's value filters
 * then apply to that row as recorded.
 */
export async function readSeries(db: SqlRunner, q: SeriesQuestion): Promise<SeriesAnswer> {
  const p = new Params();
  const { sql: fetches, bin, during } = qualifyingInBuckets(p, q);
  const identity = identityFilters(p, q, 'k');
  const tokenScope = identity.length > 0 ? `AND r.token_id IN (SELECT k.id FROM nansen_tokens k WHERE ${identity.join(' AND ')})` : '';
  const values = valueFilters(p, q, 'r');
  const rows = await db.query<RowOut>(
    `WITH qualifying AS (${fetches}),
     picked AS (
       SELECT DISTINCT ON (r.entity, r.token_id, ${bin('r.taken_at')}) r.*
       FROM nansen_rows r
       WHERE ${during('r.taken_at')} AND (r.entity, r.taken_at) IN (SELECT entity, fetched_at FROM qualifying) ${tokenScope}
       ORDER BY r.entity, r.token_id, ${bin('r.taken_at')}, r.taken_at
     )
     SELECT ${rowColumns('r', 'k', BUCKETS[q.interval].window)}
     FROM picked r JOIN nansen_tokens k ON k.id = r.token_id
     ${values.length > 0 ? `WHERE ${values.join(' AND ')}` : ''}
     ORDER BY r.taken_at, r.entity, k.symbol, k.chain, k.token_key`,
    p.values,
  );
  const b = new Params();
  const held = qualifyingInBuckets(b, q);
  const bins = await db.query<{ entity: string; bin: number }>(
    `WITH qualifying AS (${held.sql}) SELECT DISTINCT entity, ${epochMs(held.bin('fetched_at'))} AS bin FROM qualifying`,
    b.values,
  );
  return { records: rows.map((row) => toRecord(row, BUCKETS[q.interval].window)), ...coverageOf(q, bins) };
}

/**
 * The qualifying snapshots taken inside some bucket window of the range, and the bin
 * (the step-aligned start) of a time: the bin of t serves bucket bin − step.
 */
function qualifyingInBuckets(p: Params, q: SeriesQuestion): { sql: string; bin: (column: string) => string; during: (column: string) => string } {
  const bucket = BUCKETS[q.interval];
  const step = p.add(`${bucket.stepMs} milliseconds`, 'interval');
  const origin = p.add(iso(0), 'timestamptz');
  const lo = p.add(iso(q.start + bucket.stepMs), 'timestamptz');
  const hi = p.add(iso(q.end + bucket.stepMs + bucket.toleranceMs), 'timestamptz');
  const bin = (column: string) => `date_bin(${step}, ${column}, ${origin})`;
  const during = (column: string) => `${column} >= ${lo} AND ${column} < ${hi}`;
  const sql = `SELECT DISTINCT f.entity, f.fetched_at FROM nansen_fetches f
    WHERE ${during('f.fetched_at')}
      AND f.fetched_at - ${bin('f.fetched_at')} < ${p.add(`${bucket.toleranceMs} milliseconds`, 'interval')}
      AND ${qualifying(p, q, 'f')}`;
  return { sql, bin, during };
}

function coverageOf(q: SeriesQuestion, bins: readonly { entity: string; bin: number }[]): Pick<SeriesAnswer, 'coverage' | 'coverageByEntity'> {
  const { stepMs } = BUCKETS[q.interval];
  const buckets = Math.floor((q.end - q.start) / stepMs) + 1;
  const byEntity = new Map<string, Set<number>>(q.entities.map((e) => [e, new Set()]));
  for (const { entity, bin } of bins) byEntity.get(entity)?.add(bin);
  const coverageByEntity: Record<string, Coverage> = {};
  for (const [entity, held] of byEntity) coverageByEntity[entity] = { buckets, with_data: held.size };
  let withData = 0;
  for (let start = q.start; start <= q.end; start += stepMs) {
    if ([...byEntity.values()].every((held) => held.has(start + stepMs))) withData++;
  }
  return { coverage: { buckets, with_data: q.entities.length > 0 ? withData : 0 }, coverageByEntity };
}

/**
 * §8's as_of. Per cohort, the latest qualifying snapshot with t in (as_of − 1h, as_of]
 * that is a leaderboard for the question (a first page, ordered as the question orders,
 * or holding the whole list), used whole: its rows, with the question's filters.
 */
export async function readAsOf(db: SqlRunner, q: AsOfQuestion): Promise<AsOfAnswer> {
  const p = new Params();
  const snapshots = await db.query<{ entity: string; t: number; tokens: number; last_page: boolean }>(
    `SELECT DISTINCT ON (f.entity) f.entity, ${epochMs('f.fetched_at')} AS t, f.tokens, f.last_page
     FROM nansen_fetches f
     WHERE f.fetched_at > ${p.add(iso(q.asOf - HOUR_MS), 'timestamptz')} AND f.fetched_at <= ${p.add(iso(q.asOf), 'timestamptz')}
       AND f.page = 1 AND (f.last_page OR f.order_by = ${p.add(orderText(q.orderBy), 'text')})
       AND ${qualifying(p, q, 'f')}
     ORDER BY f.entity, f.fetched_at DESC, f.tokens DESC`,
    p.values,
  );
  const found: AsOfSnapshot[] = snapshots.map((s) => ({ entity: s.entity, takenAt: s.t, tokens: s.tokens, complete: s.last_page }));
  const missing = q.entities.filter((e) => !found.some((s) => s.entity === e));
  if (found.length === 0) return { records: [], snapshots: found, missing };

  const r = new Params();
  const where = [
    `(r.entity, r.taken_at) IN (SELECT * FROM unnest(${r.add(found.map((s) => s.entity), 'text[]')}, ${r.add(found.map((s) => iso(s.takenAt)), 'timestamptz[]')}))`,
    ...identityFilters(r, q, 'k'),
    ...valueFilters(r, q, 'r'),
  ];
  const rows = await db.query<RowOut>(
    `SELECT ${rowColumns('r', 'k', q.window)} FROM nansen_rows r JOIN nansen_tokens k ON k.id = r.token_id
     WHERE ${where.join(' AND ')} ORDER BY r.entity, k.symbol, k.chain, k.token_key`,
    r.values,
  );
  return { records: rows.map((row) => toRecord(row, q.window)), snapshots: found, missing };
}
