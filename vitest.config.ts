import { configDefaults, defineConfig } from 'vitest/config';

/** The memory flood loads both cores for a while: it runs alone, after the other suites, so neither disturbs the other's timing. */
const FLOOD = 'test/memory.test.ts';

export default defineConfig({
  test: {
    // Fails the run, naming what to install, when a program the tests start is missing; then builds the explorer page.
    globalSetup: ['test/prerequisites.ts', 'test/explorer/build-page.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'suites', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, FLOOD], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'flood', include: [FLOOD], sequence: { groupOrder: 1 } } },
    ],
  },
});
