import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRateLimits } from '../../src/ratelimit.js';
import fc from 'fast-check';
import { FailoverBudgetStore } from '../../src/budget/failover-store.js';
import { MemoryBudgetStore } from '../../src/budget/memory-store.js';
import type { BudgetStore, CreditTerms, Reservation } from '../../src/budget/store.js';
import { RedisBudgetStore } from '../../src/redis/budget-store.js';
import { RedisCacheTier } from '../../src/redis/cache-tier.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { TestRedis } from '../processes.js';

let redis: TestRedis;
let connection: RedisConnection;
let prefix = 0;
beforeAll(async () => {
  redis = await TestRedis.start();
  connection = new RedisConnection({ url: redis.url, keyPrefix: 'store-test:', logger: pino({ level: 'silent' }) });
  await connection.waitUntilReady(2000);
});
afterAll(async () => {
  await connection.close();
  await redis.kill();
});

const limits = parseRateLimits('3/1s,5/10s')!;
const stores: [string, () => BudgetStore][] = [
  ['memory', () => new MemoryBudgetStore()],
  ['redis', () => new RedisBudgetStore(connection)],
];

const T0 = Date.parse('2026-11-21T10:00:00Z');
const wide = parseRateLimits('1000/1s')!;
const nansen = (terms: Partial<CreditTerms> = {}): CreditTerms => ({ cost: 5, reserve: 0, dailyCap: undefined, recheckMs: 60_000, ...terms });
const answer = (credits: CreditTerms, reading: { used?: number; remaining?: number; succeeded?: boolean; exhausted?: boolean }) => ({
  ...credits,
  used: reading.used,
  remaining: reading.remaining,
  succeeded: reading.succeeded ?? true,
  exhausted: reading.exhausted ?? false,
});

