// The simulated Coin Metrics catalogue and values. Every value is a pure function of
// (asset, exchange code, day), so a test can recompute any cell it was sent.
import { hash, rand, randInt, randSign } from './random.js';

export const EXCHANGE_CODES = [
  'BFX', 'BMX', 'BNB', 'BSP', 'BTX', 'BIT', 'CBS', 'CRO', 'DER', 'GIO', 'GEM', 'HBT',
  'HUO', 'KOR', 'KRK', 'KCN', 'MXC', 'NBX', 'OKX', 'POL', 'SBG', 'BGT', 'BHM', 'CEX',
] as const;
export type ExchangeCode = (typeof EXCHANGE_CODES)[number];

/** Relative size of each exchange's daily flows; Binance = 1. */
const EXCHANGE_WEIGHT: Record<ExchangeCode, number> = {
  BNB: 1, CBS: 0.7, OKX: 0.5, BIT: 0.45, KRK: 0.3, BFX: 0.3, HUO: 0.25, KCN: 0.2,
  GIO: 0.2, MXC: 0.15, BGT: 0.15, CRO: 0.15, BSP: 0.12, GEM: 0.1, DER: 0.1, BMX: 0.08,
  BHM: 0.08, KOR: 0.05, POL: 0.04, CEX: 0.02, BTX: 0.02, HBT: 0.02, SBG: 0.02, NBX: 0.01,
};

export interface CmAsset {
  id: string;
  /** First day with data, YYYY-MM-DD. */
  since: string;
  /** Exchanges whose FlowNet metrics exist for this asset. */
  exchanges: readonly ExchangeCode[];
  /** Largest typical daily |net flow| on an exchange of weight 1, in native units. */
  flowScale: number;
  /** Decimal places of native values. */
  decimals: number;
  basePriceUsd: number;
  stablecoin: boolean;
}

const ALL_BUT = (...excluded: ExchangeCode[]): ExchangeCode[] => EXCHANGE_CODES.filter((code) => !excluded.includes(code));

export const CM_ASSETS: readonly CmAsset[] = [
  { id: 'btc', since: '2019-01-01', exchanges: EXCHANGE_CODES, flowScale: 2_500, decimals: 8, basePriceUsd: 60_000, stablecoin: false },
  { id: 'eth', since: '2019-01-01', exchanges: ALL_BUT('BMX', 'NBX'), flowScale: 30_000, decimals: 10, basePriceUsd: 3_000, stablecoin: false },
  { id: 'ltc', since: '2019-06-01', exchanges: ['BFX', 'BNB', 'BSP', 'GEM', 'HUO', 'KRK', 'OKX', 'POL'], flowScale: 40_000, decimals: 8, basePriceUsd: 80, stablecoin: false },
  { id: 'link', since: '2020-01-01', exchanges: ['BNB', 'CBS', 'KRK', 'OKX', 'BIT', 'GIO', 'KCN'], flowScale: 600_000, decimals: 10, basePriceUsd: 15, stablecoin: false },
  { id: 'usdt_eth', since: '2020-01-01', exchanges: ['BFX', 'BNB', 'BIT', 'CRO', 'GIO', 'HUO', 'KRK', 'KCN', 'MXC', 'OKX', 'BGT', 'POL'], flowScale: 150_000_000, decimals: 6, basePriceUsd: 1, stablecoin: true },
  { id: 'usdc_eth', since: '2020-06-01', exchanges: ['BNB', 'CBS', 'KRK', 'OKX', 'BIT', 'GEM', 'BSP', 'CRO'], flowScale: 80_000_000, decimals: 6, basePriceUsd: 1, stablecoin: true },
  { id: 'xrp', since: '2021-01-01', exchanges: ['BNB', 'BSP', 'BIT', 'KRK', 'OKX', 'KOR', 'BHM'], flowScale: 40_000_000, decimals: 6, basePriceUsd: 0.6, stablecoin: false },
  { id: 'doge', since: '2021-01-01', exchanges: ['BNB', 'BIT', 'HUO', 'KCN', 'OKX', 'MXC'], flowScale: 300_000_000, decimals: 8, basePriceUsd: 0.15, stablecoin: false },
  { id: 'sol', since: '2022-01-01', exchanges: ['BNB', 'CBS', 'OKX', 'KRK', 'BIT'], flowScale: 200_000, decimals: 9, basePriceUsd: 150, stablecoin: false },
  { id: 'usdc_base.eth', since: '2024-01-01', exchanges: ['CBS', 'BNB', 'OKX'], flowScale: 20_000_000, decimals: 6, basePriceUsd: 1, stablecoin: true },
];

const ASSETS_BY_ID = new Map(CM_ASSETS.map((asset) => [asset.id, asset]));

export function findCmAsset(id: string): CmAsset | undefined {
  return ASSETS_BY_ID.get(id);
}

export const PRICE_METRIC = 'PriceUSD';

export type FlowUnit = 'Ntv' | 'USD';

export function parseFlowNetMetric(metric: string): { code: ExchangeCode; unit: FlowUnit } | null {
  const match = /^FlowNet([A-Z]{3})(Ntv|USD)$/.exec(metric);
  const code = match?.[1] as ExchangeCode | undefined;
  if (!match || !code || !EXCHANGE_CODES.includes(code)) return null;
  return { code, unit: match[2] as FlowUnit };
}

