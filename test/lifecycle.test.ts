import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startCoinMetricsSim, type CoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import { drain } from '../src/lifecycle.js';
import { startGateway } from './processes.js';

describe('drain', () => {
  it('turns /readyz 503 as soon as draining starts, then closes', async () => {
    const lifecycle = { draining: false };
    const app = await buildApp({ config: loadConfig({}), lifecycle });
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    lifecycle.draining = true;
    const draining = await app.inject('/readyz');
    expect([draining.statusCode, draining.json(), draining.headers.connection]).toEqual([503, { status: 'draining' }, 'close']);
    expect(await drain(app, lifecycle, 1000)).toBe('closed');
  });
});

describe('SIGTERM', () => {
  let cm: CoinMetricsSim;
  beforeAll(async () => {
    cm = await startCoinMetricsSim({ apiKey: 'cm-shutdown-key' });
  });
  afterAll(() => cm.close());

  const startServer = (env: Record<string, string>) =>
    startGateway({ COINMETRICS_API_KEY: 'cm-shutdown-key', COINMETRICS_BASE_URL: cm.url, ...env });

  it('lets a slow request finish, then exits 0', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '5000' });
    cm.setFault({ kind: 'slow', delayMs: 1500 });
    const slow = request(`${server.base}/netflows?source=coinmetrics&limit=3`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.signal('SIGTERM');
    const response = await slow;
    expect(response.statusCode).toBe(200);
    expect(response.headers.connection).toBe('close');
    expect(((await response.body.json()) as { data: unknown[] }).data).toHaveLength(3);
    expect(await server.exited).toBe(0);
    await expect(request(`${server.base}/healthz`)).rejects.toThrow();
    cm.setFault(null);
  });

  it('does not wait for a connection that never sent a request (regression: the soak exited 1)', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '3000' });
    const socket = connect(Number(new URL(server.base).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    server.signal('SIGTERM');
    expect(await server.exited).toBe(0);
    await closed;
  });

  it('cuts requests that outlast the grace and exits 1', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '300', UPSTREAM_TIMEOUT_MS: '5000' });
    cm.setFault({ kind: 'hang' });
    const hung = request(`${server.base}/netflows?source=coinmetrics`).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.signal('SIGTERM');
    expect(await server.exited).toBe(1);
    expect(await hung).toBeInstanceOf(Error);
    cm.setFault(null);
  });
});
