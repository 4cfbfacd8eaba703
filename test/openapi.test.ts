import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateOpenApi, OPENAPI_PATH } from '../src/openapi.js';

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
});
