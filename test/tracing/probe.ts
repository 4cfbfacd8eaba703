import { hasSubscribers } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Imported before the gateway (`--import`): when it exits, writes to TRACE_PROBE_FILE which
 * tracing modules it loaded and which diagnostics channels had subscribers. Observes only.
 * `@opentelemetry/api` is left out: prom-client loads it whatever the gateway does.
 */
const TRACING_MODULES = /node_modules\/(@opentelemetry\/(?!api\/)[^/]+|@fastify\/otel|import-in-the-middle|require-in-the-middle)\//;
const CHANNELS = ['fastify.initialization', 'undici:request:create', 'undici:request:headers'];

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const modules = [...new Set(Object.keys(cache).flatMap((path) => TRACING_MODULES.exec(path)?.[1] ?? []))].sort();
  const channels = CHANNELS.filter((name) => hasSubscribers(name));
  writeFileSync(process.env.TRACE_PROBE_FILE!, JSON.stringify({ modules, channels }));
});
