// What the page reads from /catalog and /netflows (the fields it uses). The record is the
// gateway's own type: a type-only import, so nothing of src/model.ts is bundled.

import type { NetflowRecord } from '../../model.js';

export type { NetflowRecord };

export interface Catalog {
  sources: { source: string; enabled: boolean; detail: string }[];
  /** `assets`: what the entity has flows for, where its source says (Coin Metrics' exchanges). */
  entities: { entity: string; entity_type: string; name: string; source: string; assets?: string[] }[];
  windows: Record<string, string[]>;
  intervals: Record<string, string[]>;
  chains: Record<string, string[]>;
  default_assets: Record<string, string[]>;
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
