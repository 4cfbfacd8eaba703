import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { History, type HistoryOptions } from '../../src/history/history.js';
import { PgliteDatabase } from '../../src/history/pglite.js';
import { PostgresDatabase } from '../../src/history/postgres.js';
import type { SqlDatabase } from '../../src/history/sql.js';
import type { NansenOrder, NansenSnapshot } from '../../src/history/types.js';
import type { TokenFlows } from '../../src/providers/nansen/normalize.js';
import { freshPgliteDir } from '../pglite.js';
import { TestPostgres } from '../postgres.js';

export type Backend = 'postgresql' | 'pglite';
export const BACKENDS: Backend[] = ['postgresql', 'pglite'];

/** A History over a database of the test file's own, with a handle on the database to look inside. */
export class TestStore {
  private constructor(
    readonly backend: Backend,
    readonly db: SqlDatabase,
    readonly history: History,
    private readonly cleanup: () => Promise<void>,
    /** PostgreSQL: the server's URL for this database; PGlite: the data directory. */
    readonly where: string,
    readonly server: TestPostgres | undefined,
  ) {}

  static async start(backend: Backend, options: Partial<HistoryOptions> = {}): Promise<TestStore> {
    if (backend === 'postgresql') {
      const server = await TestPostgres.start();
      const url = await server.createDatabase('history');
      const db = new PostgresDatabase({ url, connectTimeoutMs: 1000, statementTimeoutMs: 3000 });
      const history = new History({ open: async () => db, ...options });
      await history.ready;
      return new TestStore(backend, db, history, () => server.stop(), url, server);
    }
    const dir = await freshPgliteDir();
    const db = await PgliteDatabase.open(dir);
    const history = new History({ open: async () => db, ...options });
    await history.ready;
    return new TestStore(backend, db, history, async () => rmSync(dirname(dir), { recursive: true, force: true }), dir, undefined);
  }

  async reset(): Promise<void> {
    await this.history.flush();
    await this.db.query('TRUNCATE nansen_fetches, nansen_rows, nansen_tokens, coinmetrics_days RESTART IDENTITY');
  }

  async record(...snapshots: NansenSnapshot[]): Promise<void> {
    for (const snapshot of snapshots) this.history.recordNansen(snapshot);
    await this.history.flush();
  }

  async count(table: string): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    return row!.n;
  }

  async stop(): Promise<void> {
    await this.history.close();
    await this.cleanup();
  }
}

export const HOUR = 3_600_000;
export const MINUTE = 60_000;
export const DAY = 86_400_000;
/** 2026-11-20 00:00 UTC. */
export const D0 = Date.UTC(2026, 10, 20);

/** The order the live path sends for the default leaderboard (24h, descending). */
export const BY_24H: NansenOrder[] = [
  { field: 'net_flow_24h_usd', direction: 'DESC' },
  { field: 'token_symbol', direction: 'ASC' },
  { field: 'chain', direction: 'ASC' },
  { field: 'token_address', direction: 'ASC' },
];
export const BY_SYMBOL: NansenOrder[] = [
  { field: 'token_symbol', direction: 'ASC' },
  { field: 'chain', direction: 'ASC' },
  { field: 'token_address', direction: 'ASC' },
];

/** A token whose four flows are `usd`, `usd * 24`, `usd * 168`, `usd * 720`. */
export function token(symbol: string, usd: number, overrides: Partial<TokenFlows> = {}): TokenFlows {
  return {
    symbol,
    chain: 'ethereum',
    tokenAddress: `0x${symbol.padEnd(40, '0')}`,
    flowsUsd: { '1h': usd, '24h': usd * 24, '7d': usd * 168, '30d': usd * 720 },
    marketCapUsd: 1_000_000,
    traderCount: 10,
    tokenAgeDays: 100,
    sectors: [],
    ...overrides,
  };
}

/** A recorder-like snapshot (smart_money, all chains, default filters, first page of 1000 by 24h) unless told otherwise. */
export function snapshot(fetchedAt: number, tokens: TokenFlows[], overrides: Partial<NansenSnapshot> = {}): NansenSnapshot {
  return {
    entity: 'smart_money',
    chains: ['all'],
    filters: {},
    orderBy: BY_24H,
    page: 1,
    perPage: 1000,
    isLastPage: false,
    fetchedAt,
    tokens,
    ...overrides,
  };
}
