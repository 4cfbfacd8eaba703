import type { ValueCodec } from '../../cache/upstream-cache.js';
import type { TokenFlows } from './normalize.js';

/** One page as the cache holds it. */
export interface CachedPage {
  tokens: TokenFlows[];
  isLastPage: boolean;
  /** When the answer arrived (ms): the end of its windows, and the time the history recorded it at. */
  fetchedAt: number;
}

/** Values per token in the flat form, in this order. */
const STRIDE = 11;

/**
 * A page in the shared tier as one flat array: `[isLastPage, fetchedAt, ...11 values a token]`.
 * JSON.parse builds one array instead of three objects a token with their keys, and the
 * text is about half as long; the tokens are then built with one object shape.
 */
export const nansenPageCodec: ValueCodec<CachedPage> = {
  encode(page) {
    const flat: unknown[] = [page.isLastPage, page.fetchedAt];
    for (const t of page.tokens) {
      flat.push(t.symbol, t.chain, t.tokenAddress, t.flowsUsd['1h'], t.flowsUsd['24h'], t.flowsUsd['7d'], t.flowsUsd['30d'], t.marketCapUsd, t.traderCount, t.tokenAgeDays, t.sectors);
    }
    return flat;
  },
  decode(encoded) {
    if (!Array.isArray(encoded) || (encoded.length - 2) % STRIDE !== 0 || typeof encoded[0] !== 'boolean' || typeof encoded[1] !== 'number') {
      throw new Error('not a Nansen page in the flat form');
    }
    const f = encoded as never[];
    const tokens = new Array<TokenFlows>((f.length - 2) / STRIDE);
    for (let i = 2, n = 0; i < f.length; i += STRIDE, n++) {
      tokens[n] = {
        symbol: f[i]!,
        chain: f[i + 1]!,
        tokenAddress: f[i + 2]!,
        flowsUsd: { '1h': f[i + 3]!, '24h': f[i + 4]!, '7d': f[i + 5]!, '30d': f[i + 6]! },
        marketCapUsd: f[i + 7]!,
        traderCount: f[i + 8]!,
        tokenAgeDays: f[i + 9]!,
        sectors: f[i + 10]!,
      };
    }
    return { isLastPage: f[0]!, fetchedAt: f[1]!, tokens };
  },
};
