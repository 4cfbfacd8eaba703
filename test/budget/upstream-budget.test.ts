import { describe, expect, it } from 'vitest';
import { parseRateLimits } from '../../src/ratelimit.js';
import { CREDIT_RECHECK_MS } from '../../src/budget/credits.js';
import { MemoryBudgetStore } from '../../src/budget/memory-store.js';
import { readNansenCredits } from '../../src/providers/nansen/client.js';
import { UpstreamBudget, type RateLimitReading } from '../../src/budget/upstream-budget.js';
import { UpstreamError } from '../../src/errors.js';
import type { UpstreamResponse } from '../../src/upstream/response.js';

function setup(options: { limits?: string; maxWaitMs?: number; maxInFlight?: number; credits?: { reserve: number; dailyCap?: number } } = {}) {
  const clock = { now: Date.parse('2026-11-21T10:00:00Z') };
  const store = new MemoryBudgetStore();
  const slept: number[] = [];
  const ledger = options.credits
    ? { terms: { cost: 5, reserve: options.credits.reserve, dailyCap: options.credits.dailyCap, recheckMs: CREDIT_RECHECK_MS }, read: readNansenCredits }
    : undefined;
  const budget = new UpstreamBudget({
    source: 'coinmetrics',
    name: 'Nansen',
    key: 'cm:test',
    limits: parseRateLimits(options.limits ?? '10/6s')!,
    maxInFlight: options.maxInFlight ?? 10,
    slotLeaseMs: 60_000,
    maxWaitMs: options.maxWaitMs ?? 0,
    store,
    clock: () => clock.now,
    readLimits: (r): RateLimitReading[] => {
      const remaining = r.headers['x-ratelimit-remaining'];
      return typeof remaining === 'string' ? [{ remaining: Number(remaining), resetMs: Number(r.headers['x-ratelimit-reset'] ?? 6) * 1000 }] : [];
    },
    retryAfter: (r) => (typeof r.headers['retry-after'] === 'string' ? Number(r.headers['retry-after']) * 1000 : undefined),
    ...(ledger ? { credits: ledger } : {}),
    // the injected sleep moves the injected clock: no test waits in real time
    sleep: async (ms) => {
      slept.push(ms);
      clock.now += ms;
    },
  });
  return { clock, store, budget, slept, ledger };
}

const response = (status: number, headers: Record<string, string> = {}, body = ''): UpstreamResponse => ({ status, headers, body });
const signal = () => new AbortController().signal;

