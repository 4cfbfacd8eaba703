import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateOpenApi, OPENAPI_PATH } from '../src/openapi.js';
import { PROVIDERS } from '../src/providers/index.js';

describe('openapi/netflows.openapi.json', () => {
  it('is what the route schemas generate (run `npm run openapi` after changing a schema)', async () => {
    const committed = readFileSync(OPENAPI_PATH, 'utf8');
    expect(committed).toBe(await generateOpenApi());
  });

  it('documents every route, the problem schema and the sign rule', async () => {
    const doc = JSON.parse(await generateOpenApi());
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/admin/budgets', '/admin/history', '/catalog', '/healthz', '/metrics', '/netflows', '/readyz']);
    expect(Object.keys(doc.components.schemas).sort()).toEqual(['NetflowRecord', 'NetflowsResponse', 'NetflowsWideRow', 'Problem']);
    const netflows = doc.paths['/netflows'].get;
    expect(netflows.responses['400'].content['application/problem+json'].schema.$ref).toBe('#/components/schemas/Problem');
    expect(netflows.description).toContain('positive means');
    expect(netflows.description).toContain('a day without a value inside the window makes the row null');
    expect(netflows.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['token_address', 'as_of']));
    expect(netflows.parameters.find((p: { name: string }) => p.name === 'interval').schema.enum).toEqual(['1d', '1h']);
    expect(netflows.responses['503'].description).toContain('history_unavailable');
    expect(doc.components.schemas.NetflowsResponse.properties.sources.items.properties.coverage.required).toEqual(['buckets', 'with_data']);
  });

  it('types /netflows parameters for generated clients: integers with bounds, booleans, enums from the registry, comma lists as form arrays', async () => {
    const doc = JSON.parse(await generateOpenApi());
    const params = Object.fromEntries(doc.paths['/netflows'].get.parameters.map((p: { name: string }) => [p.name, p])) as Record<string, { schema: Record<string, unknown>; style?: string; explode?: boolean }>;
    expect(params.limit!.schema).toEqual({ type: 'integer', minimum: 1, maximum: 1000, default: 100 });
    expect(params.include_stablecoins!.schema).toEqual({ type: 'boolean', default: false });
    expect(params.min_trader_count!.schema.type).toBe('integer');
    expect(params.min_market_cap_usd!.schema.type).toBe('number');
    expect(params.format!.schema.enum).toEqual(['json', 'csv', 'ndjson']);
    const lists = Object.entries(params).filter(([, p]) => p.schema.type === 'array').map(([name, p]) => [name, p.style, p.explode]);
    expect(lists).toEqual(['source', 'asset', 'entity', 'chain', 'token_address', 'sector', 'sort'].map((name) => [name, 'form', false]));
    expect(Object.values(params).filter((p) => p.schema.type !== 'array').every((p) => p.style === undefined)).toBe(true);
    expect(params.source!.schema.items).toEqual({ type: 'string', enum: PROVIDERS.map((d) => d.id) });
    expect((params.entity!.schema.items as { enum: string[] }).enum).toEqual(PROVIDERS.flatMap((d) => d.catalog.entities.map((e) => e.entity)));
    expect((params.sort!.schema.items as { enum: string[] }).enum).toContain('-net_flow_usd');
    expect(params.start!.schema.anyOf).toContainEqual(expect.objectContaining({ type: 'integer' }));
    expect(doc.components.schemas.Problem.properties.code.enum).toContain('invalid_parameter');
  });
});
