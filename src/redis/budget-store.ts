import type { Redis } from 'ioredis';
import type { RateLimit } from '../ratelimit.js';
import { spentKey } from '../budget/memory-store.js';
import {
  CREDITS_UNKNOWN_RETRY_MS,
  RESERVE_RETRY_MS,
  SLOT_POLL_MS,
  type AllowanceRequest,
  type AllowanceReservation,
  type AllowanceState,
  type BudgetStore,
  type CircuitState,
  type CreditState,
  type Refusal,
  type ReserveRequest,
  type Reservation,
  type SettleRequest,
  type TakeResult,
  type UpstreamState,
  type WindowState,
} from '../budget/store.js';
import { DAY_MS, utcDayStart } from '../time.js';
import { ALLOWANCE_STATE, CIRCUIT_CHECK, CIRCUIT_RECORD, RELEASE, RESERVE, RESERVE_ALLOWANCE, SETTLE, SETTLE_ALLOWANCE, UPSTREAM_STATE } from './budget-scripts.js';
import type { RedisConnection } from './connection.js';

/**
 * KEYS: one sorted set per window (members are uses, scores the time each stops counting).
 * ARGV: now, then limit and windowMs per window, then a unique member id.
 * Takes one use from every window or none, atomically; returns granted, retryAfterMs, and
 * per window remaining and refill time.
 */
const TAKE = `
local now = tonumber(ARGV[1])
local member = ARGV[#ARGV]
local granted = 1
local retry = 0
local counts = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= limit then
    granted = 0
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local wait = tonumber(oldest[2]) - now
    if wait > retry then retry = wait end
  end
end
local out = { granted, retry }
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  if granted == 1 then
    redis.call('ZADD', key, now + window, member)
    redis.call('PEXPIRE', key, window + 1000)
    counts[i] = counts[i] + 1
  end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local refill = 0
  if first[2] then refill = tonumber(first[2]) - now end
  table.insert(out, limit - counts[i])
  table.insert(out, refill)
end
return out
`;

type Reply = (string | number)[];

declare module 'ioredis' {
  interface RedisCommander {
    netflowsTake(...args: (string | number)[]): Promise<number[]>;
    netflowsReserve(...args: (string | number)[]): Promise<Reply>;
    netflowsSettle(...args: (string | number)[]): Promise<number>;
    netflowsRelease(slots: string, costs: string, token: string): Promise<number>;
    netflowsUpstreamState(...args: (string | number)[]): Promise<number[]>;
    netflowsReserveAllowance(...args: (string | number)[]): Promise<number[]>;
    netflowsSettleAllowance(...args: (string | number)[]): Promise<number>;
    netflowsAllowanceState(...args: (string | number)[]): Promise<number[]>;
    netflowsCircuitCheck(...args: (string | number)[]): Promise<number>;
    netflowsCircuitRecord(...args: (string | number)[]): Promise<number>;
  }
}

/** The budget store in Redis: every replica spends one budget, each operation one Lua script. */
export class RedisBudgetStore implements BudgetStore {
  private sequence = 0;
  private readonly instance = Math.random().toString(36).slice(2, 10);

  constructor(private readonly redis: RedisConnection) {
    const client: Redis = redis.client;
    client.defineCommand('netflowsTake', { lua: TAKE });
    client.defineCommand('netflowsReserve', { lua: RESERVE });
    client.defineCommand('netflowsSettle', { lua: SETTLE });
    client.defineCommand('netflowsRelease', { numberOfKeys: 2, lua: RELEASE });
    client.defineCommand('netflowsUpstreamState', { lua: UPSTREAM_STATE });
    client.defineCommand('netflowsReserveAllowance', { numberOfKeys: 3, lua: RESERVE_ALLOWANCE });
    client.defineCommand('netflowsSettleAllowance', { numberOfKeys: 3, lua: SETTLE_ALLOWANCE });
    client.defineCommand('netflowsAllowanceState', { numberOfKeys: 3, lua: ALLOWANCE_STATE });
    client.defineCommand('netflowsCircuitCheck', { numberOfKeys: 2, lua: CIRCUIT_CHECK });
    client.defineCommand('netflowsCircuitRecord', { numberOfKeys: 3, lua: CIRCUIT_RECORD });
  }

