import type { ValueCodec } from '../../cache/upstream-cache.js';
import type { TokenFlows } from './normalize.js';

/** One page as the cache holds it. */
export interface CachedPage {
  tokens: TokenFlows[];
  isLastPage: boolean;
  /** When the answer arrived (ms): the end of its windows, and the time the history recorded it at. */
  fetchedAt: number;
}

/** Text values per token in the flat form, in this order: symbol, chain, tokenAddress, sectors. */
const TEXTS = 4;
/** Numbers per token, in this order: flowsUsd 1h, 24h, 7d, 30d, marketCapUsd, traderCount, tokenAgeDays. */
const NUMBERS = 7;

/**
 * A page in the shared tier as `[isLastPage, fetchedAt, numbers, ...4 text values a token]`,
 * where `numbers` is every token's numbers as little-endian doubles in base64 (NaN for null:
 * JSON cannot hold NaN, so no upstream value is one). A Redis read parsed decimal numbers at
 * about 0.15 µs each, most of its cost; the doubles are copied instead, exactly, and the
 * tokens are built with one object shape.
 */
export const nansenPageCodec: ValueCodec<CachedPage> = {
  encode(page) {
    const numbers = Buffer.alloc(page.tokens.length * NUMBERS * 8);
    const flat: unknown[] = [page.isLastPage, page.fetchedAt, ''];
    let at = 0;
    for (const t of page.tokens) {
      for (const value of [t.flowsUsd['1h'], t.flowsUsd['24h'], t.flowsUsd['7d'], t.flowsUsd['30d'], t.marketCapUsd, t.traderCount, t.tokenAgeDays]) {
        at = numbers.writeDoubleLE(value ?? NaN, at);
      }
      flat.push(t.symbol, t.chain, t.tokenAddress, t.sectors);
    }
    flat[2] = numbers.toString('base64');
    return flat;
  },
  decode(encoded) {
    if (!Array.isArray(encoded) || encoded.length < 3 || (encoded.length - 3) % TEXTS !== 0 || typeof encoded[0] !== 'boolean' || typeof encoded[1] !== 'number' || typeof encoded[2] !== 'string') {
      throw new Error('not a Nansen page in the flat form');
    }
    const f = encoded as never[];
    const count = (f.length - 3) / TEXTS;
    const bytes = Buffer.from(encoded[2] as string, 'base64');
    if (bytes.length !== count * NUMBERS * 8) throw new Error('not a Nansen page in the flat form: the numbers do not match the tokens');
    const numbers = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const number = (index: number): number | null => {
      const value = numbers.getFloat64(index * 8, true);
      return Number.isNaN(value) ? null : value;
    };
    const tokens = new Array<TokenFlows>(count);
    for (let n = 0, i = 3, k = 0; n < count; n++, i += TEXTS, k += NUMBERS) {
      tokens[n] = {
        symbol: f[i]!,
        chain: f[i + 1]!,
        tokenAddress: f[i + 2]!,
        flowsUsd: { '1h': number(k), '24h': number(k + 1), '7d': number(k + 2), '30d': number(k + 3) },
        marketCapUsd: number(k + 4),
        traderCount: number(k + 5),
        tokenAgeDays: number(k + 6),
        sectors: f[i + 3]!,
      };
    }
    return { isLastPage: f[0]!, fetchedAt: f[1]!, tokens };
  },
};
