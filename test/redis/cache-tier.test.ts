import { Redis } from 'ioredis';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../../src/demo/sim/nansen.js';
import type { TokenFlows } from '../../src/providers/nansen/normalize.js';
import { nansenPageCodec, type CachedPage } from '../../src/providers/nansen/page-codec.js';
import { RedisCacheTier } from '../../src/redis/cache-tier.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { startGateway, TestRedis, type GatewayProcess } from '../processes.js';

const NANSEN_KEY = 'nsk_tier_test_3c9';
let redis: TestRedis;
let nansen: NansenSim;
let cm: CoinMetricsSim;
let observer: Redis;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  redis = await TestRedis.start();
  nansen = await startNansenSim({ apiKey: NANSEN_KEY });
  cm = await startCoinMetricsSim();
  observer = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  const env = { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '5000', NANSEN_BASE_URL: nansen.url, NANSEN_API_KEY: NANSEN_KEY, COINMETRICS_BASE_URL: cm.url };
  [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  observer?.disconnect();
  await Promise.all([nansen?.close(), cm?.close(), redis?.kill()]);
});

async function get(replica: GatewayProcess, path: string) {
  const response = await request(`${replica.base}${path}`);
  const text = await response.body.text();
  expect(response.statusCode, text).toBe(200);
  return { cacheStatus: String(response.headers['cache-status']), body: JSON.parse(text) as { data: unknown[] } };
}

/** Commands Redis ran since the last reset, by name (INFO commandstats). */
async function commandsSince(): Promise<Record<string, number>> {
  const info = await observer.info('commandstats');
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2]);
  delete counts.info;
  for (const name of Object.keys(counts)) if (name.startsWith('config')) delete counts[name];
  return counts;
}

const question = (n: number, limit: number) => `/netflows?source=nansen&limit=${limit}&min_market_cap_usd=${n}`;

describe('a replica answering from the Redis tier', () => {
  it('reads a fresh entry another replica stored with one command, then answers the same page from its own memory with none', async () => {
    await get(a, question(7, 100));
    const calls = nansen.requests.length;
    // Let A's write of the entry reach Redis before counting.
    await expect.poll(async () => (await observer.keys('*cache:*')).length).toBeGreaterThan(0);

    await observer.config('RESETSTAT');
    const fromRedis = await get(b, question(7, 99));
    expect(fromRedis.cacheStatus).toContain('netflows-nansen; hit');
    expect(fromRedis.body.data).toHaveLength(99);
    expect(await commandsSince()).toEqual({ get: 1 });

    await observer.config('RESETSTAT');
    const fromMemory = await get(b, question(7, 98));
    expect(fromMemory.cacheStatus).toContain('netflows-nansen; hit');
    expect(await commandsSince()).toEqual({});
    expect(nansen.requests.length).toBe(calls);
  });
});

describe('the compact form of a Nansen page in Redis', () => {
  const token = (symbol: string, over: Partial<TokenFlows> = {}): TokenFlows => ({
    symbol,
    chain: 'ethereum',
    tokenAddress: `0x${symbol.padStart(40, '0')}`,
    flowsUsd: { '1h': 1.5, '24h': -2.25, '7d': 1234567.891, '30d': -0.000123 },
    marketCapUsd: 98765432109.87,
    traderCount: 42,
    tokenAgeDays: 365,
    sectors: ['DeFi', 'Layer 1'],
    ...over,
  });
  const page: CachedPage = {
    isLastPage: true,
    fetchedAt: 1_764_650_000_123,
    tokens: [
      token('eth'),
      token('nulls', { tokenAddress: null, flowsUsd: { '1h': null, '24h': null, '7d': null, '30d': null }, marketCapUsd: null, traderCount: null, tokenAgeDays: null, sectors: [] }),
      token('large', {
        flowsUsd: { '1h': Number.MAX_SAFE_INTEGER + 2, '24h': -1.7976931348623157e308, '7d': 5e-324, '30d': 0.1 + 0.2 },
        marketCapUsd: Number.MAX_SAFE_INTEGER * 1024 + 0.5 * 2 ** 20,
        traderCount: 2 ** 40,
        tokenAgeDays: 0,
      }),
      token('ünï "quoted" \\ 🦄', { chain: 'solana', sectors: ['AI', 'Meme', 'Gaming', 'a,b|c'] }),
    ],
  };

  async function withTier(run: (tier: RedisCacheTier, connection: RedisConnection) => Promise<void>) {
    const connection = new RedisConnection({ url: redis.url, keyPrefix: 'codec-test:', logger: pino({ level: 'silent' }) });
    await connection.waitUntilReady(2000);
    try {
      await run(new RedisCacheTier(connection, undefined, new Map([['nansen', nansenPageCodec]])), connection);
    } finally {
      await connection.close();
    }
  }

  it('gives back every field of every token exactly, with the entry\'s times and size', async () => {
    await withTier(async (tier) => {
      await tier.set('nansen|{"page":1}', { value: page, storedAt: 1_764_650_000_200, freshUntil: 1_764_650_060_200, sizeBytes: 12_345 }, 60_000);
      const read = await tier.get<CachedPage>('nansen|{"page":1}');
      expect(read).toStrictEqual({ value: page, storedAt: 1_764_650_000_200, freshUntil: 1_764_650_060_200, sizeBytes: 12_345 });
      for (const [i, t] of read!.value.tokens.entries()) expect(Object.keys(t)).toEqual(Object.keys(page.tokens[i]!));
    });
  });

  it('is a flat array, shorter than the page as JSON, holds no field names and no number in decimal', async () => {
    await withTier(async (tier) => {
      await tier.set('nansen|{"page":2}', { value: page, storedAt: 1, freshUntil: 2, sizeBytes: 1 }, 60_000);
      const text = (await observer.get('codec-test:cache:v3:nansen|{"page":2}'))!;
      const stored = JSON.parse(text) as { v: unknown };
      expect(Array.isArray(stored.v)).toBe(true);
      expect(text).not.toContain('marketCapUsd');
      expect(text.length).toBeLessThan(JSON.stringify(page).length);
      expect(text).not.toContain('98765432109.87');
      expect(text).not.toContain('1234567.891');
    });
  });

  it('reads an entry of another shape under a Nansen key as a miss, not a page', async () => {
    await withTier(async (tier) => {
      await observer.set('codec-test:cache:v3:nansen|{"page":3}', JSON.stringify({ v: { tokens: [] }, s: 1, t: [1, 2] }));
      expect(await tier.get('nansen|{"page":3}')).toBeUndefined();
      // The numbers of one token fewer than the texts name.
      await tier.set('nansen|{"page":4}', { value: page, storedAt: 1, freshUntil: 2, sizeBytes: 1 }, 60_000);
      const stored = JSON.parse((await observer.get('codec-test:cache:v3:nansen|{"page":4}'))!) as { v: unknown[] };
      stored.v[2] = Buffer.from(stored.v[2] as string, 'base64').subarray(7 * 8).toString('base64');
      await observer.set('codec-test:cache:v3:nansen|{"page":4}', JSON.stringify(stored));
      expect(await tier.get('nansen|{"page":4}')).toBeUndefined();
    });
  });
});
