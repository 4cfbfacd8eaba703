import { createHash, timingSafeEqual } from 'node:crypto';
import { parseRateLimits, type RateLimit } from '../ratelimit.js';
import type { Secret } from '../secret.js';

/** A named caller: the SHA-256 of its token (never the token), its own quota and its Nansen credit allowance. */
export interface CallerToken {
  name: string;
  sha256: Buffer;
  rateLimits: readonly RateLimit[];
  /** Most Nansen credits its requests may cost per UTC day; undefined = no allowance of its own. */
  nansenDailyCredits?: number;
}

/**
 * `CALLER_TOKENS_FILE`: a JSON array (or `{ "callers": [...] }`) of
 * `{ "name": "grafana", "sha256": "<hex of sha256(token)>", "rate_limit": "120/1m", "nansen_daily_credits": 500 }`
 * (the allowance is optional). Returns the callers, or the problems found.
 */
export function parseCallerTokens(text: string): { callers: CallerToken[]; problems: string[] } {
  const problems: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { callers: [], problems: ['is not JSON'] };
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { callers?: unknown } | null)?.callers;
  if (!Array.isArray(list) || list.length === 0) return { callers: [], problems: ['must be a non-empty array of callers'] };
  const callers: CallerToken[] = [];
  list.forEach((item: unknown, i) => {
    const { name, sha256, rate_limit: rateLimit, nansen_daily_credits: allowance } = (item ?? {}) as Record<string, unknown>;
    const where = `caller ${i + 1}`;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) problems.push(`${where}: name must be 1–64 letters, digits, _ . -`);
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(sha256)) problems.push(`${where}: sha256 must be 64 hex digits (the SHA-256 of the token)`);
    const limits = typeof rateLimit === 'string' ? parseRateLimits(rateLimit) : undefined;
    if (!limits) problems.push(`${where}: rate_limit must look like "120/1m"`);
    const allowanceOk = allowance === undefined || (Number.isSafeInteger(allowance) && (allowance as number) >= 0);
    if (!allowanceOk) problems.push(`${where}: nansen_daily_credits must be a whole number of credits, 0 or more`);
    if (typeof name === 'string' && callers.some((c) => c.name === name)) problems.push(`${where}: name ${name} is used twice`);
    if (typeof sha256 === 'string' && callers.some((c) => c.sha256.toString('hex') === sha256.toLowerCase())) problems.push(`${where}: the same token hash is used twice`);
    if (typeof name === 'string' && typeof sha256 === 'string' && /^[0-9a-f]{64}$/i.test(sha256) && limits && allowanceOk) {
      callers.push({ name, sha256: Buffer.from(sha256, 'hex'), rateLimits: limits, ...(allowance !== undefined ? { nansenDailyCredits: allowance as number } : {}) });
    }
  });
  return { callers, problems };
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer[ ]+([\x21-\x7e]{1,512})$/i.exec(authorization ?? '');
  return match?.[1];
}

/**
 * The caller whose token hash matches, comparing against every entry in constant time
 * so neither the match nor its position shows in the timing.
 */
export function identifyCaller(callers: readonly CallerToken[], token: string | undefined): CallerToken | undefined {
  const presented = sha256(token ?? '');
  let found: CallerToken | undefined;
  for (const caller of callers) {
    if (timingSafeEqual(caller.sha256, presented) && token !== undefined) found = caller;
  }
  return found;
}

/**
 * identifyCaller with a memory of the tokens it has matched, so a caller's next request
 * skips the SHA-256. Only matched tokens are kept (one per caller, so it stays as small as
 * the caller list); an unknown token is hashed and compared against every entry each time.
 */
export class CallerMemo {
  private readonly known = new Map<string, CallerToken>();

  constructor(private readonly callers: readonly CallerToken[]) {}

  identify(token: string | undefined): CallerToken | undefined {
    if (token === undefined) return undefined;
    const remembered = this.known.get(token);
    if (remembered) return remembered;
    const caller = identifyCaller(this.callers, token);
    if (caller) this.known.set(token, caller);
    return caller;
  }
}

/** Whether `token` is `secret` (the admin or metrics token), compared by hash in constant time. */
export function matchesSecret(secret: Secret, token: string | undefined): boolean {
  return timingSafeEqual(sha256(secret.reveal()), sha256(token ?? '')) && token !== undefined;
}
