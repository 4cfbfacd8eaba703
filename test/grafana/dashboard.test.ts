import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonata from 'jsonata';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { listening, startDemo } from '../demo/start.js';

// deploy/grafana/ as Grafana and its Infinity data source would use it, against `npm run demo`
// with caller tokens on: the provisioning files with Grafana's environment filled in, every
// variable asked for from the gateway, every panel's URL with the macros filled as Grafana
// fills them, and each answer checked against what that panel's parser settings expect.

const DIR = 'deploy/grafana';
const TOKEN = 'grafana-caller-token-3f9c1a7e';
const SLOW = 180_000;

interface InfinityColumn {
  selector: string;
  text: string;
  type: 'string' | 'number' | 'timestamp' | 'timestamp_epoch' | 'timestamp_epoch_s';
  timestampFormat?: string;
}
interface InfinityQuery {
  type: string;
  source: string;
  parser: string;
  format: string;
  url: string;
  url_options: { method: string };
  root_selector: string;
  columns: InfinityColumn[];
}
interface Variable {
  name: string;
  query: { queryType: string; infinityQuery: InfinityQuery };
  current: { value: string | string[] };
  multi: boolean;
  includeAll: boolean;
}
interface Panel {
  title: string;
  type: string;
  timeFrom?: string;
  targets: InfinityQuery[];
  transformations?: { id: string; options: { conversions?: { targetField: string; destinationType: string }[] } }[];
}
interface Dashboard {
  time: { from: string; to: string };
  templating: { list: Variable[] };
  panels: Panel[];
}
interface DataSource {
  type: string;
  url: string;
  jsonData: { auth_method: string; allowedHosts: string[]; customHealthCheckEnabled: boolean; customHealthCheckUrl: string };
  secureJsonData: { bearerToken: string };
}
type Row = Record<string, unknown>;

/** Grafana's provisioning reads `$VAR` and `${VAR}` from its environment. */
function grafanaEnv(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => env[(braced ?? bare)!] ?? '');
}

/** Go's url.Values.Encode, which Infinity rebuilds every query string with: keys sorted, values form-encoded. */
function goEncode(params: URLSearchParams): string {
  return [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => new URLSearchParams({ [k]: v }).toString()).join('&');
}

/** An Infinity GET: the data source URL in front of a path, the query string rebuilt, only to allowed hosts, with the bearer token. */
async function infinityGet(ds: DataSource, url: string, token: string | undefined = ds.secureJsonData.bearerToken) {
  const full = new URL(url.startsWith(ds.url) ? url : ds.url + url);
  full.search = goEncode(full.searchParams);
  expect(ds.jsonData.allowedHosts.some((host) => full.href.startsWith(host))).toBe(true);
  const headers: Record<string, string> = ds.jsonData.auth_method === 'bearerToken' && token ? { authorization: `Bearer ${token}` } : {};
  const response = await request(full, { headers });
  return { status: response.statusCode, body: (await response.body.json()) as unknown };
}

/** The backend parser's rows: the root selector (a gjson path, else JSONata) applied to the answer. */
async function rowsOf(body: unknown, query: InfinityQuery): Promise<Row[]> {
  const selected = (await jsonata(query.root_selector).evaluate(body)) as unknown;
  const rows = Array.isArray(selected) ? selected : [selected];
  for (const row of rows) expect(typeof row === 'object' && row !== null && !Array.isArray(row)).toBe(true);
  return rows as Row[];
}

/** RFC 3339, what Go's layout 2006-01-02T15:04:05Z07:00 reads (and Grafana's time conversion takes). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})$/;

/** Every listed column in every row, of its type: what the backend parser turns into typed fields. */
function checkColumns(rows: Row[], columns: InfinityColumn[]): void {
  for (const row of rows) {
    for (const column of columns) {
      expect(row, column.selector).toHaveProperty([column.selector]);
      const value = row[column.selector];
      if (value === null) continue;
      if (column.type === 'number') expect(typeof value, column.selector).toBe('number');
      if (column.type === 'string') expect(typeof value, column.selector).toBe('string');
      if (column.type === 'timestamp') {
        expect(column.timestampFormat).toBe('2006-01-02T15:04:05Z07:00');
        expect(value).toMatch(RFC3339);
      }
    }
  }
}