async function refusal(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe('UpstreamBudget', () => {
  it('admits as many calls as the window allows, then refuses with when budget returns', async () => {
    const { budget, clock } = setup();
    for (let i = 0; i < 10; i++) await (await budget.admit(signal())).settle(response(200));
    const error = await refusal(budget.admit(signal()));
    expect(error.failure).toBe('budget_exhausted');
    expect(error.options.retryAfterMs).toBe(6000 + 120);
    clock.now += 6120;
    await expect(budget.admit(signal())).resolves.toBeDefined();
  });

  it('keeps every window: 15/1s and 300/1m', async () => {
    const { budget, clock } = setup({ limits: '15/1s,300/1m' });
    let admitted = 0;
    for (let second = 0; second < 30; second++) {
      for (let i = 0; i < 20; i++) {
        try {
          await (await budget.admit(signal())).settle(response(200));
          admitted++;
        } catch {
          /* refused */
        }
      }
      clock.now += 1000;
    }
    expect(admitted).toBeLessThanOrEqual(300);
    expect(admitted).toBeGreaterThan(200);
    const snapshot = await budget.snapshot();
    expect(snapshot.windows.map((w) => w.limit)).toEqual(['15/1s', '300/1m']);
  });

  it('waits for budget within maxWaitMs instead of refusing', async () => {
    const { budget, slept } = setup({ limits: '2/1s', maxWaitMs: 2000 });
    for (let i = 0; i < 2; i++) await (await budget.admit(signal())).settle(response(200));
    await (await budget.admit(signal())).settle(response(200));
    expect(slept).toEqual([1100]);
  });

  it('caps calls in flight', async () => {
    const { budget } = setup({ maxInFlight: 2, limits: '100/1s' });
    const first = await budget.admit(signal());
    await budget.admit(signal());
    const error = await refusal(budget.admit(signal()));
    expect(error.message).toContain('2 calls to coinmetrics are already in flight');
    await first.settle(response(200));
    await expect(budget.admit(signal())).resolves.toBeDefined();
    expect((await budget.snapshot()).in_flight).toBe(2);
  });

  it('pauses for the Retry-After of an upstream 429, counting it', async () => {
    const { budget, clock } = setup({ limits: '100/1s' });
    await (await budget.admit(signal())).settle(response(429, { 'retry-after': '1' }));
    const error = await refusal(budget.admit(signal()));
    expect(error.message).toContain('pause after a 429');
    expect(error.options.retryAfterMs).toBe(1000);
    expect((await budget.snapshot()).upstream_429s).toBe(1);
    clock.now += 1000;
    await expect(budget.admit(signal())).resolves.toBeDefined();
  });

  it('counts a call answered later than the margin from its answer on', async () => {
    const { budget, clock } = setup({ limits: '1/1s' });
    const permit = await budget.admit(signal());
    clock.now += 500;
    await permit.settle(response(200));
    clock.now += 999;
    expect((await refusal(budget.admit(signal()))).failure).toBe('budget_exhausted');
    clock.now += 1;
    await expect(budget.admit(signal())).resolves.toBeDefined();
  });

  it('learns from the upstream that fewer calls are left than it counted', async () => {
    const { budget } = setup();
    await (await budget.admit(signal())).settle(response(200, { 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '4' }));
    const snapshot = await budget.snapshot();
    expect(snapshot.windows[0]!.remaining).toBe(2);
    expect(snapshot.last_rate_limit_headers).toEqual({ 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '4' });
    await budget.admit(signal());
    await budget.admit(signal());
    expect((await refusal(budget.admit(signal()))).failure).toBe('budget_exhausted');
  });
});

describe('CreditLedger', () => {
  const credits = (remaining: number, used = 5) => ({ 'x-nansen-credits-remaining': String(remaining), 'x-nansen-credits-used': String(used) });

  it('stops before the balance falls below the reserve', async () => {
    const { budget } = setup({ limits: '100/1s', credits: { reserve: 80 } });
    let balance = 100;
    let calls = 0;
    for (let i = 0; i < 10; i++) {
      try {
        const permit = await budget.admit(signal());
        balance -= 5;
        calls++;
        await permit.settle(response(200, credits(balance)));
      } catch (error) {
        expect((error as UpstreamError).message).toContain('credit reserve is reached: 80 credits left, reserve 80');
      }
    }
    expect([calls, balance]).toEqual([4, 80]);
  });

  it('counts credits of calls in flight against the reserve', async () => {
    const { budget } = setup({ limits: '100/1s', credits: { reserve: 90 } });
    await (await budget.admit(signal())).settle(response(200, credits(100, 0)));
    await budget.admit(signal());
    await budget.admit(signal());
    expect((await refusal(budget.admit(signal()))).failure).toBe('budget_exhausted');
  });

  it('keeps a daily cap, until the next UTC day', async () => {
    const { budget, clock } = setup({ limits: '100/1s', credits: { reserve: 0, dailyCap: 10 } });
    await (await budget.admit(signal())).settle(response(200, credits(1000)));
    await (await budget.admit(signal())).settle(response(200, credits(995)));
    const error = await refusal(budget.admit(signal()));
    expect(error.message).toContain('10 of 10 spent today');
    expect(error.options.retryAfterMs).toBe(14 * 3600_000);
    clock.now += 14 * 3600_000;
    await expect(budget.admit(signal())).resolves.toBeDefined();
    expect((await budget.snapshot()).credits).toMatchObject({ spent_today: 0, daily_cap: 10 });
  });

  it('closes after a 403 insufficient_credits until one later check succeeds', async () => {
    const { budget, clock } = setup({ limits: '100/1s', credits: { reserve: 0 } });
    await (await budget.admit(signal())).settle(response(403, { 'x-nansen-credits-used': '0' }, '{"code":"insufficient_credits"}'));
    const error = await refusal(budget.admit(signal()));
    expect(error.failure).toBe('upstream_credits_exhausted');
    expect((await budget.snapshot()).credits).toMatchObject({ remaining: 0, closed_for_s: 60 });
    clock.now += CREDIT_RECHECK_MS;
    await (await budget.admit(signal())).settle(response(200, credits(2000)));
    await expect(budget.admit(signal())).resolves.toBeDefined();
  });
});
