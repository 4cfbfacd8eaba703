import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** Prefix of every key, so several gateways can share one Redis. */
  keyPrefix: string;
  /** A command slower than this fails (ms; default 1000). Two failures within 3 s, or a lost connection, mean degraded. */
  commandTimeoutMs?: number;
  logger: FastifyBaseLogger;
}

/**
 * One connection per process. Commands never queue while Redis is away: they fail at once,
 * and callers fall back to their local state (degraded mode). ioredis reconnects by
 * itself; the shared mode resumes as soon as the connection is ready again.
 */
export class RedisConnection {
  readonly client: Redis;
  private failedAt = 0;
  private wasUp = false;
  private recentFailures: number[] = [];

  constructor(private readonly options: RedisOptions) {
    this.client = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      lazyConnect: false,
    });
    this.client.on('ready', () => {
      this.failedAt = 0;
      if (!this.wasUp) options.logger.info('redis connected: shared mode');
      this.wasUp = true;
    });
    this.client.on('error', () => {
      if (this.client.status !== 'ready') this.markDown();
    });
    this.client.on('close', () => this.markDown());
  }

  /** Resolves when connected, or after `ms` (the replica then starts degraded and joins when Redis answers). */
  async waitUntilReady(ms: number): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Shared mode: the connection is ready and no command failed in the last second. */
  get up(): boolean {
    return this.client.status === 'ready' && Date.now() - this.failedAt > 1000;
  }

  markDown(): void {
    if (this.wasUp) this.options.logger.warn('redis unreachable or slow: degraded mode, each replica on its own share of the limits');
    this.wasUp = false;
    this.failedAt = Date.now();
  }

  /** Runs a command in shared mode; throws at once when degraded. */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.up) throw new Error('redis is degraded');
    try {
      return await command(this.client);
    } catch (error) {
      // One slow answer can be a pause of this process; two in a row, or a lost connection, are Redis trouble.
      const now = Date.now();
      this.recentFailures = [...this.recentFailures.filter((t) => now - t < 3000), now];
      if (this.client.status !== 'ready' || this.recentFailures.length >= 2) this.markDown();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.client.disconnect(false);
  }
}