/**
 * A wide answer as the backend parser infers it with no columns listed and the panel's
 * time conversion: one `time` column, RFC 3339, ascending, inside the range; every row with
 * every column; every other column a JSON number or null (a field's type is taken from its
 * first value). Returns the series columns.
 */
function checkWide(rows: Row[], panel: Panel, from: number, to: number): string[] {
  const conversions = panel.transformations?.flatMap((t) => (t.id === 'convertFieldType' ? (t.options.conversions ?? []) : [])) ?? [];
  expect(conversions).toContainEqual({ targetField: 'time', destinationType: 'time' });
  expect(rows.length).toBeGreaterThan(0);
  const columns = Object.keys(rows[0]!).sort();
  expect(columns).toContain('time');
  const series = columns.filter((c) => c !== 'time');
  expect(series.length).toBeGreaterThan(0);
  let previous = Number.NEGATIVE_INFINITY;
  let numbers = 0;
  for (const row of rows) {
    expect(Object.keys(row).sort()).toEqual(columns);
    expect(row.time).toMatch(RFC3339);
    const time = Date.parse(row.time as string);
    expect(time).toBeGreaterThan(previous);
    expect(time).toBeGreaterThanOrEqual(from - 86_400_000);
    expect(time).toBeLessThanOrEqual(to);
    previous = time;
    for (const column of series) {
      const value = row[column];
      expect(value === null || (typeof value === 'number' && Number.isFinite(value)), `${column}: ${String(value)}`).toBe(true);
      if (value !== null) numbers++;
    }
  }
  expect(numbers).toBeGreaterThan(0);
  return series;
}

/** Grafana's relative time: `90d`, `48h`, `now-7d`. */
function rangeMs(relative: string): number {
  const match = /^(?:now-)?(\d+)([hd])$/.exec(relative)!;
  return Number(match[1]) * (match[2] === 'd' ? 86_400_000 : 3_600_000);
}

/** Grafana's interpolation: `${name}` the value, `${name:csv}` the values joined with commas, `${__from}`/`${__to}` epoch ms. */
function fill(url: string, values: Record<string, string[]>, range?: { from: number; to: number }): string {
  const filled = url.replace(/\$\{(\w+)(?::(\w+))?\}/g, (whole, name: string, format: string | undefined) => {
    if (name === '__from' && range) return String(range.from);
    if (name === '__to' && range) return String(range.to);
    const value = values[name];
    if (!value) return whole;
    if (format === 'csv' || value.length === 1) return value.join(',');
    throw new Error(`${whole} has several values and no format`);
  });
  expect(filled).not.toContain('$');
  return filled;
}

const ds = (env: Record<string, string>) => (parse(grafanaEnv(readFileSync(`${DIR}/provisioning/datasources/netflows-gateway.yaml`, 'utf8'), env)) as { datasources: DataSource[] }).datasources[0]!;
const dashboard = JSON.parse(readFileSync(`${DIR}/dashboards/netflows-gateway.json`, 'utf8')) as Dashboard;

let demo: Awaited<ReturnType<typeof startDemo>>;
let base: string;
let tokensDir: string;

beforeAll(async () => {
  tokensDir = mkdtempSync(join(tmpdir(), 'grafana-callers-'));
  const tokensFile = join(tokensDir, 'callers.json');
  writeFileSync(tokensFile, JSON.stringify([{ name: 'grafana', sha256: createHash('sha256').update(TOKEN).digest('hex'), rate_limit: '600/1m' }]));
  // Ready once it listens and its history is seeded (the hourly curl line): Nansen's hourly series have rows.
  demo = await startDemo({ CALLER_TOKENS_FILE: tokensFile }, (lines) => listening(lines) && lines.some((l) => l.includes("curl '") && l.includes('interval=1h')));
  base = new URL(/curl '([^']+)'/.exec(demo.lines.find((l) => l.includes('interval=1h'))!)![1]!).origin;
}, SLOW);

