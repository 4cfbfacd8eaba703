/** Milliseconds since the epoch; injected wherever time matters so tests can move it. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export const DAY_MS = 86_400_000;

/** Start (00:00 UTC) of the day that contains `ms`. */
export function utcDayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The latest day that has fully ended at `now`: yesterday, UTC. */
export function latestCompleteDay(now: number): number {
  return utcDayStart(now) - DAY_MS;
}

export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** RFC 3339 UTC without fractional seconds, the form every record and header uses. */
export function rfc3339(ms: number): string {
  const second = Math.floor(ms / 1000) * 1000;
  // Records repeat the same period bounds (whole days and hours) across every question: written once each.
  if (second % HOUR_MS !== 0) return format3339(second);
  let text = bounds.get(second);
  if (text === undefined) {
    if (bounds.size >= BOUNDS_KEPT) bounds.clear();
    text = format3339(second);
    bounds.set(second, text);
  }
  return text;
}

/** Ten years of days, or a year of hours: about a megabyte at most. */
const BOUNDS_KEPT = 10_000;
const bounds = new Map<number, string>();

function format3339(second: number): string {
  return new Date(second).toISOString().replace('.000Z', 'Z');
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Parses `YYYY-MM-DD` or an RFC 3339 date-time; returns ms or undefined when invalid. */
export function parseDateOrTime(value: string): number | undefined {
  const dateOnly = DATE_ONLY.exec(value);
  if (dateOnly) {
    const ms = Date.UTC(Number(dateOnly[1]), Number(dateOnly[2]) - 1, Number(dateOnly[3]));
    return isoDay(ms) === value ? ms : undefined;
  }
  if (!DATE_TIME.test(value)) return undefined;
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(ms) ? ms : undefined;
}

export const HOUR_MS = 3_600_000;

/** Calls `run` once after `ms`; the function it returns cancels the call. Injected where work is scheduled, so tests fire it. */
export type Timer = (run: () => void, ms: number) => () => void;

/** setTimeout, unref'd: a scheduled job never keeps the process alive. */
export const systemTimer: Timer = (run, ms) => {
  const timeout = setTimeout(run, ms);
  timeout.unref();
  return () => clearTimeout(timeout);
};
