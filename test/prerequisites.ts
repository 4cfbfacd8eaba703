import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Programs `npm test` starts (a name looked up on PATH, or an absolute path), and how to install each (Debian and Ubuntu). */
export const PREREQUISITES = [
  { binary: 'redis-server', neededBy: 'the Redis tests in test/redis/', install: 'apt-get install redis-server' },
  { binary: '/usr/lib/postgresql/15/bin/initdb', neededBy: 'the history tests in test/history/ (the PostgreSQL 15 server)', install: 'apt-get install postgresql-15' },
  { binary: '/usr/bin/chromium', neededBy: 'the explorer browser tests in test/explorer/', install: 'apt-get install chromium' },
] as const;

/** Throws, naming each missing program and its install command, unless every prerequisite is executable. */
export function checkPrerequisites(path = process.env.PATH ?? ''): void {
  const missing = PREREQUISITES.filter(({ binary }) => !onPath(binary, path));
  if (missing.length === 0) return;
  const lines = missing.map(({ binary, neededBy, install }) => `  ${binary} (for ${neededBy}): ${install}`);
  throw new Error(`npm test needs programs that are not installed:\n${lines.join('\n')}`);
}

function onPath(binary: string, path: string): boolean {
  if (isAbsolute(binary)) return executable(binary);
  return path.split(delimiter).some((dir) => executable(join(dir, binary)));
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** vitest globalSetup: a run without a prerequisite fails at once and says what to install, rather than failing or skipping later. */
export function setup(): void {
  checkPrerequisites();
}