describe.each(stores)('%s budget store', (_name, make) => {
  const call = (store: BudgetStore, key: string, credits?: CreditTerms, maxInFlight = 10, now = T0) =>
    store.reserve({ key, limits: wide, maxInFlight, leaseUntil: now + 60_000, now, ...(credits ? { credits } : {}) });
  const settle = (store: BudgetStore, key: string, token: string, credits: CreditTerms, reading: Parameters<typeof answer>[1], now = T0) =>
    store.settle({ key, token, now, late: [], corrections: [], credits: answer(credits, reading) });
  const granted = async (reservation: Promise<Reservation>) => {
    const r = await reservation;
    if (!r.granted) throw new Error(`refused: ${r.refusal}`);
    return r.token;
  };
  const ledger = async (store: BudgetStore, key: string, now = T0) => (await store.upstreamState(key, wide, true, now)).credits!;

  it('takes from every window or none, and says when budget returns', async () => {
    const store = make();
    const key = `k${++prefix}`;
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect((await store.take(key, limits, t0 + i)).granted).toBe(true);
    const refused = await store.take(key, limits, t0 + 10);
    expect(refused).toMatchObject({ granted: false, retryAfterMs: 990 });
    expect(refused.windows.map((w) => w.remaining)).toEqual([0, 2]);
    expect((await store.take(key, limits, t0 + 1000)).granted).toBe(true);
    expect((await store.take(key, limits, t0 + 1001)).granted).toBe(true);
    const tenSecond = await store.take(key, limits, t0 + 1002);
    expect(tenSecond).toMatchObject({ granted: false, retryAfterMs: 10_000 - 1002 });
    expect((await store.peek(key, limits, t0 + 1002)).map((w) => [w.remaining, w.refillsInMs])).toEqual([
      [1, 998],
      [0, 8998],
    ]);
  });

  it('counts uses the upstream reported', async () => {
    const store = make();
    const key = `k${++prefix}`;
    await store.consume(key, limits[0]!, 2, 5000, 1000);
    expect((await store.take(key, limits, 1000)).windows[0]!.remaining).toBe(0);
    expect((await store.take(key, limits, 1001)).granted).toBe(false);
  });

  it('reserves a slot and a use of every window together, and frees the slot on release or when its lease ends', async () => {
    const store = make();
    const key = `s${++prefix}`;
    const reserve = (now: number, leaseMs = 10_000) => store.reserve({ key, limits, maxInFlight: 2, leaseUntil: now + leaseMs, now });
    const a = await granted(reserve(T0));
    await granted(reserve(T0, 5_000));
    expect(await reserve(T0 + 1)).toMatchObject({ granted: false, refusal: 'in_flight' });
    await store.release(key, a);
    expect((await store.upstreamState(key, limits, false, T0 + 2)).inFlight).toBe(1);
    expect((await store.upstreamState(key, limits, false, T0 + 5_000)).inFlight).toBe(0);
    expect((await store.upstreamState(key, limits, false, T0 + 5_000)).windows.map((w) => w.remaining)).toEqual([3, 3]);
  });

  it('takes a use of every window or of none', async () => {
    const store = make();
    const key = `w${++prefix}`;
    const reserve = (now: number) => store.reserve({ key, limits, maxInFlight: 10, leaseUntil: now + 60_000, now });
    for (let i = 0; i < 3; i++) await granted(reserve(T0 + i));
    expect(await reserve(T0 + 10)).toMatchObject({ granted: false, refusal: 'rate', retryAfterMs: 990 });
    expect((await store.upstreamState(key, limits, false, T0 + 10)).windows.map((w) => w.remaining)).toEqual([0, 2]);
  });

  it('pauses after a 429 and corrects its windows from what the upstream says is left', async () => {
    const store = make();
    const key = `p${++prefix}`;
    const token = await granted(store.reserve({ key, limits, maxInFlight: 5, leaseUntil: T0 + 60_000, now: T0 }));
    await store.settle({ key, token, now: T0 + 10, pauseUntil: T0 + 2_010, late: [{ limit: limits[0]!, endsAt: T0 + 1_010 }], corrections: [{ limit: limits[1]!, remaining: 1, endsAt: T0 + 8_000 }] });
    expect(await store.reserve({ key, limits, maxInFlight: 5, leaseUntil: T0 + 60_000, now: T0 + 20 })).toMatchObject({ refusal: 'paused', retryAfterMs: 1_990 });
    const state = await store.upstreamState(key, limits, false, T0 + 2_020);
    expect(state.windows.map((w) => w.remaining)).toEqual([3, 1]);
    expect(state.inFlight).toBe(0);
  });

  it('refuses a call whose credits would take the balance below the reserve, counting calls in flight', async () => {
    const store = make();
    const key = `c${++prefix}`;
    const credits = nansen({ reserve: 80 });
    await settle(store, key, await granted(call(store, key, credits)), credits, { used: 0, remaining: 95 });
    const tokens = [await granted(call(store, key, credits)), await granted(call(store, key, credits)), await granted(call(store, key, credits))];
    expect(await call(store, key, credits)).toMatchObject({ granted: false, refusal: 'reserve', credits: { remaining: 95, inFlight: 15 } });
    for (const [i, token] of tokens.entries()) await settle(store, key, token, credits, { used: 5, remaining: 90 - 5 * i });
    expect(await ledger(store, key)).toMatchObject({ remaining: 80, inFlight: 0, spentToday: 15 });
  });

  it('never lets a late answer raise the balance past what is true', async () => {
    const store = make();
    const key = `c${++prefix}`;
    const credits = nansen({ reserve: 80 });
    await settle(store, key, await granted(call(store, key, credits)), credits, { used: 0, remaining: 100 });
    const [a, b] = [await granted(call(store, key, credits)), await granted(call(store, key, credits))];
    // a reached the upstream first (95 left), b second (90 left); b's answer comes back first
    await settle(store, key, b, credits, { used: 5, remaining: 90 });
    await settle(store, key, a, credits, { used: 5, remaining: 95 });
    expect((await ledger(store, key)).remaining).toBeLessThanOrEqual(90);
  });

  it('lets only one call learn an unknown balance while a reserve is set', async () => {
    const store = make();
    const key = `c${++prefix}`;
    const credits = nansen({ reserve: 80 });
    const first = await granted(call(store, key, credits));
    expect(await call(store, key, credits)).toMatchObject({ granted: false, refusal: 'credits_unknown' });
    await settle(store, key, first, credits, { used: 5, remaining: 90 });
    await granted(call(store, key, credits));
  });

  it('keeps the daily cap, counting calls in flight, until the UTC day ends', async () => {
    const store = make();
    const key = `d${++prefix}`;
    const credits = nansen({ dailyCap: 10 });
    const a = await granted(call(store, key, credits));
    await granted(call(store, key, credits));
    expect(await call(store, key, credits)).toMatchObject({ granted: false, refusal: 'daily_cap', retryAfterMs: 14 * 3_600_000, credits: { spentToday: 0, inFlight: 10 } });
    await settle(store, key, a, credits, { succeeded: true });
    expect(await ledger(store, key)).toMatchObject({ spentToday: 5, inFlight: 5 });
    const tomorrow = T0 + 14 * 3_600_000;
    await granted(call(store, key, credits, 10, tomorrow));
  });

  it('closes after an out-of-credits answer, lets one check through after the recheck time, and opens on success', async () => {
    const store = make();
    const key = `x${++prefix}`;
    const credits = nansen();
    await settle(store, key, await granted(call(store, key, credits)), credits, { used: 0, succeeded: false, exhausted: true });
    expect(await call(store, key, credits, 10, T0 + 1)).toMatchObject({ granted: false, refusal: 'credits_closed', retryAfterMs: 59_999 });
    expect(await ledger(store, key)).toMatchObject({ remaining: 0, closedUntil: T0 + 60_000 });
    const later = T0 + 60_000;
    const check = await granted(call(store, key, credits, 10, later));
    expect(await call(store, key, credits, 10, later)).toMatchObject({ granted: false, refusal: 'credits_closed' });
    await settle(store, key, check, credits, { used: 5, remaining: 2000 }, later);
    await granted(call(store, key, credits, 10, later));
  });

  it('frees the credits of a call that got no answer', async () => {
    const store = make();
    const key = `r${++prefix}`;
    const credits = nansen({ dailyCap: 5 });
    await store.release(key, await granted(call(store, key, credits)));
    expect(await ledger(store, key)).toMatchObject({ inFlight: 0, spentToday: 0 });
    await granted(call(store, key, credits));
  });

  it('reserves a daily allowance, settles it to what was spent, and frees what is never settled', async () => {
    const store = make();
    const key = `caller:a${++prefix}:nansen-credits`;
    const reserve = (amount: number, now = T0) => store.reserveAllowance({ key, amount, allowance: 50, leaseUntil: now + 30_000, now });
    const first = await reserve(35);
    expect(first).toMatchObject({ granted: true, spentToday: 0, inFlight: 35 });
    expect(await reserve(20)).toMatchObject({ granted: false, spentToday: 0, inFlight: 35 });
    await store.settleAllowance(key, first.granted ? first.token : undefined, 10, T0);
    expect(await store.allowanceState(key, T0)).toEqual({ spentToday: 10, inFlight: 0 });
    await reserve(40);
    expect(await store.allowanceState(key, T0 + 30_000)).toEqual({ spentToday: 10, inFlight: 0 });
    await store.settleAllowance(key, undefined, 5, T0);
    expect((await store.allowanceState(key, T0)).spentToday).toBe(15);
  });

  it('opens the circuit after repeated failures and lets one probe through after the cool-down', async () => {
    const store = make();
    const key = `circuit${++prefix}`;
    for (let i = 0; i < 3; i++) await store.circuitRecord(key, false, 3, 10_000, T0);
    expect(await store.circuitState(key, T0)).toBe('open');
    expect(await store.circuitCheck(key, 10_000, T0 + 1_000)).toBe(9_000);
    const probes = await Promise.all([0, 1, 2].map(() => store.circuitCheck(key, 10_000, T0 + 10_000)));
    expect(probes.filter((wait) => wait === 0)).toHaveLength(1);
    expect(await store.circuitState(key, T0 + 10_000)).toBe('half_open');
    await store.circuitRecord(key, true, 3, 10_000, T0 + 10_100);
    expect(await store.circuitState(key, T0 + 10_100)).toBe('closed');
    expect(await store.circuitCheck(key, 10_000, T0 + 10_100)).toBe(0);
  });

  it('keeps the cap, the reserve and in-flight credits under any interleaving of reserve, settle, release and failures', async () => {
    const outcome = fc.constantFrom('ok', 'ok', 'ok', 'no_answer', 'rate_limited');
    const callArb = fc.record({ outcome, sendsUsed: fc.boolean(), sendsRemaining: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(callArb, { minLength: 1, maxLength: 16 }),
        fc.record({ reserve: fc.integer({ min: 0, max: 20 }), above: fc.integer({ min: 5, max: 60 }), cap: fc.integer({ min: 5, max: 60 }) }),
        fc.boolean(),
        fc.integer({ min: 1, max: 6 }),
        async (s, calls, { reserve, above, cap }, known, maxInFlight) => {
        const store = make();
        const key = `prop${++prefix}`;
        const credits = nansen({ reserve, dailyCap: cap });
        const balance = reserve + above;
        const upstream = { balance, charged: 0 };
        const broken: string[] = [];
        const observe = async () => {
          const state = await ledger(store, key);
          if (state.inFlight < 0) broken.push(`in flight ${state.inFlight}`);
          if (state.spentToday + state.inFlight > cap) broken.push(`spent ${state.spentToday} + in flight ${state.inFlight} > cap ${cap}`);
        };
        if (known) await settle(store, key, await granted(call(store, key, credits)), credits, { used: 0, remaining: balance });
        const one = async (c: (typeof calls)[number]) => {
          await s.schedule(Promise.resolve(), 'reserve');
          const reservation = await call(store, key, credits, maxInFlight);
          await observe();
          if (!reservation.granted) return;
          await s.schedule(Promise.resolve(), 'upstream');
          if (c.outcome === 'no_answer') {
            await store.release(key, reservation.token);
            return observe();
          }
          let status = 429;
          let used = 0;
          if (c.outcome === 'ok' && upstream.balance < credits.cost) status = 403;
          else if (c.outcome === 'ok') {
            status = 200;
            used = credits.cost;
            upstream.balance -= used;
            upstream.charged += used;
            if (upstream.balance < reserve) broken.push(`balance ${upstream.balance} below the reserve ${reserve}`);
            if (upstream.charged > cap) broken.push(`charged ${upstream.charged} over the cap ${cap}`);
          }
          const remaining = upstream.balance;
          await s.schedule(Promise.resolve(), 'settle');
          // Nansen reports the balance on every 200; other answers may or may not say
          await settle(store, key, reservation.token, credits, {
            ...(c.sendsUsed ? { used } : {}),
            ...(c.sendsRemaining || status === 200 ? { remaining } : {}),
            succeeded: status === 200,
            exhausted: status === 403,
          });
          await observe();
        };
        await s.waitFor(Promise.all(calls.map(one)));
        const rest = await ledger(store, key);
        expect(broken, String(s)).toEqual([]);
        expect(rest.inFlight).toBe(0);
        },
      ),
      { numRuns: _name === 'memory' ? 400 : 150 },
    );
  }, 60_000);
});

