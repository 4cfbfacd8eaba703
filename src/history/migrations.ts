import { HistoryOpenError } from './errors.js';
import type { SqlDatabase, SqlRunner } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  /** One statement each (both drivers run parameterised statements one at a time). */
  statements: readonly string[];
}

/**
 * The schema, in order; a released migration never changes, a change is a new one.
 * Fixed-width columns come first in each table so rows pack without padding.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'nansen snapshots and coin metrics days',
    statements: [
      // One row per upstream Nansen call: the question it answered decides which questions it can answer later.
      `CREATE TABLE nansen_fetches (
        fetched_at timestamptz NOT NULL,
        market_cap_min float8,
        market_cap_max float8,
        trader_count_min float8,
        trader_count_max float8,
        token_age_min float8,
        token_age_max float8,
        page integer NOT NULL,
        per_page integer NOT NULL,
        tokens integer NOT NULL,
        include_stablecoins boolean NOT NULL,
        include_native_tokens boolean NOT NULL,
        last_page boolean NOT NULL,
        entity text NOT NULL,
        chains text[] NOT NULL,
        sectors text[],
        token_addresses text[],
        order_by text NOT NULL,
        fetch_key text NOT NULL,
        PRIMARY KEY (entity, fetched_at, fetch_key)
      )`,
      `CREATE INDEX nansen_fetches_fetched_at ON nansen_fetches (fetched_at)`,
      // A token is (chain, address); one without an address is keyed by '~' and its symbol.
      `CREATE TABLE nansen_tokens (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain text NOT NULL,
        token_key text NOT NULL,
        symbol text NOT NULL,
        token_address text,
        UNIQUE (chain, token_key)
      )`,
      // One row per (cohort, token, snapshot time): the contract's key (entity, chain, token address, time).
      `CREATE TABLE nansen_rows (
        taken_at timestamptz NOT NULL,
        flow_1h_usd float8,
        flow_24h_usd float8,
        flow_7d_usd float8,
        flow_30d_usd float8,
        market_cap_usd float8,
        trader_count bigint,
        token_age_days bigint,
        token_id integer NOT NULL,
        entity text NOT NULL,
        sectors jsonb NOT NULL,
        PRIMARY KEY (entity, token_id, taken_at)
      )`,
      `CREATE INDEX nansen_rows_taken_at ON nansen_rows (taken_at)`,
      // One row per (asset, exchange, day) asked of Coin Metrics; supported = false: the upstream has no such metric.
      `CREATE TABLE coinmetrics_days (
        day date NOT NULL,
        native float8,
        usd float8,
        fetched_at timestamptz NOT NULL,
        supported boolean NOT NULL,
        asset text NOT NULL,
        exchange text NOT NULL,
        PRIMARY KEY (asset, exchange, day)
      )`,
      `CREATE INDEX coinmetrics_days_day ON coinmetrics_days (day)`,
    ],
  },
  {
    version: 2,
    name: 'the recorder: one replica per hour, and its runs',
    statements: [
      // The replica that records an hour: the first to insert it.
      `CREATE TABLE recorder_hours (
        hour timestamptz PRIMARY KEY,
        claimed_at timestamptz NOT NULL,
        replica text NOT NULL
      )`,
      // One row per recorder set and hour: what it got, what it cost, or why it was skipped.
      `CREATE TABLE recorder_runs (
        hour timestamptz NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        credits integer NOT NULL,
        row_count integer NOT NULL,
        source text NOT NULL,
        set_name text NOT NULL,
        outcome text NOT NULL,
        reason text,
        replica text NOT NULL,
        PRIMARY KEY (hour, source, set_name)
      )`,
    ],
  },
];

/** pg_advisory_xact_lock key of the migrations: any constant no other application of the database uses. */
const MIGRATION_LOCK = 7_260_301_113_052;

export interface MigrateOptions {
  /** The embedded database's directory: a database there holding tables of another application is refused, naming it. */
  embeddedDir?: string;
}

/**
 * Applies the migrations not yet applied, in one transaction under an advisory lock, so
 * replicas starting together apply each once and the others wait, then find nothing to do.
 * Returns the versions applied now.
 */
export async function migrate(db: SqlDatabase, options: MigrateOptions = {}, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const tracked = await tx.query<{ present: boolean }>(`SELECT to_regclass('history_migrations') IS NOT NULL AS present`);
    if (!tracked[0]!.present) {
      if (options.embeddedDir !== undefined) await refuseForeign(tx, options.embeddedDir);
      await tx.query(`CREATE TABLE history_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    }
    const applied = new Set((await tx.query<{ version: number }>('SELECT version FROM history_migrations')).map((r) => r.version));
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      throw new HistoryOpenError(`the history database has schema version ${newest}, newer than this gateway knows (${known}); run a newer gateway`);
    }
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query('INSERT INTO history_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      done.push(migration.version);
    }
    return done;
  });
}

async function refuseForeign(tx: SqlRunner, dir: string): Promise<void> {
  const tables = await tx.query<{ name: string }>(
    `SELECT schemaname || '.' || tablename AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 3`,
  );
  if (tables.length > 0) {
    throw new HistoryOpenError(
      `HISTORY_DIR ${dir} holds another application's database (tables ${tables.map((t) => t.name).join(', ')}); give the history a directory of its own`,
    );
  }
}
