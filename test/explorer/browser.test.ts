/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate() callbacks run in the browser: they see the DOM.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXPLORER_CSP } from '../../src/explorer/plugin.js';
import { startStack, type Stack } from '../helpers.js';
import { SharedChromium, WatchedPage } from './browser.js';

// The explorer in Debian's Chromium, against the gateway over the simulators on a real port.
// One browser for the file; a fresh context (storage, cache) per test.

const TOKEN = 'explorer-token-7d1e';
const PAGE_FILES = new Set(['/', '/explorer/explorer.js', '/explorer/explorer.css', '/explorer/favicon.svg']);
const SLOW = 60_000;

interface Row {
  source: string;
  entity: string;
  asset: string;
  chain: string | null;
  token_address: string | null;
  net_flow_usd: number | null;
  net_flow_native: number | null;
}

const chromium = new SharedChromium();
let stack: Stack;
let origin: string;
let watched: WatchedPage | undefined;

beforeAll(async () => {
  stack = await startStack();
  origin = await stack.app.listen({ host: '127.0.0.1', port: 0 });
}, SLOW);

afterAll(async () => {
  await chromium.close();
  await stack?.close();
});

beforeEach(async () => {
  stack.reset();
  await watched?.close();
  watched = undefined;
});

async function open(options: { width?: number; at?: string } = {}): Promise<WatchedPage> {
  watched = await WatchedPage.open(await chromium.get(), options.width ? { width: options.width } : {});
  await watched.page.goto(`${options.at ?? origin}/`);
  return watched;
}

