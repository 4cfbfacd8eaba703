import type { EnvReader } from '../../env.js';
import type { UpstreamConfig } from '../descriptor.js';
import { COHORT_BY_ENTITY, NANSEN_CHAIN_SET } from './catalog.js';

export const NANSEN_URL = 'https://api.nansen.ai';

export interface NansenConfig extends UpstreamConfig {
  /** Stop calling when the reported credits left fall to this (default 0). */
  creditReserve: number;
  /** Most credits to spend per UTC day; undefined = no cap. */
  dailyCreditCap: number | undefined;
  /** Freshness of a snapshot, ms (NANSEN_TTL_S, default 60 s). */
  ttlMs: number;
  /** NANSEN_RECORD: the cohorts and chains the recorder fetches at the start of every hour (none by default). */
  recordSets: readonly RecordSet[];
  /** NANSEN_RECORD_DAILY_CREDITS: most credits the recorder may spend per UTC day; undefined = no cap of its own. */
  recordDailyCredits: number | undefined;
}

/** One recorder set: a cohort on one chain, or on every chain (`all`). */
export interface RecordSet {
  entity: string;
  chain: string;
}

/** The NANSEN_* variables; without NANSEN_API_KEY the source is off. */
export function readNansenConfig(read: EnvReader): NansenConfig {
  return {
    apiKey: read.secret('NANSEN_API_KEY'),
    baseUrl: read.url('NANSEN_BASE_URL', NANSEN_URL),
    rateLimits: read.rateLimits('NANSEN_RATE_LIMIT', '15/1s,300/1m'),
    creditReserve: read.integer('NANSEN_CREDIT_RESERVE', 0, 0, Number.MAX_SAFE_INTEGER),
    dailyCreditCap: read.optionalInteger('NANSEN_DAILY_CREDIT_CAP', 1, Number.MAX_SAFE_INTEGER),
    ttlMs: read.seconds('NANSEN_TTL_S', 60, 1, 86_400),
    recordSets: readRecordSets(read, 'NANSEN_RECORD'),
    recordDailyCredits: read.optionalInteger('NANSEN_RECORD_DAILY_CREDITS', 1, Number.MAX_SAFE_INTEGER),
  };
}

/** `<entity>@<chain>` sets, comma-separated: a known cohort, and `all` or a Nansen chain; each set once. */
function readRecordSets(read: EnvReader, name: string): RecordSet[] {
  const value = read.optionalString(name);
  if (value === undefined) return [];
  const sets: RecordSet[] = [];
  for (const item of value.split(',').map((s) => s.trim().toLowerCase())) {
    const [entity = '', chain = '', ...rest] = item.split('@');
    if (rest.length > 0 || !COHORT_BY_ENTITY.has(entity) || (chain !== 'all' && !NANSEN_CHAIN_SET.has(chain))) {
      read.problem(`${name} must list <entity>@<chain> sets such as smart_money@all,smart_money:fund@solana (a smart_money cohort, and all or a Nansen chain), got "${item.slice(0, 64)}"`);
      return [];
    }
    if (!sets.some((s) => s.entity === entity && s.chain === chain)) sets.push({ entity, chain });
  }
  return sets;
}

/** A set as NANSEN_RECORD names it. */
export function recordSetName(set: RecordSet): string {
  return `${set.entity}@${set.chain}`;
}
