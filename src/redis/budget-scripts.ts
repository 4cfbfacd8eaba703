/**
 * The Lua scripts of the Redis budget store: each is one atomic operation. Keys are
 * passed in KEYS; times are the caller's clock (ms), and expiries are set relative to it.
 * Sorted sets hold uses (score: when each stops counting) and leases (score: when each
 * frees itself); a hash beside each lease set holds what each lease reserved.
 */

/** Shared helpers, prepended to the scripts that need them. */
const HELPERS = `
local function drop_expired(set, costs, now)
  local gone = redis.call('ZRANGEBYSCORE', set, '-inf', now)
  for _, member in ipairs(gone) do
    redis.call('ZREM', set, member)
    redis.call('HDEL', costs, member)
  end
end
local function reserved(costs)
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', costs)) do sum = sum + tonumber(string.match(v, '^[^:]+')) end
  return sum
end
local function number(key)
  return tonumber(redis.call('GET', key) or '0')
end
local function expire_after_last(set, now)
  local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIRE', set, math.max(1, math.ceil(tonumber(last[2]) - now) + 1000)) end
end
local function window_wait(key, limit, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  if count < limit then return 0, count end
  local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) - now), count
end
local function add_uses(key, count, ends_at, member, now)
  for i = 1, count do redis.call('ZADD', key, ends_at, member .. ':' .. i) end
  expire_after_last(key, now)
end
`;

/**
 * KEYS: the seven ledger keys (paused, slots, slot costs, credits remaining, credits closed,
 * spent today, settled in all), then one per window. Each slot's cost entry is
 * `<credits reserved>:<settled in all when it was taken>`.
 * ARGV: now, maxInFlight, leaseUntil, token, hasCredits, cost, reserve, dailyCap (-1: none),
 * recheckMs, dayEndsAt, unknownRetryMs, reserveRetryMs, slotPollMs, then limit and windowMs per window.
 * Returns { refusal ('' when granted), retryAfterMs, then the credit ledger: remaining (-1: unknown), spent, inFlight, closedUntil }.
 */
export const RESERVE = `${HELPERS}
local now = tonumber(ARGV[1])
local paused = number(KEYS[1])
if paused > now then return { 'paused', paused - now } end
drop_expired(KEYS[2], KEYS[3], now)
local recheck = false
local remaining, spent, pending, closed = -1, 0, 0, 0
if ARGV[5] == '1' then
  local cost, reserve, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local raw = redis.call('GET', KEYS[4])
  remaining = raw and tonumber(raw) or -1
  spent, pending, closed = number(KEYS[6]), reserved(KEYS[3]), number(KEYS[5])
  local function refuse(why, wait) return { why, wait, remaining, spent, pending, closed } end
  if closed > now then return refuse('credits_closed', closed - now) end
  if closed > 0 then
    recheck = true
  elseif not raw then
    if reserve > 0 and pending > 0 then return refuse('credits_unknown', tonumber(ARGV[11])) end
  elseif remaining - pending - cost < reserve then
    return refuse('reserve', tonumber(ARGV[12]))
  end
  if not recheck and cap >= 0 and spent + pending + cost > cap then return refuse('daily_cap', tonumber(ARGV[10]) - now) end
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return { 'in_flight', tonumber(ARGV[13]) } end
local wait = 0
for i = 8, #KEYS do
  local w = window_wait(KEYS[i], tonumber(ARGV[14 + 2 * (i - 8)]), now)
  if w > wait then wait = w end
end
if wait > 0 then return { 'rate', wait } end
for i = 8, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[15 + 2 * (i - 8)]), ARGV[4])
  expire_after_last(KEYS[i], now)
end
local cost = ARGV[5] == '1' and tonumber(ARGV[6]) or 0
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], cost .. ':' .. number(KEYS[7]))
expire_after_last(KEYS[2], now)
redis.call('PEXPIRE', KEYS[3], math.max(1, math.ceil(tonumber(ARGV[3]) - now) + 1000))
if recheck then
  closed = now + tonumber(ARGV[9])
  redis.call('SET', KEYS[5], closed)
end
return { '', 0, remaining, spent, pending + cost, closed }
`;

/**
 * KEYS: the seven ledger keys, then one per window. ARGV: now, token, hasCredits, used
 * (-1: not sent), remaining (-1: not sent), succeeded, exhausted, cost, recheckMs,
 * spentTtlMs, pauseUntil (0: none), then per window: limit, late (0/1), lateEndsAt,
 * reported remaining (-1: none), correctionEndsAt.
 * The balance is the upstream's report when no other call settled since this one was
 * admitted; otherwise it only falls (by what this call cost, or to the report), so a late
 * answer never raises it past what is true.
 */