export function isKnownMetric(metric: string): boolean {
  return metric === PRICE_METRIC || parseFlowNetMetric(metric) !== null;
}

export function assetSupportsMetric(asset: CmAsset, metric: string): boolean {
  if (metric === PRICE_METRIC) return true;
  const flow = parseFlowNetMetric(metric);
  return flow !== null && asset.exchanges.includes(flow.code);
}

// ---- days -------------------------------------------------------------------

export const DAY_MS = 86_400_000;

/** Days since 1970-01-01 (UTC) of a YYYY-MM-DD date. */
export function dayNumber(isoDay: string): number {
  return Math.floor(Date.parse(`${isoDay}T00:00:00Z`) / DAY_MS);
}

export function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The row time of a day, in the API's nanosecond format. */
export function cmRowTime(day: number): string {
  return `${isoDay(day)}T00:00:00.000000000Z`;
}

/** The latest day whose data is complete at `nowMs`: the day before today (UTC). */
export function latestCompleteDay(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS) - 1;
}

// ---- values -----------------------------------------------------------------

const NO_DATA_SHARE = 0.02;

/** Daily reference price of the asset, as the API's decimal string. */
export function cmPriceUsd(assetId: string, day: string): string {
  const asset = requireAsset(assetId);
  const d = dayNumber(day);
  const noise = rand(`price|${asset.id}|${day}`) - 0.5;
  if (asset.stablecoin) return decimalString(1 + noise * 0.004);
  const phase = (hash(`phase|${asset.id}`) % 628) / 100;
  const yearly = 1 + 0.3 * Math.sin((2 * Math.PI * d) / 365.25 + phase);
  const monthly = 1 + 0.1 * Math.sin((2 * Math.PI * d) / 41 + phase * 2);
  return decimalString(asset.basePriceUsd * yearly * monthly * (1 + noise * 0.06));
}

/** Net flow into the exchange over the day in native units; null on the few days without data. */
export function cmFlowNetNtv(assetId: string, code: ExchangeCode, day: string): string | null {
  const asset = requireAsset(assetId);
  const seed = `flow|${asset.id}|${code}|${day}`;
  if (rand(`${seed}|missing`) < NO_DATA_SHARE) return null;
  const magnitude = asset.flowScale * EXCHANGE_WEIGHT[code] * (0.15 + 0.85 * rand(`${seed}|size`));
  const value = randSign(`${seed}|sign`) * magnitude;
  const text = value.toFixed(asset.decimals);
  return Number(text) === 0 ? (0).toFixed(asset.decimals) : text;
}

/** FlowNet{code}Ntv × PriceUSD, both as sent. */
export function cmFlowNetUsd(assetId: string, code: ExchangeCode, day: string): string | null {
  const ntv = cmFlowNetNtv(assetId, code, day);
  if (ntv === null) return null;
  return decimalString(Number(ntv) * Number(cmPriceUsd(assetId, day)));
}

/** The value of `metric` for the asset and day: undefined when the asset does not support the metric. */
export function cmMetricValue(assetId: string, metric: string, day: string): string | null | undefined {
  const asset = requireAsset(assetId);
  if (!assetSupportsMetric(asset, metric)) return undefined;
  if (metric === PRICE_METRIC) return cmPriceUsd(asset.id, day);
  const flow = parseFlowNetMetric(metric);
  if (!flow) return undefined;
  return flow.unit === 'Ntv' ? cmFlowNetNtv(asset.id, flow.code, day) : cmFlowNetUsd(asset.id, flow.code, day);
}

export interface MetricStatus {
  status: 'flash' | 'reviewed';
  /** When the value was last computed, nanosecond timestamp. */
  statusTime: string;
}

/** Flows are "flash" for the latest two complete days and "reviewed" before that. */
export function cmFlowStatus(assetId: string, metric: string, day: string, latestDay: string): MetricStatus {
  const d = dayNumber(day);
  const flash = d >= dayNumber(latestDay) - 1;
  const seed = `status|${assetId}|${metric}|${day}`;
  const hour = flash ? 0 : randInt(`${seed}|h`, 9, 16);
  const minute = randInt(`${seed}|m`, flash ? 5 : 0, flash ? 20 : 59);
  const second = randInt(`${seed}|s`, 0, 59);
  const micros = randInt(`${seed}|us`, 0, 999_999);
  const clock = [hour, minute, second].map((n) => String(n).padStart(2, '0')).join(':');
  return {
    status: flash ? 'flash' : 'reviewed',
    statusTime: `${isoDay(d + 1)}T${clock}.${String(micros).padStart(6, '0')}000Z`,
  };
}

function requireAsset(id: string): CmAsset {
  const asset = findCmAsset(id);
  if (!asset) throw new Error(`unknown simulated Coin Metrics asset '${id}'`);
  return asset;
}

/** Up to 15 significant digits, never in exponent form for our magnitudes. */
function decimalString(value: number): string {
  const text = String(Number(value.toPrecision(15)));
  return text === '-0' ? '0' : text;
}
