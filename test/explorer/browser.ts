/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate() callbacks run in the browser: they see the DOM.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium; the tests fail (never skip) without it. */
export const CHROMIUM = '/usr/bin/chromium';
/** Kept after the run (git-ignored): one PNG per browser test. */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'explorer');

/**
 * Flags that work as root in this sandbox. Without the background-networking ones Chromium's own
 * connections (updates, sync, field trials) are refused by the closed network and fill the log.
 * Playwright gives every launch a new empty user-data-dir of its own.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * One Chromium for a test file, launched by the first test that asks for it. Launching inside
 * the tests, not in beforeAll, makes every test fail (none is skipped) when Chromium is missing.
 */
export class SharedChromium {
  private launched: Promise<Browser> | undefined;

  get(): Promise<Browser> {
    this.launched ??= existsSync(CHROMIUM)
      ? chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
      : Promise.reject(new Error(`Chromium is missing at ${CHROMIUM}; the explorer's browser tests need it: apt-get install -y chromium`));
    return this.launched;
  }

  async close(): Promise<void> {
    const browser = await this.launched?.catch(() => undefined);
    await browser?.close();
  }
}

export interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** One page in a fresh context, with everything it asks for, logs and violates written down. */
export class WatchedPage {
  readonly requests: SeenRequest[] = [];
  readonly consoleErrors: string[] = [];
  readonly pageErrors: string[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async open(browser: Browser, options: { width?: number; height?: number } = {}): Promise<WatchedPage> {
    const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
    const page = await context.newPage();
    const watched = new WatchedPage(context, page);
    page.on('request', (r) => watched.requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
    page.on('console', (m) => {
      if (m.type() === 'error') watched.consoleErrors.push(`${m.text()} @ ${m.location().url}`);
    });
    page.on('pageerror', (e) => watched.pageErrors.push(String(e)));
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`));
    });
    return watched;
  }

  cspViolations(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
  }

  /** The /netflows requests the page made, as path and query. */
  netflowsRequests(): string[] {
    return this.requests.map((r) => new URL(r.url)).filter((u) => u.pathname === '/netflows').map((u) => u.pathname + u.search);
  }

  /** Resolves when the answer area and the smart-money chart have settled on `done` or `problem`; the answer area's state. */
  async settled(): Promise<string> {
    await this.page.waitForSelector('#results:not([data-state="loading"])');
    await this.page.waitForSelector('#smart-money:not([data-state="loading"])');
    return (await this.page.getAttribute('#results', 'data-state')) ?? '';
  }

  /** The whole page, or with `fullPage: false` what a person sees before scrolling. */
  async screenshot(name: string, { fullPage = true } = {}): Promise<void> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await this.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
  }

  close(): Promise<void> {
    return this.context.close();
  }
}
