import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { freshPgliteDir } from '../pglite.js';

export const listening = (lines: string[]) => lines.some((l) => l.includes('Server listening')) && lines.some((l) => l.includes('metrics: '));

/**
 * Starts `src/demo/main.ts` with `env` and a history directory of its own (a copy of an
 * initialised one, not the repository's .demo-data); resolves once `ready` says so (by
 * default: it listens and has printed its examples).
 */
export async function startDemo(env: Record<string, string>, ready = listening): Promise<{ lines: string[]; stop(): Promise<number | null> }> {
  const historyDir = await freshPgliteDir();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', DEMO_HISTORY_DIR: historyDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    const code = await exited;
    rmSync(dirname(historyDir), { recursive: true, force: true });
    return code;
  };
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (ready(lines)) resolve();
      });
      void exited.then(() => reject(new Error(`the demo exited:\n${lines.join('\n')}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { lines, stop };
}

/** Where the demo's gateway listens, from its "Server listening at" log line. */
export function demoOrigin(lines: readonly string[]): string {
  const line = lines.find((l) => l.includes('Server listening at'))!;
  return /Server listening at (http:\/\/[0-9.]+:\d+)/.exec(line)![1]!;
}
