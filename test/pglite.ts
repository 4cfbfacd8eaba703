import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

const main = createRequire(import.meta.url).resolve('@electric-sql/pglite');
const { version } = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };

/**
 * A fresh PGlite data directory in a temporary folder, copied from one initialised once per
 * PGlite version and machine (initialising takes seconds; reopening a copy about one).
 */
export async function freshPgliteDir(): Promise<string> {
  const template = join(tmpdir(), `netflows-pglite-template-${version}`);
  if (!existsSync(join(template, 'PG_VERSION'))) {
    const building = mkdtempSync(join(tmpdir(), 'netflows-pglite-building-'));
    const db = await PGlite.create(building);
    await db.close();
    try {
      renameSync(building, template);
    } catch {
      // another test file made it first
      rmSync(building, { recursive: true, force: true });
    }
  }
  const dir = join(mkdtempSync(join(tmpdir(), 'netflows-pglite-')), 'data');
  cpSync(template, dir, { recursive: true });
  return dir;
}
