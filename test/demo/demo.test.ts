import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { listening, startDemo } from './start.js';

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

  it("answers a new user's first hourly Nansen curl with rows: 14 days of snapshots seeded from the simulator, no credit spent", async () => {
    const demo = await startDemo({}, (lines) => listening(lines) && lines.some((l) => l.includes("curl '") && l.includes('interval=1h')));
    try {
      const curl = demo.lines.find((l) => l.includes('interval=1h'))!;
      const url = /curl '([^']+)'/.exec(curl)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/netflows\?interval=1h&source=nansen&asset=[a-z0-9]+$/);
      const response = await request(url);
      expect(response.statusCode).toBe(200);
      const answer = (await response.body.json()) as { data: { window: string; asset: string }[]; sources: { source: string; coverage?: unknown }[] };
      expect(answer.data.length).toBeGreaterThan(0);
      expect(answer.data.every((r) => r.window === '1h' && r.asset === new URL(url).searchParams.get('asset'))).toBe(true);
      expect(answer.sources[1]).toMatchObject({ source: 'nansen', coverage: { buckets: 48, with_data: 48 } });
      const seeded = demo.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; snapshots?: number; ms?: number }).find((l) => l.msg.startsWith('history seeded'))!;
      expect(seeded.msg).toContain("the simulator's own data function");
      expect(seeded.msg).toContain('no credit spent');
      expect(seeded.snapshots).toBe(14 * 24 * 2);
      const base = new URL(url).origin;
      const metrics = await (await request(`${base}/metrics`)).body.text();
      // The recorder may have run (within an hour's first 10 minutes); nothing else called Nansen.
      const recorded = [...metrics.matchAll(/netflows_history_recorder_runs_total\{[^}]*outcome="recorded"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      expect(metrics).toContain(`netflows_nansen_credits_spent_today ${5 * recorded}`);
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 120_000);
});
