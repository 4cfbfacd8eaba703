import type { EnvReader } from '../env.js';

/** What the gateway itself decides about traces; the SDK reads the other OTEL_* variables (sampler, batch, headers, resource). */
export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL (default http/protobuf). */
  protocol: OtlpProtocol;
  /** OTEL_PROPAGATE_UPSTREAM=on: send `traceparent` on to the upstreams (default off). */
  propagateUpstream: boolean;
}

export type OtlpProtocol = 'http/protobuf' | 'http/json';

const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];
const ENDPOINTS = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'];

/**
 * Tracing is on when an OTLP endpoint is set, unless OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none (as the specification has it). Undefined: off, and nothing of
 * OpenTelemetry is loaded. Only OTLP over HTTP is offered.
 */
export function readTracingSettings(read: EnvReader): TracingSettings | undefined {
  const endpoints = ENDPOINTS.filter((name) => read.optionalString(name) !== undefined);
  // As the specification has booleans: case-insensitive, and anything but true is false.
  const disabled = read.optionalString('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  const exporter = read.oneOf('OTEL_TRACES_EXPORTER', 'otlp', ['otlp', 'none']);
  const propagateUpstream = read.oneOf('OTEL_PROPAGATE_UPSTREAM', 'off', ['on', 'off']) === 'on';
  const protocol = read.oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf', PROTOCOLS) as OtlpProtocol;
  const tracesProtocol = read.oneOf('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', protocol, PROTOCOLS) as OtlpProtocol;
  for (const name of endpoints) {
    // The value may carry credentials: never echoed.
    if (!isHttpUrl(read.optionalString(name)!)) read.problem(`${name} must be an http(s) URL (OTLP over HTTP)`);
  }
  if (endpoints.length === 0 || disabled || exporter === 'none') return undefined;
  return { protocol: tracesProtocol, propagateUpstream };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
