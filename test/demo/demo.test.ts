import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

/** Starts `src/demo/main.ts` with `env`; resolves once it listens and has printed its examples. */
async function startDemo(env: Record<string, string>): Promise<{ lines: string[]; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (lines.some((l) => l.includes('Server listening')) && lines.some((l) => l.includes('metrics: '))) resolve();
      });
      void exited.then(() => reject(new Error(`the demo exited:\n${lines.join('\n')}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { lines, stop };
}

/** Whether something accepts TCP connections at host:port. */
async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const otherAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('npm run demo', () => {
  it('listens on loopback unless HOST says otherwise, and warns that data routes are open (regression: every interface, no warning)', async () => {
    const demo = await startDemo({});
    try {
      const logs = demo.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(logs).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('data routes and /metrics are open') }));
      const listening = logs.find((line) => line.msg.startsWith('Server listening at'))!.msg;
      expect(listening).toMatch(/^Server listening at http:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(/:(\d+)$/.exec(listening)![1]);
      expect(demo.lines).toContainEqual(expect.stringContaining(`curl 'http://127.0.0.1:${port}/netflows?window=7d&limit=5'`));
      expect(await accepts('127.0.0.1', port)).toBe(true);
      // The machine's own address, where one exists, finds nothing listening.
      if (otherAddress) expect(await accepts(otherAddress, port)).toBe(false);
    } finally {
      await demo.stop();
    }
  }, 30_000);
});
