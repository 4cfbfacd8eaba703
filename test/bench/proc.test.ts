import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { treeCpuSeconds } from '../../bench/lib/proc.js';

/** Spends `ms` of its own CPU time, whatever else the machine does. */
const BURN = (ms: number) => `const t = process.cpuUsage(); while (process.cpuUsage(t).user + process.cpuUsage(t).system < ${ms * 1000}) {}`;

// The bench charges a server the CPU of its whole process tree (nginx's master and worker,
// varnishd's manager and cache process) and the load generator that of wrk, which has exited
// by the time it is read: both must be counted.
describe('treeCpuSeconds', () => {
  it.runIf(process.platform === 'linux')('counts a descendant while it runs and after it has exited and been waited for', async () => {
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const { spawn, spawnSync } = require('node:child_process');
         const running = spawn(process.execPath, ['-e', ${JSON.stringify(`${BURN(300)}; process.stdout.write('x'); setInterval(() => {}, 1000)`)}], { stdio: ['ignore', 'pipe', 'inherit'] });
         running.stdout.once('data', () => {
           spawnSync(process.execPath, ['-e', ${JSON.stringify(BURN(600))}]);
           process.stdout.write('ready\\n');
         });
         process.stdin.resume();
         process.stdin.on('end', () => { running.kill(); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await once(parent.stdout!, 'data');
      // 0.3 s of the grandchild still running and 0.6 s of the one that exited (in the parent's
      // cutime), besides the parent's own; without the exited one the sum stays well below.
      expect(treeCpuSeconds(parent.pid)!).toBeGreaterThanOrEqual(0.88);
    } finally {
      parent.stdin!.end();
      await once(parent, 'exit');
    }
  });

  it('answers undefined for a process that does not exist', () => {
    expect(treeCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });
});
