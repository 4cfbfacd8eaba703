import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A real redis-server of the test's own, on a free port, that keeps nothing on disk. */
export class TestRedis {
  private process: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return;
      } catch {
        client.disconnect();
        await sleep(50);
      }
    }
    throw new Error('redis-server did not start');
  }

  /** Kills it hard, as a crash would. */
  async kill(): Promise<void> {
    const process = this.process;
    if (!process || process.exitCode !== null || process.signalCode !== null) return;
    const exited = new Promise((resolve) => process.once('exit', resolve));
    process.kill('SIGKILL');
    await exited;
  }

  async flush(): Promise<void> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await client.flushall();
    client.disconnect();
  }
}

export interface GatewayProcess {
  base: string;
  pid: number;
  /** Every line it wrote to stdout so far (its JSON logs). */
  lines: string[];
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** A gateway process (src/server.ts through tsx) with the given environment, on a free port; `preload`: modules imported before it. */
export async function startGateway(env: Record<string, string>, preload: string[] = []): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload.flatMap((module) => ['--import', module]), 'src/server.ts'], {
    // No history unless the test asks for one: the default ./data is the user's, and one process at a time may open it.
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', HISTORY: 'off', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const written: string[] = [];
  lines.on('line', (line) => written.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      const match = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error('the gateway exited before listening')));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    lines: written,
    exited,
    signal: (signal) => child.kill(signal),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
