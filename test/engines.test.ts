import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };

describe('the declared Node range', () => {
  it('is supported by every locked package (regression: content-disposition@3 and cookie@2 need Node 22)', () => {
    const unsupported = Object.entries(lock.packages).flatMap(([path, entry]) => {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      return range && !semver.subset(pkg.engines.node, range) ? [`${path.replace(/^.*node_modules\//, '')}@${entry.version}: ${range}`] : [];
    });
    expect(unsupported).toEqual([]);
  });

  it('holds the Node running the tests, and npm ci on it prints no engine warning', async () => {
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
    const { stdout, stderr } = await run('npm', ['ci', '--dry-run', '--engine-strict', '--ignore-scripts', '--no-audit', '--no-fund'], { env: { ...process.env, npm_config_loglevel: 'warn' } });
    expect(`${stdout}${stderr}`).not.toMatch(/EBADENGINE|notsup/);
  }, 60_000);
});
