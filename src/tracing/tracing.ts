import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { SqlDatabase } from '../history/sql.js';
import type { AttemptTracer } from '../upstream/http.js';

/**
 * Traces as the wiring sees them. Made only when an OTLP endpoint is set; without one the
 * gateway never loads OpenTelemetry and passes none of these on.
 */
export interface Tracing {
  /** `trace_id` and `span_id` of the active span, for every log line (pino's mixin); `{}` outside a trace. */
  logFields: () => Record<string, string>;
  /** One span per upstream attempt, for the upstream clients. */
  upstream: AttemptTracer;
  /** Puts each request's cache outcome on its server span. */
  requestSpans: FastifyPluginAsync;
  /** The server span of a request the early lane answers (a kept answer), begun at `startedAt` (performance.now()): Fastify's instrumentation never sees those. */
  laneSpan(req: IncomingMessage, startedAt: number): LaneSpan;
  /** A span per history read and write, for a database that has no instrumentation of its own (PGlite). */
  traceDatabase(database: SqlDatabase): SqlDatabase;
  /** Exports what is still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** A kept answer's server span: its ids (for the log line), ended with the status sent. */
export interface LaneSpan {
  trace_id: string;
  span_id: string;
  end(status: number): void;
}
