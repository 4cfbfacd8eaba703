import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';
import { freePort } from '../processes.js';

// Coin Metrics' published OpenAPI document (the shared upstream notes keep the same file).
const SPEC = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/coinmetrics-openapi-netflows.yaml');
const PRISM = join(dirname(createRequire(import.meta.url).resolve('@stoplight/prism-cli/package.json')), 'dist/index.js');

let prism: ChildProcess;
let stack: Stack;

/** Stoplight Prism in dynamic mode on loopback: every answer made up from the document's schemas. */
async function startPrism(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [PRISM, 'mock', '--dynamic', '--host', '127.0.0.1', '--port', String(port), SPEC], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('Prism is listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`prism exited with ${code}`)));
  });
  return child;
}

beforeAll(async () => {
  const port = await freePort();
  prism = await startPrism(port);
  stack = await startStack({ env: { COINMETRICS_BASE_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'info' } });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  prism?.kill('SIGTERM');
});

const QUERIES = [
  '/netflows?source=coinmetrics&window=7d',
  '/netflows?source=coinmetrics&window=30d&asset=btc,eth',
  '/netflows?source=coinmetrics&window=24h&entity=binance,coinbase',
  '/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-31',
  '/netflows?source=coinmetrics&interval=1d&asset=eth&start=2026-01-01&end=2026-11-20',
  '/netflows?source=coinmetrics&window=7d&asset=sol,xrp,ltc',
];

describe('a Coin Metrics mock made from its OpenAPI document (Prism, dynamic mode)', () => {
  it('cost 151 calls for six ordinary queries (defect 4): now at most two calls per query, each a 502 that is not cached', async () => {
    const callsOf = () => stack.logs.filter((line) => line.includes('"msg":"upstream call"') && line.includes('"upstream":"coinmetrics"')).length;
    for (const url of QUERIES) {
      const before = callsOf();
      const response = await stack.app.inject(url);
      expect(response.statusCode, url).toBe(502);
      expect(response.json().code).toBe('upstream_error');
      expect(callsOf() - before, url).toBeGreaterThanOrEqual(1);
      expect(callsOf() - before, url).toBeLessThanOrEqual(2);
    }
    const again = callsOf();
    await stack.app.inject(QUERIES[0]!);
    expect(callsOf() - again).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
