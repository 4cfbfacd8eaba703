import type { TracingSettings } from './settings.js';
import type { Tracing } from './tracing.js';

/**
 * Starts OpenTelemetry. Call it before the app's modules are imported: the Redis and
 * PostgreSQL instrumentations patch their clients as they load.
 */
export async function startTracing(settings: TracingSettings): Promise<Tracing> {
  const { startOpenTelemetry } = await import('./otel.js');
  return startOpenTelemetry(settings);
}
