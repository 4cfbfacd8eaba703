import type { EnvReader } from '../env.js';
import type { Secret } from '../secret.js';

const DAY_MS = 86_400_000;

/** Where and how the gateway keeps its history (contract §6 and §8). */
export interface HistoryConfig {
  /** HISTORY (default on); off: nothing is recorded, nothing is answered from history. */
  enabled: boolean;
  /** DATABASE_URL or DATABASE_URL_FILE: a PostgreSQL server (what replicas share); absent: the embedded database in `dir`. */
  databaseUrl: Secret | undefined;
  /** HISTORY_DIR (default `./data`): the embedded database's directory when there is no DATABASE_URL. */
  dir: string;
  /** DATABASE_POOL_SIZE (default 4): connections to PostgreSQL. */
  poolSize: number;
  /** DATABASE_STATEMENT_TIMEOUT_MS (default 5000): a statement that takes longer fails, on either database (ms). */
  statementTimeoutMs: number;
  /** HISTORY_RETENTION_DAYS (default 400), in ms: rows older than this are deleted. */
  retentionMs: number;
}

/** The history variables; a DATABASE_URL that is not a postgres:// URL is a problem named without its value (it may hold a password). */
export function readHistoryConfig(read: EnvReader): HistoryConfig {
  const databaseUrl = read.secret('DATABASE_URL');
  if (databaseUrl && !isPostgresUrl(databaseUrl.reveal())) read.problem('DATABASE_URL must be a postgres:// or postgresql:// URL');
  return {
    enabled: read.oneOf('HISTORY', 'on', ['on', 'off']) === 'on',
    databaseUrl,
    dir: read.string('HISTORY_DIR', './data'),
    poolSize: read.integer('DATABASE_POOL_SIZE', 4, 1, 100),
    statementTimeoutMs: read.integer('DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    retentionMs: read.integer('HISTORY_RETENTION_DAYS', 400, 1, 36_500) * DAY_MS,
  };
}

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}
