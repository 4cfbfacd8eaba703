import { UpstreamError } from '../../errors.js';
import { finiteNumber, isRecord } from '../../upstream/response.js';
import { rfc3339 } from '../../time.js';
import type { NetflowRecord, SnapshotWindow } from '../../model.js';

const WINDOW_MS: Record<SnapshotWindow, number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

/** One token's smart-money flows over all four windows, in our terms and JSON-safe (it is cached as is). */
export interface TokenFlows {
  symbol: string;
  chain: string;
  tokenAddress: string | null;
  flowsUsd: Record<SnapshotWindow, number | null>;
  marketCapUsd: number | null;
  traderCount: number | null;
  tokenAgeDays: number | null;
  sectors: string[];
}

/**
 * Reads `smart-money/netflow` rows: the only place that knows Nansen's field names. A row
 * without a symbol or chain makes the answer malformed; a field of the wrong type is null.
 */
export function decodeNetflowRows(rows: readonly unknown[]): TokenFlows[] {
  return rows.map((row) => {
    if (!isRecord(row) || typeof row.token_symbol !== 'string' || typeof row.chain !== 'string') {
      throw new UpstreamError('nansen', 'upstream_malformed', 'a Nansen row has no token symbol or chain');
    }
    return {
      symbol: row.token_symbol.toLowerCase(),
      chain: row.chain.toLowerCase(),
      tokenAddress: typeof row.token_address === 'string' && row.token_address !== '' ? row.token_address : null,
      flowsUsd: {
        '1h': finiteNumber(row.net_flow_1h_usd),
        '24h': finiteNumber(row.net_flow_24h_usd),
        '7d': finiteNumber(row.net_flow_7d_usd),
        '30d': finiteNumber(row.net_flow_30d_usd),
      },
      marketCapUsd: finiteNumber(row.market_cap_usd),
      traderCount: wholeNumber(row.trader_count),
      tokenAgeDays: wholeNumber(row.token_age_days),
      sectors: Array.isArray(row.token_sectors) ? row.token_sectors.filter((s): s is string => typeof s === 'string') : [],
    };
  });
}

export interface RecordOptions {
  entity: string;
  window: SnapshotWindow;
  /** When the snapshot was taken (ms): the end of every window. */
  asOf: number;
}

export function toRecords(tokens: readonly TokenFlows[], { entity, window, asOf }: RecordOptions): NetflowRecord[] {
  const periodEnd = rfc3339(asOf);
  const periodStart = rfc3339(asOf - WINDOW_MS[window]);
  return tokens.map((token) => ({
    source: 'nansen',
    entity_type: 'smart_money',
    entity,
    asset: token.symbol,
    chain: token.chain,
    token_address: token.tokenAddress,
    window,
    period_start: periodStart,
    period_end: periodEnd,
    net_flow_native: null,
    net_flow_usd: token.flowsUsd[window],
    market_cap_usd: token.marketCapUsd,
    trader_count: token.traderCount,
    token_age_days: token.tokenAgeDays,
    token_sectors: token.sectors,
  }));
}

/** decode, then records: the whole normalize step for one page. */
export function normalizeNetflows(rows: readonly unknown[], options: RecordOptions): NetflowRecord[] {
  return toRecords(decodeNetflowRows(rows), options);
}

function wholeNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}