describe('RedisCacheTier', () => {
  it('stores entries with their freshness and grants one lease at a time', async () => {
    const tier = new RedisCacheTier(connection);
    await tier.set('entry', { value: { rows: [1, 2] }, storedAt: 1, freshUntil: 2, sizeBytes: 90 }, 60_000);
    expect(await tier.get('entry')).toEqual({ value: { rows: [1, 2] }, storedAt: 1, freshUntil: 2, sizeBytes: 90 });
    const token = await tier.lease('entry', 5000);
    expect(token).toBeDefined();
    expect(await tier.lease('entry', 5000)).toBeUndefined();
    await tier.unlease('entry', 'not-mine');
    expect(await tier.lease('entry', 5000)).toBeUndefined();
    await tier.unlease('entry', token!);
    expect(await tier.lease('entry', 5000)).toBeDefined();
  });

  it('keeps entries over its size bound local', async () => {
    const tier = new RedisCacheTier(connection, 100);
    await tier.set('big', { value: 'x'.repeat(200), storedAt: 1, freshUntil: 2, sizeBytes: 464 }, 60_000);
    expect(await tier.get('big')).toBeUndefined();
  });
});

describe('FailoverBudgetStore', () => {
  async function outage(run: (store: FailoverBudgetStore, own: TestRedis, conn: RedisConnection, clock: { now: number }) => Promise<void>) {
    const own = await TestRedis.start();
    const conn = new RedisConnection({ url: own.url, keyPrefix: 'failover:', logger: pino({ level: 'silent' }) });
    await conn.waitUntilReady(2000);
    const clock = { now: Date.now() };
    const store = new FailoverBudgetStore(new RedisBudgetStore(conn), conn, 3, () => clock.now);
    try {
      await run(store, own, conn, clock);
    } finally {
      await conn.close();
      await own.kill();
    }
  }
  const goDown = async (store: FailoverBudgetStore, own: TestRedis) => {
    await own.kill();
    for (let i = 0; i < 40 && !store.degraded; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.degraded).toBe(true);
  };

  it('answers from its share when Redis is away and blocks one window at each change of mode', async () => {
    await outage(async (store, own, conn, clock) => {
      const window = parseRateLimits('9/10s')!;
      const reserve = async () => (await store.reserve({ key: 'up', limits: window, maxInFlight: 30, leaseUntil: clock.now + 60_000, now: clock.now })).granted;
      for (let i = 0; i < 4; i++) expect(await reserve()).toBe(true);
      expect(store.degraded).toBe(false);
      await goDown(store, own);
      // what the others spent is unknown: the first window on its own is spent
      expect(await reserve()).toBe(false);
      clock.now += 10_001;
      // then this replica's share: 9 / 3
      expect([await reserve(), await reserve(), await reserve(), await reserve()]).toEqual([true, true, true, false]);
      // caller quotas start afresh, at their full share
      expect((await store.take('caller:grafana', window, clock.now)).granted).toBe(true);

      await own.up();
      await conn.waitUntilReady(3000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // back in shared mode, one window counts as spent before the fleet calls again
      expect(await reserve()).toBe(false);
      expect(store.degraded).toBe(false);
      clock.now += 10_001;
      expect(await reserve()).toBe(true);
      expect((await store.upstreamState('up', window, false, clock.now)).windows[0]!.remaining).toBe(8);
    });
  });

  it('does not block the fleet after a slow moment in which it spent nothing on its own (the fleet test 503ed for 62 s)', async () => {
    await outage(async (store, _own, conn, clock) => {
      const window = parseRateLimits('9/10s')!;
      const reserve = async () => (await store.reserve({ key: 'up', limits: window, maxInFlight: 30, leaseUntil: clock.now + 60_000, now: clock.now })).granted;
      for (let i = 0; i < 4; i++) expect(await reserve()).toBe(true);
      conn.markDown();
      // while degraded the replica only reads its local share; it spends nothing Redis does not know
      expect((await store.upstreamState('up', window, false, clock.now)).windows[0]!.remaining).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(store.degraded).toBe(false);
      expect(await reserve()).toBe(true);
      expect((await store.upstreamState('up', window, false, clock.now)).windows[0]!.remaining).toBe(4);
    });
  });

  it('blocks one window when Redis comes back without the counts it had, even if nothing was spent on its own', async () => {
    await outage(async (store, own, conn, clock) => {
      const window = parseRateLimits('9/10s')!;
      const reserve = async () => (await store.reserve({ key: 'up', limits: window, maxInFlight: 30, leaseUntil: clock.now + 60_000, now: clock.now })).granted;
      for (let i = 0; i < 4; i++) expect(await reserve()).toBe(true);
      await own.kill();
      await own.up();
      await conn.waitUntilReady(3000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // the four calls of this window are forgotten by Redis: the window counts as spent
      expect(await reserve()).toBe(false);
      clock.now += 10_001;
      expect(await reserve()).toBe(true);
    });
  });

  it('shows in degraded mode the very window admission refuses from (defect 3: remaining 3, refills 0 while requests got 503)', async () => {
    await outage(async (store, own, _conn, clock) => {
      const window = parseRateLimits('10/6s')!;
      await goDown(store, own);
      const shown = await store.upstreamState('cm', window, false, clock.now);
      const refused = await store.reserve({ key: 'cm', limits: window, maxInFlight: 10, leaseUntil: clock.now + 60_000, now: clock.now });
      expect(refused).toMatchObject({ granted: false, refusal: 'rate' });
      expect(shown.windows[0]).toMatchObject({ remaining: 0, refillsInMs: refused.granted ? -1 : refused.retryAfterMs });
    });
  });

  it('keeps its share of the daily credit cap and of a caller allowance, from the spending Redis last showed', async () => {
    await outage(async (store, own, _conn, clock) => {
      const credits: CreditTerms = { cost: 5, reserve: 0, dailyCap: 100, recheckMs: 60_000 };
      const call = () => store.reserve({ key: 'nansen', limits: parseRateLimits('1000/1s')!, maxInFlight: 30, leaseUntil: clock.now + 60_000, now: clock.now, credits });
      for (let i = 0; i < 8; i++) {
        const r = await call();
        if (r.granted) await store.settle({ key: 'nansen', token: r.token, now: clock.now, late: [], corrections: [], credits: { ...credits, used: 5, remaining: 1000, succeeded: true, exhausted: false } });
      }
      const reserved = await store.reserveAllowance({ key: 'caller:a:nansen', amount: 30, allowance: 90, leaseUntil: clock.now + 30_000, now: clock.now });
      expect(reserved.granted).toBe(true);
      await store.settleAllowance('caller:a:nansen', reserved.granted ? reserved.token : undefined, 30, clock.now);
      await store.reserveAllowance({ key: 'caller:a:nansen', amount: 0, allowance: 90, leaseUntil: clock.now + 30_000, now: clock.now });
      await goDown(store, own);
      // the first window on its own is spent
      expect((await call()).granted).toBe(false);
      clock.now += 1_200;
      // 40 spent through Redis: this replica may spend a third of the 60 left, 20 credits
      let granted = 0;
      for (let i = 0; i < 10; i++) if ((await call()).granted) granted++;
      expect(granted).toBe(4);
      // 30 of the caller's 90 spent: a third of the 60 left
      expect((await store.reserveAllowance({ key: 'caller:a:nansen', amount: 25, allowance: 90, leaseUntil: clock.now + 30_000, now: clock.now })).granted).toBe(false);
      expect((await store.reserveAllowance({ key: 'caller:a:nansen', amount: 20, allowance: 90, leaseUntil: clock.now + 30_000, now: clock.now })).granted).toBe(true);
    });
  });
});
