/** Smart-money cohorts: our entity id and the Nansen label it filters on (none for the whole cohort). */
export const COHORTS = [
  { entity: 'smart_money', name: 'Smart Money (all labels)', label: undefined },
  { entity: 'smart_money:fund', name: 'Fund', label: 'Fund' },
  { entity: 'smart_money:smart_trader', name: 'Smart Trader', label: 'Smart Trader' },
  { entity: 'smart_money:smart_trader_30d', name: '30D Smart Trader', label: '30D Smart Trader' },
  { entity: 'smart_money:smart_trader_90d', name: '90D Smart Trader', label: '90D Smart Trader' },
  { entity: 'smart_money:smart_trader_180d', name: '180D Smart Trader', label: '180D Smart Trader' },
  { entity: 'smart_money:smart_hl_perps_trader', name: 'Smart HL Perps Trader', label: 'Smart HL Perps Trader' },
] as const;

export type Cohort = (typeof COHORTS)[number];

export const COHORT_BY_ENTITY: ReadonlyMap<string, Cohort> = new Map(COHORTS.map((c) => [c.entity, c]));

/** The `chains` enum of the netflow endpoint, less `all`. */
export const NANSEN_CHAINS = [
  'arbitrum',
  'avalanche',
  'base',
  'bnb',
  'ethereum',
  'hyperevm',
  'iotaevm',
  'linea',
  'mantle',
  'monad',
  'optimism',
  'plasma',
  'polygon',
  'ronin',
  'scroll',
  'sei',
  'solana',
  'sonic',
] as const;

export const NANSEN_CHAIN_SET: ReadonlySet<string> = new Set(NANSEN_CHAINS);
