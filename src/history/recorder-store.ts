import type { SqlRunner } from './sql.js';

/** One recorder set's turn in one hour, as kept in `recorder_runs`. */
export interface RecorderRun {
  /** The hour recorded (ms, whole UTC hour). */
  hour: number;
  source: string;
  /** As configured, e.g. `smart_money@all`. */
  set: string;
  /** recorded: fetched and queued for writing; skipped: not fetched (the reason says why); failed: the fetch failed. */
  outcome: 'recorded' | 'skipped' | 'failed';
  reason: string | null;
  /** Credits the upstream said the fetch cost. */
  credits: number;
  /** Rows the fetch brought. */
  rows: number;
  startedAt: number;
  finishedAt: number;
  /** Which gateway replica ran it (host name and process id). */
  replica: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/** Takes `hour` for `replica`: true for the first replica to ask, false for every other. */
export async function claimHour(db: SqlRunner, hour: number, replica: string, now: number): Promise<boolean> {
  const claimed = await db.query(
    `INSERT INTO recorder_hours (hour, claimed_at, replica) VALUES ($1::timestamptz, $2::timestamptz, $3) ON CONFLICT DO NOTHING RETURNING 1 AS claimed`,
    [iso(hour), iso(now), replica],
  );
  return claimed.length > 0;
}

export async function saveRun(db: SqlRunner, run: RecorderRun): Promise<void> {
  await db.query(
    `INSERT INTO recorder_runs (hour, started_at, finished_at, credits, row_count, source, set_name, outcome, reason, replica)
     VALUES ($1::timestamptz, $2::timestamptz, $3::timestamptz, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (hour, source, set_name) DO NOTHING`,
    [iso(run.hour), iso(run.startedAt), iso(run.finishedAt), run.credits, run.rows, run.source, run.set, run.outcome, run.reason, run.replica],
  );
}

/** The latest runs, newest hour first. */
export async function latestRuns(db: SqlRunner, limit: number): Promise<RecorderRun[]> {
  const rows = await db.query<{ hour: number; started_at: number; finished_at: number; credits: number; row_count: number; source: string; set_name: string; outcome: RecorderRun['outcome']; reason: string | null; replica: string }>(
    `SELECT ${epochMs('hour')} AS hour, ${epochMs('started_at')} AS started_at, ${epochMs('finished_at')} AS finished_at,
       credits, row_count, source, set_name, outcome, reason, replica
     FROM recorder_runs ORDER BY hour DESC, source, set_name LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    hour: r.hour,
    source: r.source,
    set: r.set_name,
    outcome: r.outcome,
    reason: r.reason,
    credits: r.credits,
    rows: r.row_count,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    replica: r.replica,
  }));
}

/** Credits the recorder of `source` spent on hours from `since` (ms) on, by every replica. */
export async function creditsSince(db: SqlRunner, source: string, since: number): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT coalesce(sum(credits), 0)::float8 AS n FROM recorder_runs WHERE source = $1 AND hour >= $2::timestamptz`, [source, iso(since)]);
  return row!.n;
}

/** Deletes the recorder's hours and runs before `cutoff` (ms). */
export async function deleteRunsBefore(db: SqlRunner, cutoff: number): Promise<number> {
  await db.query(`DELETE FROM recorder_hours WHERE hour < $1::timestamptz`, [iso(cutoff)]);
  const [row] = await db.query<{ n: number }>(`WITH gone AS (DELETE FROM recorder_runs WHERE hour < $1::timestamptz RETURNING 1) SELECT count(*)::int AS n FROM gone`, [iso(cutoff)]);
  return row!.n;
}
