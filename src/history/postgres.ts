import pg from 'pg';
import type { HistoryLocation, SqlDatabase, SqlRunner } from './sql.js';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database`; the password never leaves this module. */
  url: string;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** A statement running longer is cancelled by the server (ms; default 5000). */
  statementTimeoutMs?: number;
  /** Giving up on a new connection (ms; default 2000). */
  connectTimeoutMs?: number;
  /** Idle connections are closed after this (ms; default 30000). */
  idleTimeoutMs?: number;
  /** Hears of errors on idle connections (the server went away); they are otherwise harmless. */
  onIdleError?: (error: Error) => void;
}

/**
 * History in a PostgreSQL server through a node-postgres pool. Every statement is bounded
 * twice: by the server (`statement_timeout`) and by the client (`query_timeout`, for a
 * server that stopped answering at all), so a slow or vanished database fails a call
 * rather than hanging it.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly location: HistoryLocation;
  private readonly pool: pg.Pool;

  constructor(options: PostgresOptions) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 1000,
      idle_in_transaction_session_timeout: statementTimeoutMs * 2,
      application_name: 'netflows-gateway',
    });
    this.pool.on('error', (error) => options.onIdleError?.(error));
    // Every connection keeps a listener of its own: pg-pool hands a freed connection to a
    // waiting transaction in the same turn as the answer that freed it, before that
    // transaction's listener is on, and a FATAL read in the same chunk (a server dying) would
    // be thrown as an uncaught exception. The statement or the pool in charge still hears of it.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.location = locationOf(options.url);
  }

  async query<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    const result = await this.pool.query<R>(text, params as unknown[]);
    return result.rows;
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out connection has no pool listener: a server that dies between two statements would otherwise crash the process.
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const runner: SqlRunner = {
        query: async <R extends object>(text: string, params: readonly unknown[] = []) => (await client.query<R>(text, params as unknown[])).rows,
      };
      const result = await work(runner);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      // A connection that failed or could not roll back is dropped, never handed to the next caller.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Host, port and database of a connection string: what an operator may see. */
export function locationOf(url: string): HistoryLocation {
  try {
    const parsed = new URL(url);
    return {
      kind: 'postgresql',
      host: decodeURIComponent(parsed.hostname) || 'localhost',
      port: parsed.port ? Number(parsed.port) : 5432,
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres',
    };
  } catch {
    return { kind: 'postgresql', host: 'unknown', port: 5432, database: 'unknown' };
  }
}
