/** Runs one statement; rows come back as plain objects. */
export interface SqlRunner {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** Where history is kept, as `/admin/history` shows it (never a password). */
export type HistoryLocation = { kind: 'postgresql'; host: string; port: number; database: string } | { kind: 'embedded'; dir: string };

/**
 * The port under the history store: PostgreSQL (node-postgres) or the embedded PGlite,
 * one SQL for both. Chosen once in the wiring; nothing above asks which.
 */
export interface SqlDatabase extends SqlRunner {
  readonly location: HistoryLocation;
  /** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