afterAll(async () => {
  await demo?.stop();
  rmSync(tokensDir, { recursive: true, force: true });
});

describe('deploy/grafana against the demo', () => {
  it('provisions an Infinity data source on the gateway with the caller token, whose health check passes with it and not without', async () => {
    const source = ds({ NETFLOWS_GATEWAY_URL: base, NETFLOWS_CALLER_TOKEN: TOKEN });
    expect(source).toMatchObject({ type: 'yesoreyeram-infinity-datasource', url: base, jsonData: { auth_method: 'bearerToken', customHealthCheckEnabled: true } });
    expect(source.secureJsonData.bearerToken).toBe(TOKEN);
    expect((await infinityGet(source, source.jsonData.customHealthCheckUrl)).status).toBe(200);
    const without = await infinityGet(source, source.jsonData.customHealthCheckUrl, '');
    expect(without.status).toBe(401);
    expect(without.body).toMatchObject({ code: 'unauthenticated' });
  });

  it("fills every variable from the gateway and gets, for every panel, an answer its parser settings take", async () => {
    const source = ds({ NETFLOWS_GATEWAY_URL: base, NETFLOWS_CALLER_TOKEN: TOKEN });
    const values: Record<string, string[]> = {};
    for (const variable of dashboard.templating.list) {
      const query = variable.query.infinityQuery;
      expect(variable.query.queryType).toBe('infinity');
      const answer = await infinityGet(source, fill(query.url, values));
      expect(answer.status, variable.name).toBe(200);
      const rows = await rowsOf(answer.body, query);
      checkColumns(rows, query.columns);
      const options = [...new Set(rows.map((row) => row[query.columns[0]!.selector] as string))];
      expect(options.length, variable.name).toBeGreaterThan(0);
      const current = [variable.current.value].flat();
      if (variable.includeAll && current.includes('$__all')) values[variable.name] = options;
      else {
        expect(options, variable.name).toEqual(expect.arrayContaining(current));
        values[variable.name] = current;
      }
    }
    const catalog = (await infinityGet(source, '/catalog')).body as { windows: Record<string, string[]>; entities: { entity: string; source: string; assets?: string[] }[] };
    expect(values.window).toEqual(['24h']);
    expect(values.tokens!.length).toBeGreaterThan(1);

    const now = Date.now();
    const answers = new Map<string, Row[]>();
    for (const panel of dashboard.panels) {
      const [query] = panel.targets;
      expect(query).toMatchObject({ type: 'json', source: 'url', parser: 'backend', url_options: { method: 'GET' } });
      const range = { from: now - rangeMs(panel.timeFrom ?? dashboard.time.from), to: now };
      const answer = await infinityGet(source, fill(query!.url, values, range));
      expect(answer.status, `${panel.title}: ${JSON.stringify(answer.body)}`).toBe(200);
      const rows = await rowsOf(answer.body, query!);
      if (query!.columns.length > 0) {
        expect(rows.length).toBeGreaterThan(0);
        checkColumns(rows, query!.columns);
        expect(new Set(rows.map((row) => row.source))).toEqual(new Set(['coinmetrics', 'nansen']));
      } else {
        expect(panel.type).toBe('timeseries');
        expect(query!.format).toBe('timeseries');
        answers.set(panel.title, rows);
        const series = checkWide(rows, panel, range.from, range.to);
        if (query!.url.includes('source=coinmetrics')) {
          // One line per exchange: every exchange /catalog lists the asset for.
          const exchanges = catalog.entities.filter((e) => e.source === 'coinmetrics' && e.assets?.includes(values.asset![0]!)).map((e) => e.entity);
          expect(series.map((c) => c.split(':')[0]).sort()).toEqual(exchanges.sort());
        } else {
          // <entity>:<token>:<chain>, one column per top token on each of its chains.
          const prefix = `${values.entity![0]}:`;
          for (const column of series) {
            expect(column.startsWith(prefix)).toBe(true);
            expect(values.tokens).toContain(column.slice(prefix.length).split(':')[0]);
          }
        }
      }
    }
    expect(answers.size).toBe(2);
  }, SLOW);
});
