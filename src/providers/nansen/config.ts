import type { EnvReader } from '../../env.js';
import type { UpstreamConfig } from '../descriptor.js';

export const NANSEN_URL = 'https://api.nansen.ai';

export interface NansenConfig extends UpstreamConfig {
  /** Stop calling when the reported credits left fall to this (default 0). */
  creditReserve: number;
  /** Most credits to spend per UTC day; undefined = no cap. */
  dailyCreditCap: number | undefined;
  /** Freshness of a snapshot, ms (NANSEN_TTL_S, default 60 s). */
  ttlMs: number;
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
  };
}
