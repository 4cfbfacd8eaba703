import { UpstreamError } from '../../errors.js';
import { finiteNumber, isRecord } from '../../upstream/http.js';
import { rfc3339 } from '../../time.js';
import type { NetflowRecord, SnapshotWindow } from '../types.js';

const WINDOW_MS: Record<SnapshotWindow, number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

const FLOW_FIELD: Record<SnapshotWindow, string> = {
  '1h': 'net_flow_1h_usd',
  '24h': 'net_flow_24h_usd',
  '7d': 'net_flow_7d_usd',
  '30d': 'net_flow_30d_usd',
};

export interface NansenNormalizeOptions {
  entity: string;
  window: SnapshotWindow;
  /** When the snapshot was taken (ms): the end of every window. */
  asOf: number;
}

/**
 * `smart-money/netflow` rows → records. The only place that knows Nansen's field names.
 * A row without a symbol or chain is a malformed answer; a field of the wrong type is null.
 */
export function normalizeNetflows(rows: readonly unknown[], { entity, window, asOf }: NansenNormalizeOptions): NetflowRecord[] {
  const periodEnd = rfc3339(asOf);
  const periodStart = rfc3339(asOf - WINDOW_MS[window]);
  return rows.map((row) => {
    if (!isRecord(row) || typeof row.token_symbol !== 'string' || typeof row.chain !== 'string') {
      throw new UpstreamError('nansen', 'upstream_malformed', 'a Nansen row has no token symbol or chain');
    }
    return {
      source: 'nansen',
      entity_type: 'smart_money',
      entity,
      asset: row.token_symbol.toLowerCase(),
      chain: row.chain.toLowerCase(),
      token_address: typeof row.token_address === 'string' && row.token_address !== '' ? row.token_address : null,
      window,
      period_start: periodStart,
      period_end: periodEnd,
      net_flow_native: null,
      net_flow_usd: finiteNumber(row[FLOW_FIELD[window]]),
      market_cap_usd: finiteNumber(row.market_cap_usd),
      trader_count: wholeNumber(row.trader_count),
      token_age_days: wholeNumber(row.token_age_days),
      token_sectors: Array.isArray(row.token_sectors) ? row.token_sectors.filter((s): s is string => typeof s === 'string') : [],
    } satisfies NetflowRecord;
  });
}

function wholeNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}