export const SETTLE = `${HELPERS}
local now = tonumber(ARGV[1])
local token = ARGV[2]
local held = redis.call('HGET', KEYS[3], token)
redis.call('ZREM', KEYS[2], token)
redis.call('HDEL', KEYS[3], token)
if ARGV[3] == '1' then
  local used, reported = tonumber(ARGV[4]), tonumber(ARGV[5])
  local cost, settled_at = tonumber(ARGV[8]), nil
  if held then
    cost = tonumber(string.match(held, '^[^:]+'))
    settled_at = tonumber(string.match(held, ':(.+)$'))
  end
  local spent = used
  if used < 0 then
    spent = 0
    if ARGV[6] == '1' then spent = cost end
  end
  local settled = number(KEYS[7])
  local raw = redis.call('GET', KEYS[4])
  local remaining = nil
  local others = settled_at and settled - settled_at
  if reported >= 0 and others ~= 0 and raw then remaining = math.min(reported, tonumber(raw) - spent)
  elseif reported >= 0 and others then remaining = reported - others
  elseif reported >= 0 then remaining = reported
  elseif raw then remaining = tonumber(raw) - spent end
  if ARGV[7] == '1' and reported < 0 then remaining = 0 end
  if remaining then redis.call('SET', KEYS[4], math.max(0, remaining)) end
  if spent > 0 then
    redis.call('INCRBY', KEYS[6], spent)
    redis.call('PEXPIRE', KEYS[6], ARGV[10])
    redis.call('INCRBY', KEYS[7], spent)
  end
  if ARGV[7] == '1' then
    redis.call('SET', KEYS[5], now + tonumber(ARGV[9]))
  elseif ARGV[6] == '1' then
    redis.call('SET', KEYS[5], 0)
  end
end
local pause = tonumber(ARGV[11])
if pause > now and pause > number(KEYS[1]) then redis.call('SET', KEYS[1], pause, 'PX', math.ceil(pause - now)) end
for i = 8, #KEYS do
  local a = 12 + 5 * (i - 8)
  local limit = tonumber(ARGV[a])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if ARGV[a + 1] == '1' then add_uses(KEYS[i], 1, ARGV[a + 2], token .. ':late', now) end
  local reported = tonumber(ARGV[a + 3])
  if reported >= 0 then
    local missing = math.min(limit, limit - redis.call('ZCARD', KEYS[i]) - reported)
    if missing > 0 then add_uses(KEYS[i], missing, ARGV[a + 4], token .. ':seen', now) end
  end
end
return 1
`;

/**
 * KEYS: the seven ledger keys, then one per window. ARGV: now, then limit per window.
 * Returns { inFlight, pausedUntil, remaining (-1), spent, pending, closed, then remaining and refill per window }.
 */
export const UPSTREAM_STATE = `${HELPERS}
local now = tonumber(ARGV[1])
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
local pending = 0
for _, member in ipairs(live) do
  local held = redis.call('HGET', KEYS[3], member)
  if held then pending = pending + tonumber(string.match(held, '^[^:]+')) end
end
local raw = redis.call('GET', KEYS[4])
local out = { #live, number(KEYS[1]), raw and tonumber(raw) or -1, number(KEYS[6]), pending, number(KEYS[5]) }
for i = 8, #KEYS do
  local limit = tonumber(ARGV[i - 6])
  local count = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf')
  local first = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  table.insert(out, math.max(0, limit - count))
  table.insert(out, first[2] and math.max(0, tonumber(first[2]) - now) or 0)
end
return out
`;

/** KEYS: slots, slot costs. ARGV: token. Frees a call slot and the credits it held. */
export const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/** KEYS: leases, lease amounts, spent today. ARGV: now, leaseUntil, token, amount, allowance. Returns { granted, spent, inFlight }. */
export const RESERVE_ALLOWANCE = `${HELPERS}
local now = tonumber(ARGV[1])
drop_expired(KEYS[1], KEYS[2], now)
local spent, pending, amount = number(KEYS[3]), reserved(KEYS[2]), tonumber(ARGV[4])
if spent + pending + amount > tonumber(ARGV[5]) then return { 0, spent, pending } end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[3], amount)
expire_after_last(KEYS[1], now)
redis.call('PEXPIRE', KEYS[2], math.max(1, math.ceil(tonumber(ARGV[2]) - now) + 1000))
return { 1, spent, pending + amount }
`;

/** KEYS: leases, lease amounts, spent today. ARGV: token ('' for none), spent, spentTtlMs. */
export const SETTLE_ALLOWANCE = `
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
`;

/** KEYS: leases, lease amounts, spent today. ARGV: now. Returns { spent, inFlight }. */
export const ALLOWANCE_STATE = `${HELPERS}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local pending = 0
for _, member in ipairs(live) do pending = pending + tonumber(redis.call('HGET', KEYS[2], member) or '0') end
return { number(KEYS[3]), pending }
`;

/** KEYS: open-until, probe-until. ARGV: now, cooldownMs. Returns 0 to let a call through, else ms to wait. */
export const CIRCUIT_CHECK = `${HELPERS}
local now = tonumber(ARGV[1])
local open = number(KEYS[1])
if open == 0 then return 0 end
if now < open then return open - now end
if number(KEYS[2]) > now then return 1000 end
redis.call('SET', KEYS[2], now + tonumber(ARGV[2]))
return 0
`;

/** KEYS: failures, open-until, probe-until. ARGV: ok, now, threshold, cooldownMs. */
export const CIRCUIT_RECORD = `${HELPERS}
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], 0)
  redis.call('SET', KEYS[2], 0)
  redis.call('SET', KEYS[3], 0)
  return 1
end
local failures = redis.call('INCR', KEYS[1])
if number(KEYS[2]) > 0 or failures >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[4]))
  redis.call('SET', KEYS[3], 0)
end
return 1
`;
