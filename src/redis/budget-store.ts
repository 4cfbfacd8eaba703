import type { Redis } from 'ioredis';
import type { RateLimit } from '../config.js';
import type { BudgetStore, TakeResult, WindowState } from '../budget/store.js';
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

/** KEYS[1] sorted set of slot holders. ARGV: now, max, expiresAt, token. */
const ACQUIRE_SLOT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return 1
`;

/** KEYS[1] number; ARGV: delta, expiresAt (0 = none). */
const ADD_NUMBER = `
local value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return value
`;

declare module 'ioredis' {
  interface RedisCommander {
    netflowsTake(...args: (string | number)[]): Promise<number[]>;
    netflowsAcquireSlot(key: string, now: number, max: number, expiresAt: number, token: string): Promise<number>;
    netflowsAddNumber(key: string, delta: number, expiresAt: number): Promise<string>;
  }
}

/** The budget store in Redis: every replica spends one budget, with Lua scripts for atomicity. */
export class RedisBudgetStore implements BudgetStore {
  private sequence = 0;
  private readonly instance = Math.random().toString(36).slice(2, 10);

  constructor(private readonly redis: RedisConnection) {
    const client: Redis = redis.client;
    client.defineCommand('netflowsTake', { lua: TAKE });
    client.defineCommand('netflowsAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE_SLOT });
    client.defineCommand('netflowsAddNumber', { numberOfKeys: 1, lua: ADD_NUMBER });
  }

  async take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    const keys = limits.map((l) => `budget:${key}:${l.windowMs}`);
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

  async consume(key: string, limit: RateLimit, count: number, endsAt: number): Promise<void> {
    const members = Array.from({ length: count }, () => [endsAt, this.uniqueId()] as const).flat();
    await this.redis.run((c) => c.zadd(`budget:${key}:${limit.windowMs}`, ...members));
  }

  async peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return Promise.all(
      limits.map(async (l) => {
        const setKey = `budget:${key}:${l.windowMs}`;
        const [count, first] = await this.redis.run((c) =>
          Promise.all([c.zcount(setKey, `(${now}`, '+inf'), c.zrangebyscore(setKey, `(${now}`, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)]),
        );
        return {
          limit: l.limit,
          windowMs: l.windowMs,
          remaining: Math.max(0, l.limit - count),
          refillsInMs: first[1] ? Math.max(0, Number(first[1]) - now) : 0,
        };
      }),
    );
  }

  async acquireSlot(key: string, max: number, expiresAt: number, now: number): Promise<string | undefined> {
    const token = this.uniqueId();
    const granted = await this.redis.run((c) => c.netflowsAcquireSlot(`slots:${key}`, now, max, expiresAt, token));
    return granted === 1 ? token : undefined;
  }

  async releaseSlot(key: string, token: string): Promise<void> {
    await this.redis.run((c) => c.zrem(`slots:${key}`, token));
  }

  async slots(key: string, now: number): Promise<number> {
    return this.redis.run((c) => c.zcount(`slots:${key}`, `(${now}`, '+inf'));
  }

  async getNumber(key: string): Promise<number | undefined> {
    const value = await this.redis.run((c) => c.get(`number:${key}`));
    return value === null ? undefined : Number(value);
  }

  async setNumber(key: string, value: number, expiresAt?: number): Promise<void> {
    await this.redis.run((c) =>
      expiresAt !== undefined && Number.isFinite(expiresAt) ? c.set(`number:${key}`, String(value), 'PXAT', Math.ceil(expiresAt)) : c.set(`number:${key}`, String(value)),
    );
  }

  async addNumber(key: string, delta: number, expiresAt?: number): Promise<number> {
    const at = expiresAt !== undefined && Number.isFinite(expiresAt) ? Math.ceil(expiresAt) : 0;
    return Number(await this.redis.run((c) => c.netflowsAddNumber(`number:${key}`, delta, at)));
  }

  private uniqueId(): string {
    return `r${this.instance}:${++this.sequence}`;
  }
}
