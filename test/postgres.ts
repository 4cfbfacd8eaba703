import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './processes.js';

const BIN_DIR = '/usr/lib/postgresql/15/bin';
/** initdb and postgres refuse to run as root: there they run as this user, in a folder it owns. */
const UNPRIVILEGED = { uid: 65534, gid: 65534 };

function binary(name: string): string {
  const packaged = join(BIN_DIR, name);
  return existsSync(packaged) ? packaged : name;
}

function asServerUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? UNPRIVILEGED : {};
}

/**
 * A real PostgreSQL server of the test's own: initdb into a temporary folder, listening on
 * 127.0.0.1 at a free port (trust authentication, fsync off: nothing here outlives the test).
 */
export class TestPostgres {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'netflows-pg-'));
    const user = asServerUser();
    if (user.uid !== undefined) {
      chownSync(dir, user.uid, user.gid!);
      chmodSync(dir, 0o700);
    }
    const init = spawnSync(binary('initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      ...user,
      cwd: dir,
      encoding: 'utf8',
    });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
    const server = new TestPostgres(await freePort(), dir);
    await server.up();
    return server;
  }

  /** A URL for a database of this server (created on first use by `createDatabase`). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async createDatabase(name: string): Promise<string> {
    await this.sql(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  async sql(text: string, database = 'postgres'): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: this.url(database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  /** Starts (again) the server on its data folder and waits until it accepts connections. */
  async up(): Promise<void> {
    const args = ['-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
    // A server killed a moment ago may still hold its shared memory through a dying backend: try again.
    for (let attempt = 0; attempt < 40; attempt++) {
      const child = spawn(binary('postgres'), args, { ...asServerUser(), cwd: this.dir, stdio: 'ignore' });
      this.process = child;
      for (let i = 0; i < 200 && child.exitCode === null; i++) {
        try {
          await this.sql('SELECT 1');
          return;
        } catch {
          await sleep(50);
        }
      }
      await sleep(100);
    }
    throw new Error('postgres did not start');
  }

  /**
   * Kills the server with SIGKILL, as a crash would: its backends notice and drop their
   * connections. `up()` starts it again on the same data.
   */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
