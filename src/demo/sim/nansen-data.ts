// The simulated Nansen token universe and smart-money flows. Token facts are fixed;
// flows are a pure function of (token, label, UTC hour), so tests can recompute them.
import { pick, rand, randBetween, randHex, randInt, randSign, randString } from './random.js';

/** Chains with simulated data; other valid chains (monad, sei, …) answer with no rows. */
export const NANSEN_DATA_CHAINS = ['ethereum', 'solana', 'base', 'arbitrum', 'bnb', 'polygon', 'optimism', 'avalanche'] as const;
export type DataChain = (typeof NANSEN_DATA_CHAINS)[number];

export const SMART_MONEY_LABELS = [
  'Fund', 'Smart Trader', '30D Smart Trader', '90D Smart Trader', '180D Smart Trader', 'Smart HL Perps Trader',
] as const;
export type SmartMoneyLabel = (typeof SMART_MONEY_LABELS)[number];

export const TOKEN_SECTORS = [
  'Decentralised Exchanges', 'DeFi Lending (Money Markets)', 'Memecoins', 'AI', 'Layer 1', 'Stablecoins', 'Yield Bearing',
] as const;

export interface NansenToken {
  chain: DataChain;
  /** Lower-case hex on EVM chains, base58 on Solana. */
  token_address: string;
  token_symbol: string;
  token_sectors: string[];
  /** Deployment time, ms since the epoch; token_age_days counts from it. */
  createdAtMs: number;
  market_cap_usd: number | null;
  stablecoin: boolean;
  native: boolean;
  /** Typical |30d net flow| of one label cohort, in USD. */
  flowScale: number;
}

export interface CohortFlows {
  net_flow_1h_usd: number;
  net_flow_24h_usd: number;
  net_flow_7d_usd: number;
  net_flow_30d_usd: number;
  trader_count: number;
}