  async take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    const keys = limits.map((l) => windowKey(key, l));
    const args = limits.flatMap((l) => [l.limit, l.windowMs]);
    const reply = await this.redis.run((c) => c.netflowsTake(keys.length, ...keys, now, ...args, this.uniqueId()));
    const windows: WindowState[] = limits.map((l, i) => ({
      limit: l.limit,
      windowMs: l.windowMs,
      remaining: Math.max(0, Number(reply[2 + 2 * i])),
      refillsInMs: Math.max(0, Number(reply[3 + 2 * i])),
    }));
    return { granted: Number(reply[0]) === 1, retryAfterMs: Math.max(0, Number(reply[1])), windows };
  }

  async peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return (await this.upstreamState(key, limits, false, now)).windows;
  }

  async consume(key: string, limit: RateLimit, count: number, endsAt: number): Promise<void> {
    const members = Array.from({ length: Math.min(count, limit.limit) }, () => [endsAt, this.uniqueId()] as const).flat();
    if (members.length > 0) await this.redis.run((c) => c.zadd(windowKey(key, limit), ...members));
  }

  async reserve({ key, limits, maxInFlight, leaseUntil, credits, now }: ReserveRequest): Promise<Reservation> {
    const token = this.uniqueId();
    const keys = [...ledgerKeys(key, now), ...limits.map((l) => windowKey(key, l))];
    const args = [
      now, maxInFlight, leaseUntil, token, credits ? 1 : 0, credits?.cost ?? 0, credits?.reserve ?? 0, credits?.dailyCap ?? -1, credits?.recheckMs ?? 0,
      utcDayStart(now) + DAY_MS, CREDITS_UNKNOWN_RETRY_MS, RESERVE_RETRY_MS, SLOT_POLL_MS, ...limits.flatMap((l) => [l.limit, l.windowMs]),
    ];
    const reply = await this.redis.run((c) => c.netflowsReserve(keys.length, ...keys, ...args));
    const [remaining, spentToday, inFlight, closedUntil] = reply.slice(2).map(Number) as [number, number, number, number];
    const ledger = credits ? { credits: { remaining: remaining < 0 ? null : remaining, spentToday, inFlight, closedUntil } } : {};
    if (reply[0] === '') return { granted: true, token, ...ledger };
    return { granted: false, refusal: String(reply[0]) as Refusal, retryAfterMs: Math.max(1, Number(reply[1])), ...(reply.length >= 6 ? ledger : {}) };
  }

  async settle({ key, token, now, credits, pauseUntil, late, corrections }: SettleRequest): Promise<void> {
    const limits = [...new Map([...late, ...corrections].map((x) => [x.limit.windowMs, x.limit])).values()];
    const keys = [...ledgerKeys(key, now), ...limits.map((l) => windowKey(key, l))];
    const args = [
      now, token, credits ? 1 : 0, credits?.used ?? -1, credits?.remaining ?? -1, credits?.succeeded ? 1 : 0, credits?.exhausted ? 1 : 0, credits?.cost ?? 0,
      credits?.recheckMs ?? 0, utcDayStart(now) + 2 * DAY_MS - now, pauseUntil ?? 0,
      ...limits.flatMap((limit) => {
        const lateUse = late.find((l) => l.limit.windowMs === limit.windowMs);
        const reading = corrections.find((c) => c.limit.windowMs === limit.windowMs);
        return [limit.limit, lateUse ? 1 : 0, lateUse?.endsAt ?? 0, reading?.remaining ?? -1, reading?.endsAt ?? 0];
      }),
    ];
    await this.redis.run((c) => c.netflowsSettle(keys.length, ...keys, ...args));
  }

  async release(key: string, token: string): Promise<void> {
    await this.redis.run((c) => c.netflowsRelease(`slots:${key}`, `slot-costs:${key}`, token));
  }

  async upstreamState(key: string, limits: readonly RateLimit[], credits: boolean, now: number): Promise<UpstreamState> {
    const keys = [...ledgerKeys(key, now), ...limits.map((l) => windowKey(key, l))];
    const reply = (await this.redis.run((c) => c.netflowsUpstreamState(keys.length, ...keys, now, ...limits.map((l) => l.limit)))).map(Number);
    const [inFlight, pausedUntil, remaining, spentToday, pending, closedUntil] = reply as [number, number, number, number, number, number];
    const creditState: CreditState = { remaining: remaining < 0 ? null : remaining, spentToday, inFlight: pending, closedUntil };
    return {
      windows: limits.map((l, i) => ({ limit: l.limit, windowMs: l.windowMs, remaining: reply[6 + 2 * i]!, refillsInMs: reply[7 + 2 * i]! })),
      inFlight,
      pausedUntil,
      ...(credits ? { credits: creditState } : {}),
    };
  }

  async reserveAllowance({ key, amount, allowance, leaseUntil, now }: AllowanceRequest): Promise<AllowanceReservation> {
    const token = this.uniqueId();
    const reply = (await this.redis.run((c) => c.netflowsReserveAllowance(...allowanceKeys(key, now), now, leaseUntil, token, amount, allowance))).map(Number);
    const held = { spentToday: reply[1]!, inFlight: reply[2]! };
    return reply[0] === 1 ? { granted: true, token, ...held } : { granted: false, ...held };
  }

  async settleAllowance(key: string, token: string | undefined, spent: number, now: number): Promise<void> {
    await this.redis.run((c) => c.netflowsSettleAllowance(...allowanceKeys(key, now), token ?? '', spent, utcDayStart(now) + 2 * DAY_MS - now));
  }

  async allowanceState(key: string, now: number): Promise<AllowanceState> {
    const [spentToday, inFlight] = (await this.redis.run((c) => c.netflowsAllowanceState(...allowanceKeys(key, now), now))).map(Number);
    return { spentToday: spentToday!, inFlight: inFlight! };
  }

  async circuitCheck(key: string, cooldownMs: number, now: number): Promise<number> {
    return Number(await this.redis.run((c) => c.netflowsCircuitCheck(`number:${key}:open-until`, `number:${key}:probe-until`, now, cooldownMs)));
  }

  async circuitRecord(key: string, ok: boolean, threshold: number, cooldownMs: number, now: number): Promise<void> {
    await this.redis.run((c) =>
      c.netflowsCircuitRecord(`number:${key}:failures`, `number:${key}:open-until`, `number:${key}:probe-until`, ok ? 1 : 0, now, threshold, cooldownMs),
    );
  }

  async circuitState(key: string, now: number): Promise<CircuitState> {
    const openUntil = Number((await this.redis.run((c) => c.get(`number:${key}:open-until`))) ?? 0);
    if (openUntil === 0) return 'closed';
    return now < openUntil ? 'open' : 'half_open';
  }

  private uniqueId(): string {
    return `r${this.instance}:${++this.sequence}`;
  }
}

function windowKey(key: string, limit: RateLimit): string {
  return `budget:${key}:${limit.windowMs}`;
}

/** The seven keys every upstream-budget script takes first, in its order. */
function ledgerKeys(key: string, now: number): string[] {
  return [
    `number:${key}:paused`,
    `slots:${key}`,
    `slot-costs:${key}`,
    `number:${key}:credits:remaining`,
    `number:${key}:credits:closed`,
    `number:${spentKey(key, now)}`,
    `number:${key}:credits:settled`,
  ];
}

function allowanceKeys(key: string, now: number): [string, string, string] {
  return [`leases:${key}:reserved`, `lease-costs:${key}:reserved`, `number:${spentKey(key, now)}`];
}
