import type { NetflowsQuery } from '../../model.js';
import type { JsonSchema, ParamReader, SourceParams } from '../descriptor.js';
import { listParam, wholeParam } from '../../schema/params.js';
import type { NansenFilters } from './filters.js';

export type { NansenFilters };

/** Nansen's sectors are words ("DeFi Lending (Money Markets)", "Layer 1"); nothing that could end a header or a quoted string. */
const SECTOR = /^[\p{L}\p{N} ()&'./+_:-]{1,100}$/u;

const numberParam = (text: string): JsonSchema => ({ type: 'number', description: `${text} Nansen only.` });
const wholeNumberParam = (text: string): JsonSchema => wholeParam(`${text} Nansen only.`);
const switchParam: JsonSchema = { type: 'boolean', default: false, description: 'Nansen only.' };

/** Token address, sector, stablecoin and native-token switches, and the market cap, trader count and token age bounds. */
export const NANSEN_PARAMS: SourceParams<NansenFilters> = {
  schemas: {
    token_address: listParam({ type: 'string', pattern: '^[A-Za-z0-9]{1,128}$' }, 'Token contract addresses. Nansen only.'),
    sector: listParam({ type: 'string', minLength: 1, maxLength: 100 }, "Nansen token sectors: letters, digits, spaces and ( ) & ' . / + - _ :. Nansen only."),
    include_stablecoins: switchParam,
    include_native_tokens: switchParam,
    min_market_cap_usd: numberParam('Lower bound of market cap, USD.'),
    max_market_cap_usd: numberParam('Upper bound of market cap, USD.'),
    min_trader_count: wholeNumberParam('Lower bound of smart-money trader count.'),
    max_trader_count: wholeNumberParam('Upper bound of smart-money trader count.'),
    min_token_age_days: wholeNumberParam('Lower bound of token age, days.'),
    max_token_age_days: wholeNumberParam('Upper bound of token age, days.'),
  },
  parse: parseNansenFilters,
  fingerprint: (filters) => {
    const sorted = (list: readonly string[] | undefined) => (list ? [...list].sort() : null);
    return [
      sorted(filters.tokenAddresses),
      sorted(filters.sectors),
      filters.includeStablecoins ?? null,
      filters.includeNativeTokens ?? null,
      filters.marketCapUsd ?? null,
      filters.traderCount ?? null,
      filters.tokenAgeDays ?? null,
    ];
  },
};

function parseNansenFilters(read: ParamReader): NansenFilters {
  const filters: NansenFilters = {};
  const tokenAddresses = read.list('token_address', (s) => /^[A-Za-z0-9]{1,128}$/.test(s), 'token contract addresses');
  if (tokenAddresses) filters.tokenAddresses = tokenAddresses.map((a) => (/^0x[0-9a-f]+$/i.test(a) ? a.toLowerCase() : a));
  const sectors = read.list('sector', (s) => SECTOR.test(s), "Nansen token sectors: letters, digits, spaces and ( ) & ' . / + - _ :");
  if (sectors) filters.sectors = sectors;
  const includeStablecoins = read.boolean('include_stablecoins');
  if (includeStablecoins !== undefined) filters.includeStablecoins = includeStablecoins;
  const includeNativeTokens = read.boolean('include_native_tokens');
  if (includeNativeTokens !== undefined) filters.includeNativeTokens = includeNativeTokens;
  const marketCapUsd = read.range('market_cap_usd', false);
  if (marketCapUsd) filters.marketCapUsd = marketCapUsd;
  const traderCount = read.range('trader_count', true);
  if (traderCount) filters.traderCount = traderCount;
  const tokenAgeDays = read.range('token_age_days', true);
  if (tokenAgeDays) filters.tokenAgeDays = tokenAgeDays;
  return filters;
}

/** The Nansen filters of a parsed question (none when the query was built without them). */
export function nansenFilters(query: NetflowsQuery): NansenFilters {
  return (query.sourceParams.nansen ?? {}) as NansenFilters;
}
