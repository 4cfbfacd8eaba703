import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import type { ReadFile } from '../src/env.js';

/** The problems loadConfig refuses `env` with; a test failure when it accepts it. */
export function configProblems(env: Record<string, string>, readFile?: ReadFile): string[] {
  try {
    loadConfig(env, readFile);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}
