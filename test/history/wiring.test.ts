import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { History, type HistoryOptions } from '../../src/history/history.js';
import { NOW, startStack, type Stack, type StackOptions } from '../helpers.js';
import { HOUR, ManualTimer } from './helpers.js';
import { configProblems } from '../config-problems.js';

const ADMIN = 'admin-token-for-wiring-tests';
const admin = { authorization: `Bearer ${ADMIN}` };


describe('history configuration', () => {
  it('defaults to an embedded store in ./data, kept 400 days, without recorder sets', () => {
    const config = loadConfig({});
    expect(config.history).toEqual({ enabled: true, databaseUrl: undefined, dir: './data', poolSize: 4, statementTimeoutMs: 5000, retentionMs: 400 * 86_400_000 });
    expect(config.sources.nansen).toMatchObject({ recordSets: [], recordDailyCredits: undefined });
  });

  it('reads PostgreSQL, the pool, the timeout, retention and the recorder sets', () => {
    const config = loadConfig({
      HISTORY: 'on',
      DATABASE_URL: 'postgres://gw:s3cret@db.internal:6543/netflows',
      DATABASE_POOL_SIZE: '8',
      DATABASE_STATEMENT_TIMEOUT_MS: '2500',
      HISTORY_RETENTION_DAYS: '30',
      NANSEN_RECORD: 'smart_money@all, SMART_MONEY:FUND@solana,smart_money@all',
      NANSEN_RECORD_DAILY_CREDITS: '240',
    });
    expect(config.history.databaseUrl!.reveal()).toBe('postgres://gw:s3cret@db.internal:6543/netflows');
    expect(String(config.history.databaseUrl)).toBe('[redacted]');
    expect(config.history).toMatchObject({ poolSize: 8, statementTimeoutMs: 2500, retentionMs: 30 * 86_400_000 });
    expect(config.sources.nansen.recordSets).toEqual([
      { entity: 'smart_money', chain: 'all' },
      { entity: 'smart_money:fund', chain: 'solana' },
    ]);
    expect(config.sources.nansen.recordDailyCredits).toBe(240);
  });

  it('names every bad history variable, never echoing the database URL', () => {
    const found = configProblems({
      HISTORY: 'maybe',
      DATABASE_URL: 'mysql://gw:s3cret@db/netflows',
      DATABASE_POOL_SIZE: '0',
      HISTORY_RETENTION_DAYS: 'forever',
      NANSEN_RECORD: 'smart_money@all,whales@ethereum',
      NANSEN_RECORD_DAILY_CREDITS: '-1',
    });
    expect(found).toHaveLength(6);
    for (const name of ['HISTORY ', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'HISTORY_RETENTION_DAYS', 'NANSEN_RECORD ', 'NANSEN_RECORD_DAILY_CREDITS']) {
      expect(found.some((p) => p.startsWith(name.trim()))).toBe(true);
    }
    expect(found.join('\n')).not.toContain('s3cret');
    expect(found.find((p) => p.startsWith('NANSEN_RECORD '))).toContain('"whales@ethereum"');
  });
});

describe('a gateway with HISTORY=off', () => {
  let stack: Stack | undefined;
  afterEach(async () => stack?.close());

  it('records nothing, answers no Nansen series or as_of (skipped, or a 400 when named), and says so', async () => {
    stack = await startStack({ env: { ADMIN_TOKEN: ADMIN, HISTORY: 'off', NANSEN_RECORD: 'smart_money@all' } });
    const hourly = await stack.app.inject({ url: '/netflows?interval=1h' });
    expect(hourly.statusCode).toBe(400);
    expect(hourly.json().detail).toBe(
      'no enabled source can answer this query: coinmetrics skipped: Coin Metrics flows are daily: interval=1h is not offered; ' +
        'nansen skipped: Nansen keeps no history, and this gateway records none (HISTORY=off): interval=1h is not offered',
    );
    const daily = await stack.app.inject({ url: '/netflows?interval=1d&asset=btc&entity=binance,smart_money' });
    expect(daily.statusCode).toBe(200);
    expect(daily.json().sources.map((s: { status: string }) => s.status)).toEqual(['ok', 'skipped']);
    expect(daily.json().warnings).toEqual(['nansen skipped: Nansen keeps no history, and this gateway records none (HISTORY=off): interval=1d is not offered']);
    expect((await stack.app.inject({ url: '/netflows?source=nansen&interval=1d' })).json()).toMatchObject({ status: 400, param: 'source' });
    expect((await stack.app.inject({ url: '/netflows?source=nansen&as_of=2026-11-21T09:00:00Z' })).json()).toMatchObject({ status: 400, param: 'source' });
    expect((await stack.app.inject({ url: '/catalog' })).json().intervals).toEqual({ coinmetrics: ['1d'], nansen: [] });
    const report = await stack.app.inject({ url: '/admin/history', headers: admin });
    expect(report.json()).toMatchObject({ state: 'off', store: null, sources: [], recorder: [] });
    expect((await stack.app.inject({ url: '/metrics' })).body).toContain('netflows_history_state{state="off"} 1');
    expect(stack.logs.some((l) => l.includes('NANSEN_RECORD is set but this gateway keeps no history (HISTORY=off): nothing is recorded'))).toBe(true);
  });
});

