import type { SqlRunner } from './sql.js';

export interface RetentionResult {
  nansenRows: number;
  nansenSnapshots: number;
  coinmetricsCells: number;
}

/**
 * Deletes what was recorded before `cutoff` (ms), `batch` rows per statement so no
 * statement holds locks or runs long; a snapshot's rows share one time, so a snapshot
 * goes whole (across statements, it may be seen half gone: it is past retention anyway).
 */
export async function deleteBefore(db: SqlRunner, cutoff: number, batch: number): Promise<RetentionResult> {
  const at = new Date(cutoff).toISOString();
  const nansenRows = await deleteInBatches(
    db,
    `DELETE FROM nansen_rows WHERE (entity, token_id, taken_at) IN (SELECT entity, token_id, taken_at FROM nansen_rows WHERE taken_at < $1::timestamptz LIMIT $2)`,
    [at, batch],
    batch,
  );
  const nansenSnapshots = await deleteInBatches(
    db,
    `DELETE FROM nansen_fetches WHERE (entity, fetched_at, fetch_key) IN (SELECT entity, fetched_at, fetch_key FROM nansen_fetches WHERE fetched_at < $1::timestamptz LIMIT $2)`,
    [at, batch],
    batch,
  );
  const coinmetricsCells = await deleteInBatches(
    db,
    `DELETE FROM coinmetrics_days WHERE (asset, exchange, day) IN (SELECT asset, exchange, day FROM coinmetrics_days WHERE day < ($1::timestamptz AT TIME ZONE 'UTC')::date LIMIT $2)`,
    [at, batch],
    batch,
  );
  return { nansenRows, nansenSnapshots, coinmetricsCells };
}

async function deleteInBatches(db: SqlRunner, statement: string, params: unknown[], batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const [{ n }] = (await db.query<{ n: number }>(`WITH gone AS (${statement} RETURNING 1) SELECT count(*)::int AS n FROM gone`, params)) as [{ n: number }];
    total += n;
    if (n < batch) return total;
  }
}

export interface SourceStats {
  /** Recorded rows: exact up to 100 000, the planner's estimate above (then `rowsEstimated`). */
  rows: number;
  rowsEstimated: boolean;
  /** Bytes on disk, indexes included. */
  bytes: number;
  /** Earliest and latest recorded times (ms): snapshot times for Nansen, days for Coin Metrics; null when empty. */
  earliest: number | null;
  latest: number | null;
}

const EXACT_COUNT_UP_TO = 100_000;

export async function sourceStats(db: SqlRunner): Promise<{ nansen: SourceStats; coinmetrics: SourceStats }> {
  const [nansen] = await db.query<{ estimate: number; bytes: number; earliest: number | null; latest: number | null }>(
    `SELECT (SELECT reltuples FROM pg_class WHERE oid = 'nansen_rows'::regclass)::float8 AS estimate,
       (pg_total_relation_size('nansen_rows') + pg_total_relation_size('nansen_fetches') + pg_total_relation_size('nansen_tokens'))::float8 AS bytes,
       (SELECT (extract(epoch FROM min(taken_at)) * 1000)::float8 FROM nansen_rows) AS earliest,
       (SELECT (extract(epoch FROM max(taken_at)) * 1000)::float8 FROM nansen_rows) AS latest`,
  );
  const [coinmetrics] = await db.query<{ estimate: number; bytes: number; earliest: number | null; latest: number | null }>(
    `SELECT (SELECT reltuples FROM pg_class WHERE oid = 'coinmetrics_days'::regclass)::float8 AS estimate,
       pg_total_relation_size('coinmetrics_days')::float8 AS bytes,
       (SELECT (min(day) - date '1970-01-01')::float8 * 86400000 FROM coinmetrics_days) AS earliest,
       (SELECT (max(day) - date '1970-01-01')::float8 * 86400000 FROM coinmetrics_days) AS latest`,
  );
  return { nansen: await withRows(db, 'nansen_rows', nansen!), coinmetrics: await withRows(db, 'coinmetrics_days', coinmetrics!) };
}

async function withRows(db: SqlRunner, table: string, s: { estimate: number; bytes: number; earliest: number | null; latest: number | null }): Promise<SourceStats> {
  const base = { bytes: s.bytes, earliest: s.earliest, latest: s.latest };
  if (s.estimate > EXACT_COUNT_UP_TO) return { rows: Math.round(s.estimate), rowsEstimated: true, ...base };
  const [{ n }] = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)) as [{ n: number }];
  return { rows: n, rowsEstimated: false, ...base };
}
