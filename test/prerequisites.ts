import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Programs `npm test` starts, and how to install each (Debian and Ubuntu). */
export const PREREQUISITES = [
  { binary: 'redis-server', neededBy: 'the Redis tests in test/redis/', install: 'apt-get install redis-server' },
  { binary: 'chromium', neededBy: 'the explorer browser tests in test/explorer/', install: 'apt-get install chromium' },
] as const;

/** Throws, naming each missing program and its install command, unless every prerequisite is an executable on `path`. */
export function checkPrerequisites(path = process.env.PATH ?? ''): void {
  const missing = PREREQUISITES.filter(({ binary }) => !onPath(binary, path));
  if (missing.length === 0) return;
  const lines = missing.map(({ binary, neededBy, install }) => `  ${binary} (for ${neededBy}): ${install}`);
  throw new Error(`npm test needs programs that are not on PATH:\n${lines.join('\n')}`);
}

function onPath(binary: string, path: string): boolean {
  return path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** vitest globalSetup: a run without a prerequisite fails at once and says what to install, rather than failing or skipping later. */
export function setup(): void {
  checkPrerequisites();
}
