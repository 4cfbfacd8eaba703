import type { ProviderDescriptor } from '../descriptor.js';
import { COHORTS, NANSEN_CHAINS } from './catalog.js';
import { NANSEN_CREDITS_PER_CALL, NANSEN_FAILURES, readNansenCredits, readNansenLimits } from './client.js';
import { readNansenConfig, type NansenConfig } from './config.js';
import { NANSEN_PARAMS, type NansenFilters } from './params.js';
import { nansenPageCodec } from './page-codec.js';
import { createNansenProvider } from './provider.js';

/** Nansen documents no parallel cap; this keeps a burst from arriving at once. */
const MAX_IN_FLIGHT = 10;

/** Nansen smart-money net flows: a snapshot of four windows per token, five credits a page; off without a key. */
export const nansen: ProviderDescriptor<'nansen', NansenConfig, NansenFilters> = {
  id: 'nansen',
  title: 'Nansen',
  entityType: 'smart_money',
  catalog: {
    entities: COHORTS.map((c) => ({ entity: c.entity, name: c.name, ...(c.label ? { fields: { nansen_label: c.label } } : {}) })),
    entityHint: 'smart_money[:label]',
    entityFields: { nansen_label: { type: 'string' } },
    windows: ['1h', '24h', '7d', '30d'],
    intervals: [],
    historyIntervals: ['1h', '1d'],
    chains: NANSEN_CHAINS,
    lists: { smart_money_labels: COHORTS.flatMap((c) => (c.label ? [c.label] : [])) },
    signRule: 'into the smart-money cohort (buys and exchange withdrawals minus sells and exchange deposits)',
  },
  params: NANSEN_PARAMS,
  readConfig: readNansenConfig,
  status: (config) =>
    config.apiKey
      ? { enabled: true, detail: 'Nansen API with the configured key' }
      : { enabled: false, because: 'no NANSEN_API_KEY is configured', warning: 'NANSEN_API_KEY is not set: the Nansen source is disabled' },
  defaultAssets: () => ['every token'],
  budget: (config) => ({
    maxInFlight: MAX_IN_FLIGHT,
    readLimits: readNansenLimits,
    retryAfter: NANSEN_FAILURES.retryAfter,
    credits: { costPerCall: NANSEN_CREDITS_PER_CALL, reserve: config.creditReserve, dailyCap: config.dailyCreditCap, read: readNansenCredits },
    recordedHeaders: /^x-nansen-credits|^x-nansen-ratelimit-scope$/,
  }),
  cacheCodec: nansenPageCodec,
  create: createNansenProvider,
};
