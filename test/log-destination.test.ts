import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import ts from 'typescript';
import { describe, expect, it, onTestFinished } from 'vitest';
import { batchedDestination } from '../src/log-destination.js';

/** `file` (TypeScript) as a plain ES module next to the project's node_modules, for a child run by plain node. */
function plainModule(file: string): string {
  const dir = join(process.cwd(), 'node_modules', '.cache', 'plain-modules');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${basename(file, '.ts')}-${process.pid}.mjs`);
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  writeFileSync(out, outputText);
  return pathToFileURL(out).href;
}

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

  it('exits at once when nobody reads its stdout any more, and counts the lines it could not write (regression: the exit flush retried a broken pipe forever)', async () => {
    const script = `import { batchedDestination, droppedLogLines } from './src/log-destination.ts'; const d = batchedDestination(1); const line = '{"pad":"' + 'x'.repeat(200) + '"}\\n'; process.stdin.once('data', () => { for (let i = 0; i < 2000; i++) d.write(line); process.stderr.write('failed ' + droppedLogLines().failed + '\\n'); process.exit(0); }); process.stdout.write('ready\\n');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await new Promise((resolve) => child.stdout.once('data', resolve));
    // The reader goes away: every later write to the pipe fails with EPIPE.
    child.stdout.destroy();
    child.stdin.write('go\n');
    const exited = await Promise.race([new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code))), sleep(5000).then(() => 'still running' as const)]);
    if (exited === 'still running') child.kill('SIGKILL');
    expect(exited).toBe(0);
    expect(stderr).toContain('log destination failed (EPIPE)');
    expect(stderr).toContain('failed 2000\n');
  });

  it('holds at most 8 MiB for a reader that stopped reading, drops the rest, counts them in a metric and says how many it dropped once the reader is back', async () => {
    // 80 MB of lines over 320 turns while the parent does not read; the child reports how much
    // more memory it holds, then, once the parent reads again, a last line.
    const script = `import { batchedDestination } from './src/log-destination.ts';
      void process.stdout; // the gateway's createLogger looks at process.stdout first
      const d = batchedDestination(1);
      const pad = 'x'.repeat(230);
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      globalThis.gc();
      const held = () => { const m = process.memoryUsage(); return m.heapUsed + m.external; };
      const before = held();
      let n = 0;
      for (let t = 0; t < 320; t++) { for (let i = 0; i < 1000; i++) d.write('{"n":' + n++ + ',"pad":"' + pad + '"}\\n'); await turn(); }
      globalThis.gc();
      process.stderr.write('grew ' + (held() - before) + '\\n');
      const { Metrics } = await import('./src/metrics.ts');
      const counted = (await new Metrics().text()).split('\\n').filter((l) => l.startsWith('netflows_log_lines_dropped_total{'));
      process.stderr.write(counted.join('\\n') + '\\n');
      process.stdin.once('data', () => d.write('{"end":' + n + '}\\n'));`;
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const waitFor = async (what: () => boolean) => {
        for (let i = 0; i < 1500 && !what(); i++) await sleep(10);
        return what();
      };
      expect(await waitFor(() => /grew -?\d+\n/.test(stderr))).toBe(true);
      const grew = Number(/grew (-?\d+)/.exec(stderr)![1]);
      // 8 MiB held, plus what the heap has not given back yet; the unbounded destination held 80 MB more.
      expect(grew).toBeLessThan(40 * 1024 * 1024);
      expect(stderr).toMatch(/dropping log lines/);

      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stdin.write('go\n');
      expect(await waitFor(() => /\{"end":\d+\}\n$/.test(stdout) && /(\d+) log lines were dropped/.test(stderr))).toBe(true);
      const lines = stdout.trimEnd().split('\n');
      const written = Number(/\{"end":(\d+)\}/.exec(lines.pop()!)![1]);
      const numbers = lines.map((line) => (JSON.parse(line) as { n: number }).n);
      expect(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!)).toBe(true);
      const dropped = Number(/(\d+) log lines were dropped/.exec(stderr)![1]);
      expect(dropped).toBeGreaterThan(0);
      expect(numbers.length + dropped).toBe(written);
      // The same count as operators see it.
      expect(stderr).toContain(`netflows_log_lines_dropped_total{reason="behind"} ${dropped}\n`);
      expect(stderr).toContain('netflows_log_lines_dropped_total{reason="failed"} 0\n');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('exits within the 2 s bound when its stdout is a pipe in blocking mode whose reader stopped reading (regression: the exit waited for a blocked write)', async () => {
    // The pipe as a parent hands it over, in blocking mode: plain node (tsx itself would make
    // stdout non-blocking), and nothing in the child touches process.stdout.
    const plain = plainModule('src/log-destination.ts');
    onTestFinished(() => rmSync(fileURLToPath(plain)));
    const script = `import { batchedDestination } from '${plain}'; const d = batchedDestination(1); const line = '{"pad":"' + 'x'.repeat(200) + '"}\\n'; process.stdin.once('data', () => { for (let i = 0; i < 5000; i++) d.write(line); process.exit(0); }); process.stderr.write('ready\\n');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.pause();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    for (let i = 0; i < 1500 && !stderr.includes('ready'); i++) await sleep(10);
    child.stdin.write('go\n');
    const exited = await Promise.race([new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))), sleep(8000).then(() => 'still running' as const)]);
    if (exited === 'still running') child.kill('SIGKILL');
    expect(exited).toBe(0);
    expect(stderr).toMatch(/\d+ log lines were not written at exit/);
  }, 15_000);
});
