/** `limit` calls per `windowMs`, as in `10/6s`. */
export interface RateLimit {
  limit: number;
  windowMs: number;
  /** The operator's spelling, for /admin/budgets and metrics. */
  text: string;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `10/6s,300/1m`; returns undefined when any part is malformed. */
export function parseRateLimits(text: string): RateLimit[] | undefined {
  const limits: RateLimit[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d+)\s*\/\s*(\d*)\s*(ms|s|m|h|d)\s*$/.exec(part);
    if (!match) return undefined;
    const limit = Number(match[1]);
    const windowMs = Number(match[2] || 1) * (DURATION_UNITS[match[3]!] ?? 0);
    if (limit < 1 || windowMs < 1) return undefined;
    limits.push({ limit, windowMs, text: part.trim() });
  }
  return limits;
}
