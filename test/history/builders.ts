import type { NansenOrder, NansenSnapshot } from '../../src/history/types.js';
import type { TokenFlows } from '../../src/providers/nansen/normalize.js';

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
    tokenAddress: `0x${Buffer.from(symbol).toString('hex').padEnd(40, '0')}`,
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
