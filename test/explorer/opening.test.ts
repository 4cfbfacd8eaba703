/// <reference lib="dom" />
// page.evaluate() callbacks run in the browser: they see the DOM.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { seedHistory } from '../../src/demo/seed.js';
import type { NetflowRecord } from '../../src/model.js';
import { NOW, startStack, type Stack } from '../helpers.js';
import { TestStore } from '../history/helpers.js';
import { SCREENSHOTS, SharedChromium, WatchedPage } from './browser.js';

// What a person sees on opening the explorer of a gateway that has recorded Nansen for a while:
// the week's leaderboard and smart money's hourly chart, in Chromium, from the gateway's own answers.

const SLOW = 90_000;
const DOCS = join(import.meta.dirname, '..', '..', 'docs');
const chromium = new SharedChromium();
let store: TestStore;
let stack: Stack;
let origin: string;

beforeAll(async () => {
  store = await TestStore.start('pglite');
  stack = await startStack({ history: store.history });
  await seedHistory(store.history, loadConfig({ NANSEN_RECORD: 'smart_money@all,smart_money:fund@all' }).sources.nansen.recordSets, NOW, 3);
  origin = await stack.app.listen({ host: '127.0.0.1', port: 0 });
}, SLOW);

afterAll(async () => {
  await chromium.close();
  await stack?.close();
  await store?.stop();
});

async function data(path: string): Promise<NetflowRecord[]> {
  const response = await fetch(`${origin}${path}`);
  expect(response.status, path).toBe(200);
  return ((await response.json()) as { data: NetflowRecord[] }).data;
}

it('opens on the week\'s leaderboard and smart money\'s hourly chart of the tokens it bought most', async () => {
  const w = await WatchedPage.open(await chromium.get(), { height: 1500 });
  try {
    await w.page.goto(`${origin}/`);
    expect(await w.settled()).toBe('done');
    expect(await w.page.getAttribute('#smart-money', 'data-state')).toBe('done');

    const top = [...new Set((await data('/netflows?source=nansen&window=24h&limit=5')).map((r) => r.asset))];
    const series = await data(`/netflows?source=nansen&interval=1h&asset=${top.join(',')}&limit=1000`);
    const hours = new Set(series.filter((r) => r.net_flow_usd !== null).map((r) => r.period_start));
    const lines = new Set(series.map((r) => [r.entity, r.asset, r.chain, r.token_address].join('|')));
    expect(hours.size).toBe(48);
    expect(Number(await w.page.getAttribute('#smart-money-chart', 'data-lines'))).toBe(lines.size);
    expect(Number(await w.page.getAttribute('#smart-money-chart', 'data-points'))).toBe(series.filter((r) => r.net_flow_usd !== null).length);
    expect(await w.page.locator('#smart-money-chart canvas').count()).toBeGreaterThan(0);
    const legend = await w.page.locator('#smart-money-chart .u-legend').textContent();
    for (const asset of top) expect(legend).toContain(asset);
    expect(await w.page.textContent('#smart-money-summary')).toBe(
      `Smart money's hourly net flow over the last 48 hours of ${top.join(', ')}: the tokens it bought most in the last 24 hours (48 recorded hours).`,
    );
    expect(await w.page.locator('#leaderboard tbody tr[data-source]').count()).toBe(25);
    expect(w.consoleErrors).toEqual([]);
    expect(w.pageErrors).toEqual([]);

    await w.screenshot('opening', { fullPage: false });
    // The README's picture of the explorer is this screenshot.
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      mkdirSync(DOCS, { recursive: true });
      copyFileSync(join(SCREENSHOTS, 'opening.png'), join(DOCS, 'explorer.png'));
    }
  } finally {
    await w.close();
  }
}, SLOW);
