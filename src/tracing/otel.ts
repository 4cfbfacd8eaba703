import { createRequire, register } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { type Context, type TextMapGetter, type TextMapPropagator } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation, type UndiciRequest } from '@opentelemetry/instrumentation-undici';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { keptSpans } from './kept-spans.js';
import { samplerFromEnv } from './sampler.js';
import type { OtlpProtocol, TracingSettings } from './settings.js';
import { activeSpanIds, attemptTracer, laneSpans, requestSpans, serverSpanName, tracedDatabase } from './spans.js';
import type { Tracing } from './tracing.js';

const SERVICE = 'netflows-gateway';
const SHUTDOWN_FLUSH_MS = 2000;
/** Probes and scrapes come every few seconds and say nothing about a request: not traced. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The SDK with the OTLP/HTTP exporter the protocol names, the W3C trace-context propagator, and the
 * Fastify, undici, ioredis and pg instrumentations. The SDK reads the standard variables
 * itself: the endpoints, headers, timeout and compression (exporter), the span limits
 * (provider), OTEL_BSP_* (batch processor), OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * (resource); OTEL_TRACES_SAMPLER(_ARG) is read once here, for the provider and the
 * kept-answer spans (kept-spans.ts) alike.
 */
export async function startOpenTelemetry(settings: TracingSettings): Promise<Tracing> {
  // ioredis and pg are patched as they are imported; the ESM loader hook must be in place first.
  register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include: ['ioredis', 'pg', 'pg-pool'] } });
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': SERVICE, 'service.version': packageVersion() }))
    .merge(detectResources({ detectors: [envDetector] }));
  const sampler = samplerFromEnv();
  const provider = new NodeTracerProvider({ resource, sampler, spanProcessors: [new BatchSpanProcessor(await exporterFor(settings.protocol))] });
  // Trace context only: a caller's baggage is not ours to pass on to third parties.
  const w3c = new W3CTraceContextPropagator();
  provider.register({ propagator: settings.propagateUpstream ? w3c : new ExtractOnly(w3c) });
  registerInstrumentations({ tracerProvider: provider, instrumentations: instrumentations() });
  const tracer = provider.getTracer(SERVICE);
  const kept = settings.protocol === 'http/protobuf' ? keptSpans({ sampler, resource, scope: { name: SERVICE } }) : undefined;
  return {
    logFields: activeSpanIds,
    upstream: attemptTracer(tracer),
    requestSpans,
    laneSpan: kept ? kept.start : laneSpans(tracer),
    traceDatabase: (database) => tracedDatabase(database, tracer),
    // A collector that is away must not hold the exit: what is not exported by then is lost.
    shutdown: () => Promise.race([Promise.all([provider.shutdown(), kept?.shutdown()]).then(() => undefined), sleep(SHUTDOWN_FLUSH_MS)]),
  };
}

function instrumentations() {
  return [
    new FastifyOtelInstrumentation({
      registerOnInitialization: true,
      // One server span per request; a span per hook would cost more than the hit it measures.
      instrumentHooks: false,
      instrumentHandler: false,
      ignorePaths: ({ url }) => UNTRACED_ROUTES.has(pathOf(url)),
      requestHook: serverSpanName,
    }),
    // Coin Metrics' key travels in the query (api_key): the client span keeps the URL without it.
    new UndiciInstrumentation({ startSpanHook: withoutQuery }),
    // Command names only: keys and values are our cache entries and budgets, of no use in a trace.
    new IORedisInstrumentation({ dbStatementSerializer: (command, args) => `${command} (${args.length} arguments)` }),
    new PgInstrumentation({ requireParentSpan: true }),
  ];
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** url.full without its query, and no url.query at all (an undefined attribute is not recorded). */
function withoutQuery(request: UndiciRequest): Record<string, string | undefined> {
  const url = new URL(request.path, request.origin);
  return { 'url.full': `${url.origin}${url.pathname}`, 'url.query': undefined };
}

async function exporterFor(protocol: OtlpProtocol): Promise<SpanExporter> {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

/** W3C trace context read from callers, never written to the upstreams (OTEL_PROPAGATE_UPSTREAM=off). */
class ExtractOnly implements TextMapPropagator {
  constructor(private readonly inner: TextMapPropagator) {}

  inject(): void {}

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    return this.inner.extract(context, carrier, getter);
  }

  fields(): string[] {
    return [];
  }
}

function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
