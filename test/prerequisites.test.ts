import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPrerequisites } from './prerequisites.js';

describe('the test run\'s prerequisites', () => {
  it('name redis-server and how to install it when it is missing (regression: the Redis tests failed without saying why)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-binaries-'));
    expect(() => checkPrerequisites(empty)).toThrow(/redis-server .*apt-get install redis-server/);
  });

  it('are found on a PATH that has them, and only as executables', () => {
    const bin = mkdtempSync(join(tmpdir(), 'binaries-'));
    writeFileSync(join(bin, 'redis-server'), '#!/bin/sh\n', { mode: 0o644 });
    expect(() => checkPrerequisites(bin)).toThrow(/redis-server/);
    chmodSync(join(bin, 'redis-server'), 0o755);
    expect(() => checkPrerequisites(`/nonexistent:${bin}`)).not.toThrow();
  });
});
