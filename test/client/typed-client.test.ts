import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoOrigin, startDemo } from '../demo/start.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
const DAY = 86_400_000;

/**
 * What a service author writes with the generated types: typed numbers, lists, booleans
 * and enums in, typed records, catalog and problems out; no cast, no non-null assertion.
 */
const CLIENT = `import createClient from 'openapi-fetch';
import type { components, paths } from './netflows.js';

type NetflowRecord = components['schemas']['NetflowRecord'];
type Row = NetflowRecord | components['schemas']['NetflowsWideRow'];

const client = createClient<paths, 'application/json' | 'application/problem+json'>({
  baseUrl: process.argv[2],
  // The gateway's lists are comma-separated, as the document says (style form, explode false).
  querySerializer: { array: { style: 'form', explode: false } },
});

/** A long answer's rows are records; a wide row has a time. */
function recordsOf(rows: Row[]): NetflowRecord[] {
  const records: NetflowRecord[] = [];
  for (const row of rows) if (!('time' in row)) records.push(row);
  return records;
}

const exchanges = await client.GET('/netflows', {
  params: { query: { source: ['coinmetrics'], window: '7d', asset: ['btc', 'eth'], entity: ['binance', 'kraken', 'coinbase'], sort: ['-net_flow_usd'], limit: 3 } },
});
if (exchanges.error) throw new Error(exchanges.error.detail);

const smartMoney = await client.GET('/netflows', {
  params: { query: { source: ['nansen'], include_stablecoins: false, min_trader_count: 2, window: '24h', limit: 3, format: 'json' } },
});
if (smartMoney.error) throw new Error(smartMoney.error.detail);
const traders: number[] = recordsOf(smartMoney.data.data).map((r) => r.trader_count ?? -1);

const end = Date.now() - 2 * ${DAY};
const start = end - 6 * ${DAY};
const wide = await client.GET('/netflows', {
  params: { query: { interval: '1d', start, end, shape: 'wide', measure: 'net_flow_native', asset: ['btc'], entity: ['binance'] } },
});
if (wide.error) throw new Error(wide.error.detail);
const times: string[] = [];
for (const row of wide.data.data) if ('time' in row) times.push(row.time);

const catalog = await client.GET('/catalog');
if (catalog.error) throw new Error(catalog.error.detail);
const exchangeSlugs: string[] = catalog.data.entities.filter((e) => e.entity_type === 'exchange').map((e) => e.entity);

// Within the types, out of bounds: the gateway names the parameter.
const tooMany = await client.GET('/netflows', { params: { query: { limit: 5000 } } });
const conflict = await client.GET('/netflows', { params: { query: { window: '7d', interval: '1d' } } });
const problems = [tooMany, conflict].map(({ error, response }) => ({ status: response.status, code: error?.code, param: error?.param }));

console.log(JSON.stringify({
  exchanges: recordsOf(exchanges.data.data),
  complete: exchanges.data.complete,
  traders,
  range: { start, end },
  wide: wide.data.data,
  times,
  exchangeSlugs,
  problems,
}));
`;

describe('a typed client generated from /openapi.json', () => {
  let demo: Awaited<ReturnType<typeof startDemo>>;
  let origin: string;
  let dir: string;
  beforeAll(async () => {
    demo = await startDemo({});
    origin = demoOrigin(demo.lines);
    // Inside the repository, so the program finds openapi-fetch and the Node types in its node_modules.
    dir = mkdtempSync(join(ROOT, '.typed-client-'));
  }, 60_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await demo?.stop();
  });

  it('compiles typed calls of /netflows (numbers, lists, booleans, enums), /catalog and a problem under tsc --strict, and gets what a plain request gets', async () => {
    await run(bin('openapi-typescript'), [`${origin}/openapi.json`, '-o', join(dir, 'netflows.ts')], { cwd: ROOT });
    writeFileSync(join(dir, 'client.ts'), CLIENT);
    expect(CLIENT).not.toMatch(/\bas\s+[A-Z{]|<[A-Z]\w*>\s*\w|!\./);

    const tsc = await run(bin('tsc'), ['--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', join(dir, 'client.ts')], { cwd: ROOT }).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout, failed: true }),
    );
    expect(tsc.stdout).toBe('');

    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(dir, 'client.ts'), origin], { cwd: ROOT });
    const out = JSON.parse(stdout) as {
      exchanges: { entity: string; asset: string }[];
      complete: boolean;
      traders: number[];
      range: { start: number; end: number };
      wide: Record<string, unknown>[];
      times: string[];
      exchangeSlugs: string[];
      problems: { status: number; code: string; param: string }[];
    };
    const plain = async (path: string) => (await (await request(`${origin}${path}`)).body.json()) as { data: unknown[] };

    expect(out.exchanges).toHaveLength(3);
    expect(out.exchanges).toEqual((await plain('/netflows?source=coinmetrics&window=7d&asset=btc,eth&entity=binance,kraken,coinbase&sort=-net_flow_usd&limit=3')).data);
    expect(out.exchanges.every((r) => ['btc', 'eth'].includes(r.asset) && ['binance', 'kraken', 'coinbase'].includes(r.entity))).toBe(true);
    expect(out.complete).toBe(true);
    expect(out.traders).toHaveLength(3);
    expect(out.traders.every((n) => n >= 2)).toBe(true);

    const { start, end } = out.range;
    expect(out.wide).toEqual((await plain(`/netflows?interval=1d&start=${start}&end=${end}&shape=wide&measure=net_flow_native&asset=btc&entity=binance`)).data);
    expect(out.times).toHaveLength(7);
    expect(out.times[6]).toBe(new Date(Math.floor(end / DAY) * DAY).toISOString().replace('.000Z', 'Z'));

    expect(out.exchangeSlugs).toEqual(expect.arrayContaining(['binance', 'kraken', 'coinbase']));
    expect(out.problems).toEqual([
      { status: 400, code: 'invalid_parameter', param: 'limit' },
      { status: 400, code: 'invalid_parameter', param: 'interval' },
    ]);
  }, 120_000);
});
