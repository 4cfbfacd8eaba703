/**
 * Coin Metrics exchanges: our stable slug, a display name, and the three-letter code
 * in the metric ids `FlowNet{CODE}Ntv` / `FlowNet{CODE}USD`. A new exchange is one line.
 * (The product page's `FlowNetBNBNtvFlow` / `FlowNetBTXNtvFlow` are typos; ids are built
 * from the code only.)
 */
export const EXCHANGES = [
  { slug: 'bitfinex', name: 'Bitfinex', code: 'BFX' },
  { slug: 'bitmex', name: 'BitMEX', code: 'BMX' },
  { slug: 'binance', name: 'Binance', code: 'BNB' },
  { slug: 'bitstamp', name: 'Bitstamp', code: 'BSP' },
  { slug: 'bittrex', name: 'Bittrex', code: 'BTX' },
  { slug: 'bybit', name: 'Bybit', code: 'BIT' },
  { slug: 'coinbase', name: 'Coinbase', code: 'CBS' },
  { slug: 'crypto_com', name: 'Crypto.com', code: 'CRO' },
  { slug: 'deribit', name: 'Deribit', code: 'DER' },
  { slug: 'gate_io', name: 'Gate.io', code: 'GIO' },
  { slug: 'gemini', name: 'Gemini', code: 'GEM' },
  { slug: 'hitbtc', name: 'HitBTC', code: 'HBT' },
  { slug: 'huobi', name: 'Huobi', code: 'HUO' },
  { slug: 'korbit', name: 'Korbit', code: 'KOR' },
  { slug: 'kraken', name: 'Kraken', code: 'KRK' },
  { slug: 'kucoin', name: 'Kucoin', code: 'KCN' },
  { slug: 'mexc', name: 'MEXC', code: 'MXC' },
  { slug: 'nbx', name: 'NBX', code: 'NBX' },
  { slug: 'okx', name: 'OKX', code: 'OKX' },
  { slug: 'poloniex', name: 'Poloniex', code: 'POL' },
  { slug: 'swissborg', name: 'SwissBorg', code: 'SBG' },
  { slug: 'bitget', name: 'Bitget', code: 'BGT' },
  { slug: 'bithumb', name: 'Bithumb', code: 'BHM' },
  { slug: 'cex_io', name: 'Cex.io', code: 'CEX' },
] as const;

export type Exchange = (typeof EXCHANGES)[number];

export const EXCHANGE_BY_SLUG: ReadonlyMap<string, Exchange> = new Map(EXCHANGES.map((e) => [e.slug, e]));

export function nativeMetric(exchange: Exchange): string {
  return `FlowNet${exchange.code}Ntv`;
}

export function usdMetric(exchange: Exchange): string {
  return `FlowNet${exchange.code}USD`;
}

/** Chains of assets whose id does not say it; ids with a `_<chain>` suffix carry their own. */
const ASSET_CHAINS: Record<string, string> = {
  btc: 'bitcoin',
  eth: 'ethereum',
  sol: 'solana',
  xrp: 'xrp',
  ltc: 'litecoin',
  doge: 'dogecoin',
  bch: 'bitcoin_cash',
  ada: 'cardano',
  trx: 'tron',
  bnb: 'bnb',
  avax: 'avalanche',
  dot: 'polkadot',
  matic: 'polygon',
  pol: 'polygon',
  link: 'ethereum',
  uni: 'ethereum',
  aave: 'ethereum',
  dai: 'ethereum',
  usdt: 'ethereum',
  usdc: 'ethereum',
};

const SUFFIX_CHAINS: Record<string, string> = {
  eth: 'ethereum',
  'base.eth': 'base',
  arb: 'arbitrum',
  'arb.eth': 'arbitrum',
  op: 'optimism',
  'op.eth': 'optimism',
  trx: 'tron',
  sol: 'solana',
  bsc: 'bnb',
  poly: 'polygon',
  avaxc: 'avalanche',
};

/** The chain an asset id lives on (`usdt_eth` → ethereum), or null when we do not know. */
export function chainOfAsset(asset: string): string | null {
  const underscore = asset.indexOf('_');
  if (underscore > 0) return SUFFIX_CHAINS[asset.slice(underscore + 1)] ?? null;
  return ASSET_CHAINS[asset] ?? null;
}
