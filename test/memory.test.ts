import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import { startGateway, type GatewayProcess } from './processes.js';

// The deployment's memory settings (deploy/configmap.yaml).
const DEPLOYED = { CACHE_MAX_MB: '256', NODE_OPTIONS: '--max-old-space-size=352 --max-semi-space-size=16' };
const RSS_BOUND_MB = 400;
// Before the fix this flood took the gateway's RSS past 400 MB after about 17,000 answers
// and killed it (heap limit) after about 22,000.
const REQUESTS = 24_000;
const CONCURRENCY = 16;
const PADDING = 'a'.repeat(15_000);

/** Peak resident set of a Linux process, MiB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Spaces spelled `+` or `%20` by the bits of `k`: a unique URL that asks the same question. */
function uniqueSpaces(k: number): string {
  return k.toString(2).replace(/0/g, '+').replace(/1/g, '%20') + '+'.repeat(13_000);
}

let cm: CoinMetricsSim;
let gateway: GatewayProcess;

beforeAll(async () => {
  cm = await startCoinMetricsSim({ apiKey: 'cm-flood-key', rateLimits: false });
  gateway = await startGateway({
    ...DEPLOYED,
    COINMETRICS_API_KEY: 'cm-flood-key',
    COINMETRICS_BASE_URL: cm.url,
    COINMETRICS_RATE_LIMIT: '100000/1s',
  });
});
afterAll(async () => {
  await gateway.stop();
  await cm.close();
});

describe('a flood of requests with unique 15 KB keys', () => {
  it('leaves the gateway alive with its RSS under 400 MB (regression: it died of heap exhaustion)', async () => {
    const pool = new Pool(gateway.base, { connections: CONCURRENCY });
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        const k = next++;
        // Half vary Accept (negotiating JSON), half vary the URL's spelling of one question.
        const request =
          k % 2 === 0
            ? { path: `/netflows?source=coinmetrics&asset=zz${k % 50}&limit=1`, headers: { accept: `application/json, x/${k}-${PADDING}` } }
            : { path: `/netflows?source=coinmetrics&asset=zz${k % 50}${uniqueSpaces(k)}&limit=1`, headers: {} };
        const response = await pool.request({ method: 'GET', ...request });
        await response.body.dump();
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      expect(Object.fromEntries(statuses)).toEqual({ 200: REQUESTS });
      const health = await pool.request({ method: 'GET', path: '/healthz' });
      expect(health.statusCode).toBe(200);
      await health.body.dump();
      expect(peakRssMb(gateway.pid)).toBeLessThan(RSS_BOUND_MB);
    } finally {
      await pool.close();
    }
  }, 120_000);
});
