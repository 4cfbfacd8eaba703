// What the page reads from /catalog and /netflows (the fields it uses).

export interface Catalog {
  sources: { source: string; enabled: boolean; detail: string }[];
  /** `assets`: what the entity has flows for, where its source says (Coin Metrics' exchanges). */
  entities: { entity: string; entity_type: string; name: string; source: string; assets?: string[] }[];
  windows: Record<string, string[]>;
  intervals: Record<string, string[]>;
  chains: Record<string, string[]>;
  default_assets: Record<string, string[]>;
}

export interface NetflowRecord {
  source: string;
  entity_type: string;
  entity: string;
  asset: string;
  chain: string | null;
  token_address: string | null;
  window: string;
  period_start: string;
  period_end: string;
  net_flow_native: number | null;
  net_flow_usd: number | null;
  market_cap_usd: number | null;
  trader_count: number | null;
}

export interface SourceStatus {
  source: string;
  status: 'ok' | 'stale' | 'error' | 'skipped';
  cache: string | null;
  as_of: string | null;
  error?: { code: string; detail: string };
}

export interface NetflowsAnswer {
  data: NetflowRecord[];
  next_cursor: string | null;
  complete: boolean;
  sources: SourceStatus[];
  warnings: string[];
}
