import type { FastifyPluginAsync } from 'fastify';
import { plainProblemResponses, problemResponses } from '../schema/index.js';
import type { Config } from '../config.js';
import { EXCHANGES } from '../providers/coinmetrics/catalog.js';
import { COHORTS, NANSEN_CHAINS } from '../providers/nansen/catalog.js';
import { SNAPSHOT_WINDOWS } from '../model.js';

const catalogSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sources', 'entities', 'windows', 'intervals', 'smart_money_labels', 'chains', 'default_assets'],
  properties: {
    sources: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'enabled', 'detail'],
        properties: {
          source: { type: 'string' },
          enabled: { type: 'boolean' },
          mode: { type: 'string', description: 'Coin Metrics: community or pro.' },
          detail: { type: 'string' },
        },
      },
    },
    entities: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['entity', 'entity_type', 'name', 'source'],
        properties: {
          entity: { type: 'string' },
          entity_type: { type: 'string', enum: ['exchange', 'smart_money'] },
          name: { type: 'string' },
          source: { type: 'string' },
          coinmetrics_code: { type: 'string' },
          nansen_label: { type: 'string' },
        },
      },
    },
    windows: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    intervals: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    smart_money_labels: { type: 'array', items: { type: 'string' } },
    chains: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    default_assets: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
  },
} as const;

export const catalogRoute: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const body = {
    sources: [
      {
        source: 'coinmetrics',
        enabled: true,
        mode: config.coinmetrics.apiKey ? 'pro' : 'community',
        detail: config.coinmetrics.apiKey
          ? 'Coin Metrics API with the configured key'
          : 'Coin Metrics Community API (no COINMETRICS_API_KEY): community limits, and some exchange flows may be unavailable',
      },
      {
        source: 'nansen',
        enabled: config.nansen.apiKey !== undefined,
        detail: config.nansen.apiKey ? 'Nansen API with the configured key' : 'disabled: no NANSEN_API_KEY is configured',
      },
    ],
    entities: [
      ...EXCHANGES.map((e) => ({ entity: e.slug, entity_type: 'exchange', name: e.name, source: 'coinmetrics', coinmetrics_code: e.code })),
      ...COHORTS.map((c) => ({
        entity: c.entity,
        entity_type: 'smart_money',
        name: c.name,
        source: 'nansen',
        ...(c.label ? { nansen_label: c.label } : {}),
      })),
    ],
    windows: { coinmetrics: ['24h', '7d', '30d'], nansen: [...SNAPSHOT_WINDOWS] },
    intervals: { coinmetrics: ['1d'], nansen: [] },
    smart_money_labels: COHORTS.flatMap((c) => (c.label ? [c.label] : [])),
    chains: { nansen: [...NANSEN_CHAINS], coinmetrics: ['derived from the asset id: btc → bitcoin, usdt_eth → ethereum, …'] },
    default_assets: { coinmetrics: [...config.coinmetrics.assets], nansen: ['every token'] },
  };
  app.get(
    '/catalog',
    {
      schema: {
        summary: 'Sources, entities, windows, intervals, labels, chains and default assets',
        operationId: 'getCatalog',
        tags: ['netflows'],
        security: [{ bearer: [] }, {}],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: {
          200: { description: 'What there is to ask for.', ...catalogSchema },
          ...plainProblemResponses,
          401: problemResponses[401],
          429: problemResponses[429],
        },
      },
    },
    async () => body,
  );
};