async function getJson(base: string, path: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Every row of a series, following next_cursor as the page does. */
async function allRows(path: string): Promise<Row[]> {
  const rows: Row[] = [];
  let next: string | null = path;
  while (next) {
    const { body } = await getJson(origin, next);
    rows.push(...(body.data as Row[]));
    next = body.next_cursor ? `${path}&cursor=${body.next_cursor as string}` : null;
  }
  return rows;
}

/** The leaderboard as the page shows it: identity from the row, numbers from the cells' data-value. */
function tableRows(w: WatchedPage) {
  return w.page.$$eval('#leaderboard tbody tr[data-source]', (trs) =>
    trs.map((tr) => {
      const value = (field: string) => {
        const text = tr.querySelector<HTMLElement>(`td.${field}`)!.dataset.value!;
        return text === '' ? null : Number(text);
      };
      const d = (tr as HTMLElement).dataset;
      return {
        source: d.source!,
        entity: d.entity!,
        asset: d.asset!,
        chain: d.chain || null,
        token_address: d.tokenAddress || null,
        net_flow_usd: value('net_flow_usd'),
        net_flow_native: value('net_flow_native'),
        usd_text: tr.querySelector('td.net_flow_usd')!.textContent,
      };
    }),
  );
}

const pick = ({ source, entity, asset, chain, token_address, net_flow_usd, net_flow_native }: Row) => ({
  source, entity, asset, chain, token_address, net_flow_usd, net_flow_native,
});
const usdText = (v: number | null) => (v === null ? 'no value' : new Intl.NumberFormat('en-US', { maximumFractionDigits: 0, signDisplay: 'exceptZero' }).format(v));

describe('the explorer in Chromium', () => {
  it('loads with its CSP, no console error, no CSP violation and no request to another origin', async () => {
    const w = (watched = await WatchedPage.open(await chromium.get()));
    const response = await w.page.goto(`${origin}/`);
    expect(await w.settled()).toBe('done');
    await w.screenshot('loads');

    expect(response!.headers()['content-security-policy']).toBe(EXPLORER_CSP);
    expect(response!.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(w.consoleErrors).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(await w.cspViolations()).toEqual([]);
    expect(w.requests.length).toBeGreaterThan(0);
    for (const r of w.requests) {
      const url = new URL(r.url);
      expect(url.origin).toBe(origin);
      expect(PAGE_FILES.has(url.pathname) || url.pathname === '/catalog' || url.pathname === '/netflows').toBe(true);
    }
    expect(w.requests.map((r) => new URL(r.url).pathname)).toEqual(expect.arrayContaining([...PAGE_FILES, '/catalog', '/netflows']));
  }, SLOW);

  it('says in words why there is no smart-money chart on a gateway that records no history, without asking', async () => {
    const w = await open();
    expect(await w.settled()).toBe('done');
    expect(await w.page.getAttribute('#smart-money', 'data-state')).toBe('problem');
    expect((await getJson(origin, '/catalog')).body.intervals).toMatchObject({ nansen: [] });
    expect(await w.page.textContent('#smart-money-summary')).toBe(
      'No smart-money chart: this gateway records no history, and Nansen itself keeps none: hourly series come from the snapshots a gateway records.',
    );
    expect(w.netflowsRequests()).toEqual(['/netflows?window=7d&limit=25']);
    expect(await w.page.getAttribute('#smart-money-chart', 'data-points')).toBe('0');
  }, SLOW);

  it('shows leaderboard rows whose values equal /netflows\' own, and sorts with the gateway', async () => {
    const w = await open();
    expect(await w.settled()).toBe('done');
    const asked = w.netflowsRequests().find((path) => !path.includes('source=nansen'));
    expect(asked).toBe('/netflows?window=7d&limit=25');
    const expected = (await getJson(origin, asked!)).body.data as Row[];
    const shown = await tableRows(w);
    expect(shown.length).toBe(25);
    expect(shown.map(({ usd_text: _, ...row }) => row)).toEqual(expected.map(pick));
    expect(shown.map((r) => r.usd_text)).toEqual(expected.map((r) => usdText(r.net_flow_usd)));
    expect(await w.page.textContent('#leaderboard-section .sign')).toContain('positive net flow means the entity\'s holdings grew');
    expect(await w.page.getAttribute('th:has(button[data-sort="net_flow_usd"])', 'aria-sort')).toBe('descending');

    await w.page.click('button[data-sort="net_flow_usd"]');
    expect(await w.settled()).toBe('done');
    expect(w.netflowsRequests().at(-1)).toBe('/netflows?window=7d&sort=net_flow_usd&limit=25');
    expect(await w.page.getAttribute('th:has(button[data-sort="net_flow_usd"])', 'aria-sort')).toBe('ascending');
    const ascending = (await getJson(origin, w.netflowsRequests().at(-1)!)).body.data as Row[];
    expect((await tableRows(w)).map(({ usd_text: _, ...row }) => row)).toEqual(ascending.map(pick));
    await w.screenshot('leaderboard-sorted');
  }, SLOW);

  it('draws a Coin Metrics daily series after picking an asset, and says why Nansen is skipped', async () => {
    const w = await open();
    await w.settled();
    await w.page.check('input[name="mode"][value="series"]');
    await w.page.fill('#asset', 'btc');
    await w.page.click('#question button[type="submit"]');
    expect(await w.settled()).toBe('done');
    const asked = w.netflowsRequests().at(-1)!;
    expect(asked).toBe('/netflows?interval=1d&asset=btc&limit=1000');
    const rows = await allRows(asked);
    const withValue = rows.filter((r) => r.net_flow_usd !== null).length;
    expect(withValue).toBeGreaterThan(0);
    expect(Number(await w.page.getAttribute('#chart', 'data-points'))).toBe(withValue);
    const lines = new Set(rows.map((r) => `${r.source}|${r.entity}|${r.asset}|${r.chain}`)).size;
    expect(Number(await w.page.getAttribute('#chart', 'data-lines'))).toBe(lines);
    expect(await w.page.locator('#chart canvas').count()).toBeGreaterThan(0);
    const status = await w.page.textContent('#status');
    const { body } = await getJson(origin, asked);
    for (const warning of body.warnings as string[]) expect(status).toContain(warning);
    expect(status).toContain('Nansen: skipped');
    expect(w.consoleErrors).toEqual([]);
    expect(await w.cspViolations()).toEqual([]);
    await w.screenshot('series-coinmetrics');
  }, SLOW);

  it("suggests the assets /catalog lists for the chosen exchanges, from Coin Metrics' catalog", async () => {
    const w = await open();
    await w.settled();
    const { body } = await getJson(origin, '/catalog');
    const entities = body.entities as { entity: string; assets?: string[] }[];
    const suggested = () => w.page.$$eval('#asset-list option', (options) => options.map((o) => (o as HTMLOptionElement).value));
    const valid = (assets: string[]) => assets.filter((a) => /^[a-z0-9_]{1,32}$/.test(a));
    expect(new Set(await suggested())).toEqual(new Set(valid(entities.flatMap((e) => e.assets ?? []))));
    await w.page.selectOption('#entity', ['bitmex', 'korbit']);
    const chosen = entities.filter((e) => e.entity === 'bitmex' || e.entity === 'korbit').flatMap((e) => e.assets!);
    expect((await suggested()).sort()).toEqual(valid([...new Set(chosen)]).sort());
    expect(await suggested()).not.toContain('sol');
    expect(w.consoleErrors).toEqual([]);
  }, SLOW);

  it('asks for a Nansen series hourly, as the contract says, and shows today\'s answer in words', async () => {
    const w = await open();
    await w.settled();
    await w.page.check('input[name="mode"][value="series"]');
    await w.page.selectOption('#source', 'nansen');
    expect(await w.page.inputValue('#interval')).toBe('1h');
    await w.page.fill('#asset', 'uni');
    await w.page.click('#question button[type="submit"]');
    const state = await w.settled();
    const asked = w.netflowsRequests().at(-1)!;
    expect(asked).toBe('/netflows?source=nansen&interval=1h&asset=uni&limit=1000');
    const direct = await getJson(origin, asked);
    if (direct.status === 200) {
      expect(state).toBe('done');
    } else {
      expect(await w.page.getAttribute('#chart', 'data-points')).toBe('0');
      expect(state).toBe('problem');
      const alert = await w.page.textContent('#problem');
      expect(alert).toContain(`(${direct.status})`);
      expect(alert).toContain(direct.body.detail as string);
      if (direct.body.param) expect(alert).toContain(`Parameter at fault: ${direct.body.param as string}`);
    }
    await w.screenshot('series-nansen-today');
  }, SLOW);

  it('shows a 400\'s title, detail and parameter in words after a bad pick', async () => {
    const w = await open();
    await w.settled();
    await w.page.fill('#asset', 'btc$');
    await w.page.click('#question button[type="submit"]');
    expect(await w.settled()).toBe('problem');
    const asked = w.netflowsRequests().at(-1)!;
    const direct = await getJson(origin, asked);
    expect(direct.status).toBe(400);
    const alert = (await w.page.textContent('#problem'))!;
    expect(alert).toContain('Leaderboard: Invalid parameter (400)');
    expect(alert).toContain(direct.body.detail as string);
    expect(alert).toContain('Parameter at fault: asset');
    expect(await w.page.getAttribute('#asset', 'aria-invalid')).toBe('true');
    expect(await w.page.isVisible('#problem')).toBe(true);
    // The rows of the question before are gone: they would read as the answer to this one.
    expect(await w.page.locator('#leaderboard tbody tr').count()).toBe(0);
    expect(await w.page.isVisible('#next-page')).toBe(false);
    // The browser logs the failed load itself; nothing else may be in the console.
    expect(w.consoleErrors.filter((e) => !e.includes('status of 400'))).toEqual([]);
    await w.screenshot('bad-pick');
  }, SLOW);

  it('copies a curl line that answers as the table shows', async () => {
    const w = await open();
    await w.settled();
    await w.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    await w.page.click('#copy-curl');
    await w.page.waitForSelector('#copy-note:has-text("copied")');
    const line = await w.page.evaluate(() => navigator.clipboard.readText());
    expect(line).toBe(`curl '${origin}/netflows?window=7d&limit=25'`);
    const url = /'([^']+)'/.exec(line)![1]!;
    const answer = (await (await fetch(url)).json()) as { data: Row[] };
    expect((await tableRows(w)).map(({ usd_text: _, ...row }) => row)).toEqual(answer.data.map(pick));

    await w.page.check('input[name="mode"][value="series"]');
    await w.page.fill('#asset', 'eth');
    await w.page.click('#question button[type="submit"]');
    await w.settled();
    expect(await w.page.inputValue('#grafana')).toBe(`${origin}/netflows?interval=1d&asset=eth&limit=1000&start=\${__from}&end=\${__to}`);
  }, SLOW);

  it('is usable with the keyboard alone, every control labelled', async () => {
    const w = await open();
    await w.settled();
    const unlabelled = await w.page.$$eval('input, select, textarea', (controls) =>
      controls.filter((c) => (c as HTMLInputElement).labels?.length === 0).map((c) => c.id || c.outerHTML),
    );
    expect(unlabelled).toEqual([]);
    expect(await w.page.locator('[onclick], div[role="button"], span[role="button"]').count()).toBe(0);

    // Tab to the kind of answer, arrow to Series, tab on to the assets, type, Enter.
    for (let i = 0; i < 30; i++) {
      await w.page.keyboard.press('Tab');
      if (await w.page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'mode')) break;
    }
    await w.page.keyboard.press('ArrowDown');
    expect(await w.page.isChecked('input[name="mode"][value="series"]')).toBe(true);
    for (let i = 0; i < 10 && (await w.page.evaluate(() => document.activeElement?.id)) !== 'asset'; i++) await w.page.keyboard.press('Tab');
    expect(await w.page.evaluate(() => document.activeElement?.id)).toBe('asset');
    await w.page.keyboard.type('eth');
    await w.page.keyboard.press('Enter');
    expect(await w.settled()).toBe('done');
    expect(Number(await w.page.getAttribute('#chart', 'data-points'))).toBeGreaterThan(0);
    await w.screenshot('keyboard-series');
  }, SLOW);

  it('has nothing wider than a 360 px screen', async () => {
    const w = await open({ width: 360 });
    await w.settled();
    const overflow = () =>
      w.page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wider = [...document.querySelectorAll<HTMLElement>('body *')]
          .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > width + 0.5)
          .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.className}`);
        const scrolled = [...document.querySelectorAll<HTMLElement>('.table-wrap')].filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.className);
        return { page: document.documentElement.scrollWidth - width, wider, scrolled };
      });
    expect(await overflow()).toEqual({ page: 0, wider: [], scrolled: [] });
    await w.screenshot('narrow-leaderboard');

    await w.page.check('input[name="mode"][value="series"]');
    await w.page.fill('#asset', 'btc');
    await w.page.click('#question button[type="submit"]');
    expect(await w.settled()).toBe('done');
    expect(await overflow()).toEqual({ page: 0, wider: [], scrolled: [] });
    await w.screenshot('narrow-series');
  }, SLOW);

  it('the CSP blocks inline script, inline style and other origins, and the watch sees it', async () => {
    const w = await open();
    await w.settled();
    await w.page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'document.title = "ran"';
      document.body.append(script);
      document.body.setAttribute('style', 'background: red');
      void fetch('http://127.0.0.2:9/elsewhere').catch(() => undefined);
    });
    await w.page.waitForFunction(() => (window as unknown as { cspViolations: string[] }).cspViolations.length >= 3);
    const violations = await w.cspViolations();
    expect(violations).toEqual(expect.arrayContaining(['script-src-elem blocked inline', 'style-src-attr blocked inline', 'connect-src blocked http://127.0.0.2:9/elsewhere']));
    expect(await w.page.title()).toBe('Net flows explorer');
  }, SLOW);
});

describe('the explorer with caller tokens on', () => {
  let guarded: Stack;
  let guardedOrigin: string;

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'explorer-callers-')), 'callers.json');
    writeFileSync(file, JSON.stringify([{ name: 'explorer', sha256: createHash('sha256').update(TOKEN).digest('hex'), rate_limit: '100/1m' }]));
    guarded = await startStack({ env: { CALLER_TOKENS_FILE: file } });
    guardedOrigin = await guarded.app.listen({ host: '127.0.0.1', port: 0 });
  }, SLOW);

  afterAll(async () => {
    await guarded?.close();
  });

  it('shows the 401 in words without a token, and answers with one kept in sessionStorage only', async () => {
    const w = await open({ at: guardedOrigin });
    expect(await w.settled()).toBe('problem');
    const refused = await getJson(guardedOrigin, '/netflows?window=7d&limit=25');
    expect(refused.status).toBe(401);
    const alert = (await w.page.textContent('#problem'))!;
    expect(alert).toContain('Unauthenticated (401)');
    expect(alert).toContain(refused.body.detail as string);
    await w.screenshot('tokens-missing');

    await w.page.fill('#token', TOKEN);
    await w.page.click('#token-form button[type="submit"]');
    expect(await w.settled()).toBe('done');
    const expected = (await getJson(guardedOrigin, '/netflows?window=7d&limit=25', TOKEN)).body.data as Row[];
    expect((await tableRows(w)).map(({ usd_text: _, ...row }) => row)).toEqual(expected.map(pick));

    const api = w.requests.filter((r) => ['/catalog', '/netflows'].includes(new URL(r.url).pathname));
    const afterToken = api.slice(api.findLastIndex((r) => !r.headers.authorization) + 1);
    expect(afterToken.map((r) => new URL(r.url).pathname)).toEqual(['/catalog', '/netflows']);
    for (const r of afterToken) expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
    for (const r of w.requests) expect(r.url).not.toContain(TOKEN);
    const storage = await w.page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage }, href: location.href }));
    expect(storage).toEqual({ session: { 'netflows-explorer.token': TOKEN }, local: {}, href: `${guardedOrigin}/` });
    expect(await w.page.inputValue('#curl')).toBe(`curl -H "Authorization: Bearer $NETFLOWS_TOKEN" '${guardedOrigin}/netflows?window=7d&limit=25'`);
    expect(w.consoleErrors.filter((e) => !e.includes('status of 401'))).toEqual([]);
    await w.screenshot('tokens-on');
  }, SLOW);
});
