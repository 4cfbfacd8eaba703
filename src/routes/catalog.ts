import type { FastifyPluginAsync } from 'fastify';
import { sourceConfig, type Config } from '../config.js';
import type { EntityAssets, Provider } from '../model.js';
import type { JsonSchema, Registry } from '../providers/descriptor.js';
import { entityTypes, plainProblemResponses, problemResponses } from '../schema/index.js';

const stringList = { type: 'array', items: { type: 'string' } } as const;
const listsBySource = { type: 'object', additionalProperties: stringList } as const;

/** /catalog's schema: the registry's entity types, each source's entity fields and top-level lists. */
function catalogSchema(registry: Registry) {
  const entityFields: Record<string, JsonSchema> = Object.assign({}, ...registry.map((d) => d.catalog.entityFields ?? {}));
  const lists = Object.fromEntries(registry.flatMap((d) => Object.keys(d.catalog.lists ?? {})).map((name) => [name, stringList]));
  const source = { type: 'string', enum: registry.map((d) => d.id) } as const;
  return {
    type: 'object',
    additionalProperties: false,
    required: ['sources', 'entities', 'windows', 'intervals', ...Object.keys(lists), 'chains', 'default_assets'],
    properties: {
      sources: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'enabled', 'detail'],
          properties: {
            source,
            enabled: { type: 'boolean' },
            mode: { type: 'string', description: 'Coin Metrics: community or pro.' },
            detail: { type: 'string' },
            entity_assets: {
              type: 'object',
              description: "Where the `assets` of this source's entities come from: its own catalog, or the configured default assets when that catalog could not be read (and why).",
              additionalProperties: false,
              required: ['from', 'detail'],
              properties: { from: { type: 'string', enum: ['upstream_catalog', 'configured'] }, detail: { type: 'string' } },
            },
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
            entity_type: { type: 'string', enum: entityTypes(registry) },
            name: { type: 'string' },
            source,
            ...entityFields,
            assets: { ...stringList, description: "The assets this entity has net flows for, where its source says (Coin Metrics' catalog)." },
          },
        },
      },
      windows: listsBySource,
      intervals: listsBySource,
      ...lists,
      chains: listsBySource,
      default_assets: listsBySource,
    },
  } as const;
}

/** What there is to ask for, from each registered source's descriptor and configuration; intervals from recorded history while there is one. */
function catalogBody(config: Config<Registry>, registry: Registry, history: boolean) {
  const bySource = (read: (d: Registry[number]) => readonly string[]) => Object.fromEntries(registry.map((d) => [d.id, [...read(d)]]));
  return {
    sources: registry.map((d) => {
      const status = d.status(sourceConfig(config, d));
      if (!status.enabled) return { source: d.id, enabled: false, detail: `disabled: ${status.because}` };
      return { source: d.id, enabled: true, ...(status.mode ? { mode: status.mode } : {}), detail: status.detail };
    }),
    entities: registry.flatMap((d) => d.catalog.entities.map((e) => ({ entity: e.entity, entity_type: d.entityType, name: e.name, source: d.id, ...e.fields }))),
    windows: bySource((d) => d.catalog.windows),
    intervals: bySource((d) => [...d.catalog.intervals, ...(history ? (d.catalog.historyIntervals ?? []) : [])]),
    ...Object.assign({}, ...registry.map((d) => d.catalog.lists ?? {})),
    chains: bySource((d) => d.catalog.chains),
    default_assets: bySource((d) => d.defaultAssets(sourceConfig(config, d))),
  };
}

/** The static body with each source's entity assets as they stand now: `assets` on its entities, `entity_assets` on its source. */
async function withEntityAssets<B extends { sources: { source: string }[]; entities: { source: string; entity: string }[] }>(body: B, providers: readonly Provider[]) {
  const answers = await Promise.all(providers.map(async (p) => [p.id, await p.entityAssets?.()] as const));
  const bySource = new Map(answers.filter((a): a is readonly [string, EntityAssets] => a[1] !== undefined));
  if (bySource.size === 0) return body;
  return {
    ...body,
    sources: body.sources.map((s) => {
      const assets = bySource.get(s.source);
      return assets ? { ...s, entity_assets: { from: assets.from, detail: assets.detail } } : s;
    }),
    entities: body.entities.map((e) => {
      const assets = bySource.get(e.source)?.byEntity[e.entity];
      return assets ? { ...e, assets: [...assets] } : e;
    }),
  };
}

export interface CatalogOptions {
  config: Config<Registry>;
  registry: Registry;
  /** The enabled sources' providers: those that say which assets each entity has are asked on every request (they cache). */
  providers: readonly Provider[];
  /** The gateway keeps history: the intervals answered from it are listed. */
  history: boolean;
}

export const catalogRoute: FastifyPluginAsync<CatalogOptions> = async (app, { config, registry, providers, history }) => {
  const body = catalogBody(config, registry, history);
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
          200: { description: 'What there is to ask for.', ...catalogSchema(registry) },
          ...plainProblemResponses,
          401: problemResponses[401],
          429: problemResponses[429],
        },
      },
    },
    async () => withEntityAssets(body, providers),
  );
};
