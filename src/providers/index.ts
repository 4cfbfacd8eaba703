import { coinmetrics } from './coinmetrics/index.js';
import { checkRegistry } from './descriptor.js';
import { nansen } from './nansen/index.js';

/**
 * The registry: every upstream the gateway serves, in the order answers list them. A new
 * upstream is one folder that exports a descriptor, and one entry here.
 */
export const PROVIDERS = [coinmetrics, nansen] as const;
checkRegistry(PROVIDERS);

export type DefaultRegistry = typeof PROVIDERS;
