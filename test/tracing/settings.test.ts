import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configProblems } from '../config-problems.js';


describe('the OTEL_* variables the gateway reads itself', () => {
  it('leave tracing off without an OTLP endpoint, or when the SDK or the exporter is turned off', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: 'gw', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }).tracing).toBeUndefined();
    // The specification's booleans: anything but true is false.
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'yes' }).tracing).toBeDefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
  });

  it('turn it on with either endpoint: protobuf by default, the traces protocol before the general one, no propagation upstream', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({ protocol: 'http/protobuf', propagateUpstream: false });
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_PROPAGATE_UPSTREAM: 'on' }).tracing,
    ).toEqual({ protocol: 'http/json', propagateUpstream: true });
  });

  it('refuse gRPC, an endpoint that is not an http(s) URL (without echoing it), and unknown switches', () => {
    expect(
      configProblems({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317?token=s3cret',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_PROPAGATE_UPSTREAM: 'yes',
        OTEL_TRACES_EXPORTER: 'zipkin',
      }),
    ).toEqual([
      'OTEL_TRACES_EXPORTER must be one of otlp, none, got "zipkin"',
      'OTEL_PROPAGATE_UPSTREAM must be one of on, off, got "yes"',
      'OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/protobuf, http/json, got "grpc"',
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL (OTLP over HTTP)',
    ]);
  });
});
