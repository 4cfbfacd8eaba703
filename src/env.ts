import { parseRateLimits, type RateLimit } from './ratelimit.js';
import { Secret } from './secret.js';

export type Env = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => string;

/**
 * Reads environment variables, each validated as it is read; every problem is noted (by
 * name, never echoing a key) for loadConfig to list at once. Providers read their own
 * block of variables through it.
 */
export class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly readFile: ReadFile,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    return this.optionalInteger(name, min, max) ?? fallback;
  }

  /** A variable in seconds (`*_S`), as ms. */
  seconds(name: string, fallback: number, min: number, max: number): number {
    return this.integer(name, fallback, min, max) * 1000;
  }

  /** A variable in MiB (`*_MB`), as bytes. */
  mebibytes(name: string, fallback: number, min: number, max: number): number {
    return this.integer(name, fallback, min, max) * 1024 * 1024;
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
      return undefined;
    }
    return n;
  }

  oneOf(name: string, fallback: string, allowed: readonly string[]): string {
    const value = this.raw(name) ?? fallback;
    if (allowed.includes(value)) return value;
    this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
    return fallback;
  }

  url(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    try {
      const url = new URL(value);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      if (url.username || url.password || url.search) throw new Error('credentials or query');
      return value.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} must be an http(s) URL without credentials or query, got "${value}"`);
      return fallback;
    }
  }

  list(name: string, fallback: string[], item: RegExp): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const items = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const bad = items.filter((s) => !item.test(s));
    if (items.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be a comma-separated list of ids, got "${value}"`);
      return fallback;
    }
    return [...new Set(items)];
  }

  rateLimits(name: string, fallback: string): RateLimit[] {
    const value = this.raw(name) ?? fallback;
    const limits = parseRateLimits(value);
    if (limits) return limits;
    this.problems.push(`${name} must look like "10/6s" or "15/1s,300/1m", got "${value}"`);
    return parseRateLimits(fallback)!;
  }

  redisUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('protocol');
      return value;
    } catch {
      this.problems.push(`${name} must be a redis:// or rediss:// URL`);
      return undefined;
    }
  }

  origins(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const origins = value.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = origins.filter((o) => o !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o));
    if (origins.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be * or a comma-separated list of origins like https://grafana.example.com, got "${value}"`);
      return [];
    }
    return origins;
  }

  /** The text of the file a variable names, or undefined (unset, or a problem noted when unreadable). */
  fileText(name: string): { path: string; text: string } | undefined {
    const path = this.raw(name);
    if (path === undefined) return undefined;
    try {
      return { path, text: this.readFile(path) };
    } catch (error) {
      this.problems.push(`${name} points to a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): ${path}`);
      return undefined;
    }
  }

  /** A problem found by whoever reads several variables together. */
  problem(text: string): void {
    this.problems.push(text);
  }

  /** `NAME` or `NAME_FILE` (a path whose content is the value); never echoes the value. */
  secret(name: string): Secret | undefined {
    const direct = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE are both set; set one`);
      return undefined;
    }
    if (file !== undefined) {
      let content: string;
      try {
        content = this.readFile(file).trim();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        this.problems.push(`${name}_FILE points to a file that cannot be read (${code}): ${file}`);
        return undefined;
      }
      if (content === '') {
        this.problems.push(`${name}_FILE points to an empty file: ${file}`);
        return undefined;
      }
      return new Secret(content);
    }
    if (direct === undefined) return undefined;
    if (/\s/.test(direct)) {
      this.problems.push(`${name} must not contain white space`);
      return undefined;
    }
    return new Secret(direct);
  }
}