/** A History whose store never opens, and a stack over it; both closed after each test. */
function unopenedStore() {
  const held: { stack?: Stack; history?: History; giveUp?: () => void } = {};
  afterEach(async () => {
    await held.stack?.close();
    held.giveUp?.();
    await held.history?.close();
  });
  return {
    history: (options: Partial<HistoryOptions> = {}) =>
      (held.history = new History({ open: () => new Promise((_, reject) => (held.giveUp = () => reject(new Error('never opened')))), ...options })),
    stack: async (options: StackOptions) => (held.stack = await startStack(options)),
  };
}

describe('a gateway whose history store is still opening', () => {
  const unopened = unopenedStore();

  it('is ready and serves live answers; what needs the store is a 503 history_unavailable with Retry-After', async () => {
    const history = unopened.history({ retryAfterMs: 4000 });
    const stack = await unopened.stack({ history, env: { ADMIN_TOKEN: ADMIN } });
    expect((await stack.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    expect((await stack.app.inject({ url: '/netflows?window=7d&limit=5' })).statusCode).toBe(200);
    // Coin Metrics days come from the upstream while the store cannot answer.
    expect((await stack.app.inject({ url: '/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance' })).statusCode).toBe(200);
    const series = await stack.app.inject({ url: '/netflows?source=nansen&interval=1h' });
    expect([series.statusCode, series.headers['retry-after'], series.headers['content-type']]).toEqual([503, '4', 'application/problem+json; charset=utf-8']);
    expect(series.json()).toEqual({
      type: 'urn:netflows:problem:history_unavailable',
      title: 'History unavailable',
      status: 503,
      detail: 'nansen: the history store is still opening',
      code: 'history_unavailable',
    });
    // With Coin Metrics in the question, Nansen's part is an error and the answer is partial.
    const both = await stack.app.inject({ url: '/netflows?interval=1d&asset=btc&entity=binance,smart_money' });
    expect(both.statusCode).toBe(200);
    expect(both.json()).toMatchObject({ complete: false, sources: [{ status: 'ok' }, { status: 'error', error: { code: 'history_unavailable' } }] });
    expect((await stack.app.inject({ url: '/catalog' })).json().intervals).toEqual({ coinmetrics: ['1d'], nansen: ['1h', '1d'] });
    expect((await stack.app.inject({ url: '/admin/history', headers: admin })).json()).toMatchObject({ state: 'opening', store: null, sources: [] });
  });
});

describe('the recorder without a store to claim the hour in', () => {
  const unopened = unopenedStore();

  it('skips the hour, each set with the reason in the log, and spends nothing', async () => {
    const history = unopened.history();
    const timer = new ManualTimer();
    const stack = await unopened.stack({ history, timer: timer.timer, env: { NANSEN_RECORD: 'smart_money@all,smart_money:fund@base' } });
    await stack.app.ready();
    expect(timer.waiting).toContain(HOUR);
    stack.clock.now = NOW + HOUR;
    timer.fire();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const skipped = stack.logs.filter((l) => l.includes('recorder skipped')).map((l) => JSON.parse(l) as { msg: string; set?: string; reason: string });
    expect(skipped.map((l) => [l.msg, l.set])).toEqual([
      ['recorder skipped the hour', undefined],
      ['recorder skipped a set of the hour', 'smart_money@all'],
      ['recorder skipped a set of the hour', 'smart_money:fund@base'],
    ]);
    expect(skipped[1]!.reason).toBe('the history store is unavailable (the history store is still opening)');
    expect(stack.nansen.requests).toHaveLength(0);
    expect((await stack.app.inject({ url: '/metrics' })).body).toContain('netflows_history_recorder_runs_total{source="nansen",set="smart_money:fund@base",outcome="skipped"} 1');
  });
});

describe('the gateway process', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs src/server.ts until it exits; its exit code and stderr. */
  function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  }

  it('stops, naming it, when HISTORY_DIR is a foreign folder or a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netflows-foreign-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'photos'));
    writeFileSync(join(dir, 'notes.txt'), 'not a database');
    const foreign = await run({ HISTORY_DIR: dir });
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain(`HISTORY_DIR ${dir} is neither empty nor a PostgreSQL data directory`);
    const file = await run({ HISTORY_DIR: join(dir, 'notes.txt') });
    expect(file.code).toBe(2);
    expect(file.stderr).toContain(`HISTORY_DIR ${join(dir, 'notes.txt')} is not a directory`);
  }, 30_000);
});
