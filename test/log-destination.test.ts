import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { batchedDestination } from '../src/log-destination.js';

async function contentOf(file: string, length: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = (() => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    })();
    if (text.length >= length) return text;
    await sleep(10);
  }
  return readFileSync(file, 'utf8');
}

describe('batchedDestination', () => {
  it('writes every line, in order, once its turn of the event loop ends, and a turn of more than 64 KB at once', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'log-')), 'lines.log');
    const destination = batchedDestination(file);
    const lines = Array.from({ length: 3000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 50)}"}\n`);
    for (const line of lines.slice(0, 2000)) destination.write(line);
    await new Promise((resolve) => setImmediate(resolve));
    for (const line of lines.slice(2000)) destination.write(line);
    const expected = lines.join('');
    expect(await contentOf(file, expected.length)).toBe(expected);
    // A lone line later on is not held back waiting for company.
    destination.write('{"last":true}\n');
    expect(await contentOf(file, expected.length + 14)).toBe(`${expected}{"last":true}\n`);
  });

  it('writes what the turn still holds when the process exits at once (stdout)', () => {
    const script = `import { batchedDestination } from './src/log-destination.ts'; const d = batchedDestination(1); d.write('{"a":1}\\n'); d.write('{"b":2}\\n'); process.exit(0);`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('{"a":1}\n{"b":2}\n');
  });

  it('exits at once when nobody reads its stdout any more (regression: the exit flush retried a broken pipe forever)', async () => {
    const script = `import { batchedDestination } from './src/log-destination.ts'; const d = batchedDestination(1); const line = '{"pad":"' + 'x'.repeat(200) + '"}\\n'; process.stdin.once('data', () => { for (let i = 0; i < 2000; i++) d.write(line); process.exit(0); }); process.stdout.write('ready\\n');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    // The reader goes away: every later write to the pipe fails with EPIPE.
    child.stdout.destroy();
    child.stdin.write('go\n');
    const exited = await Promise.race([new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))), sleep(5000).then(() => 'still running' as const)]);
    if (exited === 'still running') child.kill('SIGKILL');
    expect(exited).toBe(0);
  });
});