/** A row of the netflow response, keys in the order the live API sends them. */
export interface NetflowRow extends CohortFlows {
  token_address: string;
  token_symbol: string;
  chain: string;
  token_sectors: string[];
  token_age_days: number;
  market_cap_usd: number | null;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The day of the live sample the well-known tokens' ages are taken from. */
const AGE_ANCHOR_MS = Date.UTC(2026, 8, 21);

const TOKENS_PER_CHAIN: Record<DataChain, number> = {
  ethereum: 80, solana: 70, base: 50, arbitrum: 30, bnb: 30, polygon: 15, optimism: 15, avalanche: 10,
};

/** Share of tokens with activity in each label's cohort; Fund is small since the Sept 2026 cohort change. */
const LABEL_PRESENCE: Record<SmartMoneyLabel, number> = {
  Fund: 0.03, 'Smart Trader': 0.55, '30D Smart Trader': 0.45, '90D Smart Trader': 0.4, '180D Smart Trader': 0.35, 'Smart HL Perps Trader': 0.15,
};
const LABEL_FLOW_WEIGHT: Record<SmartMoneyLabel, number> = {
  Fund: 2, 'Smart Trader': 1, '30D Smart Trader': 0.6, '90D Smart Trader': 0.7, '180D Smart Trader': 0.8, 'Smart HL Perps Trader': 0.5,
};

type Kind = 'token' | 'native' | 'stablecoin';
/** chain, symbol, address, sectors, age in days on the anchor day, market cap, kind */
type KnownToken = [DataChain, string, string, string[], number, number | null, Kind];

const EVM_NATIVE = '0x0000000000000000000000000000000000000000';

const KNOWN_TOKENS: KnownToken[] = [
  ['ethereum', 'UNI', '0x1f9840a85d5af5bf1d1762f925bdaddc4201f984', ['Decentralised Exchanges'], 2198, 5446144823.37244, 'token'],
  ['ethereum', 'SYRUP', '0x643c4e15d7d62ad0abec4a9bd4b001aa3ef52d66', ['DeFi Lending (Money Markets)', 'Yield Bearing'], 739, 268628114.044823, 'token'],
  ['ethereum', 'PNKSTR', '0xc50673edb3a7b94e8cad8a7d4e0cd68864e33edf', [], 380, 9565688.08536539, 'token'],
  ['ethereum', 'LINK', '0x514910771af9ca656af840dff83e8264ecf986ca', [], 3280, 9876543210.5, 'token'],
  ['ethereum', 'AAVE', '0x7fc66500c84a76ad7e9c93437bfc5ac33e2ddae9', ['DeFi Lending (Money Markets)'], 2190, 4120000000.25, 'token'],
  ['ethereum', 'PEPE', '0x6982508145454ce325ddbe47a25d4ec3d2311933', ['Memecoins'], 1250, 3950000000.75, 'token'],
  ['ethereum', 'ETH', EVM_NATIVE, ['Layer 1'], 4070, 420000000000.5, 'native'],
  ['ethereum', 'USDC', '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', ['Stablecoins'], 2570, 61000000000.1, 'stablecoin'],
  ['ethereum', 'USDT', '0xdac17f958d2ee523a2206206994597c13d831ec7', ['Stablecoins'], 3220, 82000000000.3, 'stablecoin'],
  ['ethereum', 'DAI', '0x6b175474e89094c44da98b954eedeac495271d0f', ['Stablecoins'], 2500, 5300000000.2, 'stablecoin'],
  ['solana', 'SOL', 'So11111111111111111111111111111111111111112', ['Layer 1'], 2000, 78000000000.4, 'native'],
  ['solana', 'USDC', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', ['Stablecoins'], 1900, 9100000000.6, 'stablecoin'],
  ['solana', 'USDT', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', ['Stablecoins'], 1850, 2400000000.9, 'stablecoin'],
  ['solana', 'JUP', 'JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN', ['Decentralised Exchanges'], 970, 1500000000.15, 'token'],
  ['solana', 'BONK', 'DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263', ['Memecoins'], 1360, 1700000000.35, 'token'],
  ['base', 'ETH', EVM_NATIVE, ['Layer 1'], 1180, 420000000000.5, 'native'],
  ['base', 'USDC', '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913', ['Stablecoins'], 1170, 4200000000.45, 'stablecoin'],
  ['base', 'AERO', '0x940181a94a35a4569e4529a3cdfb74e38fd98631', ['Decentralised Exchanges'], 1090, 650000000.65, 'token'],
  ['base', 'LINK', '0x88fb150bdc53a65fe94dea0c9ba0a6daf8c6e196', [], 700, 9876543210.5, 'token'],
  ['arbitrum', 'ETH', EVM_NATIVE, ['Layer 1'], 1510, 420000000000.5, 'native'],
  ['arbitrum', 'USDC', '0xaf88d065e77c8cc2239327c5edb3a432268e5831', ['Stablecoins'], 1400, 2100000000.25, 'stablecoin'],
  ['arbitrum', 'UNI', '0xfa7f8980b0f1e64a2062791cc3b0871572f1f7f0', ['Decentralised Exchanges'], 1480, 5446144823.37244, 'token'],
  ['arbitrum', 'GMX', '0xfc5a1a6eb076a2c7ad06ed22c90d7e710e35ad0a', ['Decentralised Exchanges'], 1560, 150000000.85, 'token'],
  ['bnb', 'BNB', EVM_NATIVE, ['Layer 1'], 2200, 92000000000.7, 'native'],
  ['bnb', 'USDT', '0x55d398326f99059ff775485246999027b3197955', ['Stablecoins'], 2150, 6700000000.55, 'stablecoin'],
  ['bnb', 'CAKE', '0x0e09fabb73bd3ade0a17ecc321fd13a19e81ce82', ['Decentralised Exchanges'], 2210, 750000000.95, 'token'],
  ['polygon', 'POL', EVM_NATIVE, [], 2180, 2300000000.05, 'native'],
  ['polygon', 'USDC', '0x3c499c542cef5e3811e1192ce70d8cc03d5c3359', ['Stablecoins'], 1050, 900000000.35, 'stablecoin'],
  ['optimism', 'ETH', EVM_NATIVE, ['Layer 1'], 1700, 420000000000.5, 'native'],
  ['optimism', 'OP', '0x4200000000000000000000000000000000000042', [], 1580, 1100000000.15, 'token'],
  ['optimism', 'USDC', '0x0b2c639c533813f4aa9d7837caf62653d097ff85', ['Stablecoins'], 1040, 600000000.25, 'stablecoin'],
  ['avalanche', 'AVAX', EVM_NATIVE, ['Layer 1'], 2200, 12000000000.35, 'native'],
  ['avalanche', 'USDC', '0xb97ef9ef8734c71904d8002f8b6bc66dd9c48a6e', ['Stablecoins'], 1700, 700000000.45, 'stablecoin'],
  ['avalanche', 'JOE', '0x6e84a6216ea6dacc71ee8e6b0a5b7322eebc0fdd', ['Decentralised Exchanges'], 1760, 90000000.65, 'token'],
];

const SYMBOL_PARTS = [
  'ZO', 'KA', 'MI', 'RU', 'TE', 'XO', 'NA', 'LI', 'PO', 'VE', 'DA', 'QI', 'BRO', 'FLU', 'GRA', 'SKY',
  'MOON', 'DOG', 'CAT', 'NEU', 'ORA', 'PIX', 'VOLT', 'HYP', 'SOL', 'BIT', 'WAG', 'ZEN', 'LUM', 'FOX',
];
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const GENERATED_SECTORS = TOKEN_SECTORS.filter((sector) => sector !== 'Stablecoins' && sector !== 'Layer 1');

export const NANSEN_TOKENS: readonly NansenToken[] = buildTokens();

/**
 * The known tokens, then generated ones up to each chain's count; then, when `perChain` is
 * more, generated ones up to that, so the default tokens are the same whatever `perChain`.
 * Generated symbols are unique across chains.
 */
export function buildTokens(perChain = 0): NansenToken[] {
  const takenSymbols = new Set(KNOWN_TOKENS.map(([, symbol]) => symbol));
  const chains = NANSEN_DATA_CHAINS.map((chain) => ({
    chain,
    tokens: KNOWN_TOKENS.filter(([tokenChain]) => tokenChain === chain).map(knownToken),
    nextIndex: 0,
  }));
  const fill = (entry: (typeof chains)[number], count: number) => {
    while (entry.tokens.length < count) {
      const token = generatedToken(entry.chain, entry.nextIndex++);
      if (takenSymbols.has(token.token_symbol)) continue;
      takenSymbols.add(token.token_symbol);
      entry.tokens.push(token);
    }
  };
  for (const entry of chains) fill(entry, TOKENS_PER_CHAIN[entry.chain]);
  for (const entry of chains) fill(entry, perChain);
  return chains.flatMap((entry) => entry.tokens);
}

function knownToken([chain, symbol, address, sectors, ageDays, marketCap, kind]: KnownToken): NansenToken {
  return {
    chain,
    token_address: address,
    token_symbol: symbol,
    token_sectors: sectors,
    createdAtMs: AGE_ANCHOR_MS - ageDays * DAY_MS,
    market_cap_usd: marketCap,
    stablecoin: kind === 'stablecoin',
    native: kind === 'native',
    flowScale: flowScaleFor(marketCap),
  };
}

function generatedToken(chain: DataChain, index: number): NansenToken {
  const seed = `token|${chain}|${index}`;
  const symbol = pick(`${seed}|a`, SYMBOL_PARTS) + pick(`${seed}|b`, SYMBOL_PARTS) + (rand(`${seed}|digit`) < 0.2 ? String(randInt(`${seed}|d`, 2, 9)) : '');
  const marketCap = rand(`${seed}|no-cap`) < 0.04 ? null : Number((10 ** randBetween(`${seed}|cap`, 5, 9.5)).toFixed(6));
  return {
    chain,
    token_address: chain === 'solana' ? randString(`${seed}|addr`, 44, BASE58) : `0x${randHex(`${seed}|addr`, 40)}`,
    token_symbol: symbol,
    token_sectors: generatedSectors(seed),
    createdAtMs: AGE_ANCHOR_MS - randInt(`${seed}|age`, 3, 2500) * DAY_MS,
    market_cap_usd: marketCap,
    stablecoin: false,
    native: false,
    flowScale: flowScaleFor(marketCap),
  };
}

function generatedSectors(seed: string): string[] {
  const count = pick(`${seed}|sector-count`, [0, 1, 1, 2]);
  const first = pick(`${seed}|sector-1`, GENERATED_SECTORS);
  const second = pick(`${seed}|sector-2`, GENERATED_SECTORS);
  if (count === 0) return [];
  return count === 1 || first === second ? [first] : [first, second];
}

function flowScaleFor(marketCap: number | null): number {
  if (marketCap === null) return 20_000;
  return Math.min(Math.max(marketCap * 2e-2, 5_000), 400_000_000);
}

/** Hours since the epoch: flows change once per UTC hour. */
export function hourIndex(nowMs: number): number {
  return Math.floor(nowMs / HOUR_MS);
}

export function tokenAgeDays(token: NansenToken, nowMs: number): number {
  return Math.max(0, Math.floor((nowMs - token.createdAtMs) / DAY_MS));
}

export function hasLabelActivity(token: NansenToken, label: SmartMoneyLabel): boolean {
  return rand(`presence|${token.chain}|${token.token_address}|${label}`) < LABEL_PRESENCE[label];
}

/**
 * The flows of one label's cohort into the token, as nested rolling windows ending now;
 * null when the cohort had no activity in the token. A window with no activity is integer 0.
 */
export function labelFlows(token: NansenToken, label: SmartMoneyLabel, hour: number): CohortFlows | null {
  if (!hasLabelActivity(token, label)) return null;
  const seed = `flows|${token.chain}|${token.token_address}|${label}|${hour}`;
  const scale = token.flowScale * LABEL_FLOW_WEIGHT[label];
  const slice = (name: string, chance: number, share: number): number =>
    rand(`${seed}|${name}|on`) < chance ? randSign(`${seed}|${name}|sign`) * scale * share * (0.1 + 0.9 * rand(`${seed}|${name}|size`)) : 0;
  const lastHour = slice('1h', 0.2, 0.05);
  const restOfDay = slice('24h', 0.55, 0.4);
  const restOfWeek = slice('7d', 0.6, 0.8);
  const restOfMonth = slice('30d', 0.6, 1) || randSign(`${seed}|30d|fallback`) * scale * 0.5;
  return {
    net_flow_1h_usd: lastHour,
    net_flow_24h_usd: lastHour + restOfDay,
    net_flow_7d_usd: lastHour + restOfDay + restOfWeek,
    net_flow_30d_usd: lastHour + restOfDay + restOfWeek + restOfMonth,
    trader_count: randInt(`${seed}|traders`, 1, label === 'Fund' ? 3 : 20),
  };
}

/** The flows of the union of `labels`: their sum, or null when none of them touched the token. */
export function cohortFlows(token: NansenToken, labels: readonly SmartMoneyLabel[], hour: number): CohortFlows | null {
  let total: CohortFlows | null = null;
  for (const label of labels) {
    const flows = labelFlows(token, label, hour);
    if (!flows) continue;
    total = total === null ? flows : {
      net_flow_1h_usd: total.net_flow_1h_usd + flows.net_flow_1h_usd,
      net_flow_24h_usd: total.net_flow_24h_usd + flows.net_flow_24h_usd,
      net_flow_7d_usd: total.net_flow_7d_usd + flows.net_flow_7d_usd,
      net_flow_30d_usd: total.net_flow_30d_usd + flows.net_flow_30d_usd,
      trader_count: total.trader_count + flows.trader_count,
    };
  }
  return total;
}

export function netflowRow(token: NansenToken, flows: CohortFlows, nowMs: number): NetflowRow {
  return {
    token_address: token.token_address,
    token_symbol: token.token_symbol,
    net_flow_1h_usd: flows.net_flow_1h_usd,
    net_flow_24h_usd: flows.net_flow_24h_usd,
    net_flow_7d_usd: flows.net_flow_7d_usd,
    net_flow_30d_usd: flows.net_flow_30d_usd,
    chain: token.chain,
    token_sectors: [...token.token_sectors],
    trader_count: flows.trader_count,
    token_age_days: tokenAgeDays(token, nowMs),
    market_cap_usd: token.market_cap_usd,
  };
}
