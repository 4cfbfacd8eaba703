import { randomBytes } from 'node:crypto';
import { SpanKind, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { encodedLength, encodeSpan, envelopeRoom, keptSpanBlocks, spanLayout, writeEnvelope, type EncodedSpan } from '../../src/tracing/kept-spans.js';
import { writeHexId, writeUnixNanos } from '../../src/tracing/otlp-proto.js';

const resource = defaultResource().merge(
  resourceFromAttributes({ 'service.name': 'netflows-under-test', 'service.version': '1.2.3', 'deployment.environment.name': 'test', 'host.cpu.count': 2, 'flag.on': true, 'list.of': ['a', 'b'], ratio: 0.25 }),
);
const scope = { name: 'netflows-gateway' };
const blocks = keptSpanBlocks({ resource, scope });

function remote(traceState?: string): SpanContext {
  return { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1, isRemote: true, ...(traceState ? { traceState: new TraceState(traceState) } : {}) };
}

/** Times exact in binary (whole and half milliseconds), so both encoders see the same nanoseconds. */
function span(method: 'GET' | 'HEAD', status: number, parent: SpanContext | undefined): EncodedSpan {
  const startMs = 1_764_650_000_123.5 + Math.floor(Math.random() * 1000);
  return { traceId: parent?.traceId ?? randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), parent, method, status, startMs, endMs: startMs + 0.5 };
}

const hrTime = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/** The same span as the SDK would hold it, for its own serializer. */
function asSdkSpan(encoded: EncodedSpan): ReadableSpan {
  const context: SpanContext = { traceId: encoded.traceId, spanId: encoded.spanId, traceFlags: 1, ...(encoded.parent?.traceState ? { traceState: encoded.parent.traceState } : {}) };
  return {
    name: `${encoded.method} /netflows`,
    kind: SpanKind.SERVER,
    spanContext: () => context,
    parentSpanContext: encoded.parent,
    startTime: hrTime(encoded.startMs),
    endTime: hrTime(encoded.endMs),
    duration: [0, 500_000],
    status: { code: 0 },
    attributes: {
      'http.request.method': encoded.method,
      'http.route': '/netflows',
      'url.path': '/netflows',
      'netflows.cache': 'hit',
      'netflows.kept_answer': true,
      'http.response.status_code': encoded.status,
    },
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

describe('kept-answer spans in OTLP protobuf', () => {
  it.each([
    ['a GET without a caller trace', [span('GET', 200, undefined)]],
    ['a HEAD 304 under a caller trace with tracestate', [span('HEAD', 304, remote('vendor=value,other=1'))]],
    ['a batch of both kinds', [span('GET', 200, undefined), span('GET', 304, remote()), span('HEAD', 200, remote('v=1'))]],
  ])('encodes %s byte for byte as the SDK serializer does', (_name, spans) => {
    const room = envelopeRoom(blocks.envelope);
    const out = Buffer.alloc(room + spans.reduce((sum, s) => sum + encodedLength(spanLayout(s, blocks).length), 0));
    const end = spans.reduce((at, s) => encodeSpan(s, blocks, out, at, spanLayout(s, blocks)), room);
    expect(end).toBe(out.length);
    const ours = out.subarray(writeEnvelope(out, room, end, blocks.envelope), end);
    const sdk = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans.map(asSdkSpan))!);
    expect(ours.toString('hex')).toBe(sdk.toString('hex'));
  });
});

describe('writeUnixNanos', () => {
  it('writes the exact nanoseconds of any millisecond time from 1970 to 2500', () => {
    const out = Buffer.alloc(8);
    for (let i = 0; i < 10_000; i++) {
      const seconds = Math.floor(Math.random() * 16_725_225_600);
      const micros = Math.floor(Math.random() * 1_000_000);
      writeUnixNanos(out, 0, seconds * 1000 + micros / 1000);
      const nanos = Number(out.readBigUInt64LE(0) - BigInt(seconds) * 1_000_000_000n);
      // A double holds a millisecond time to a fraction of a microsecond.
      expect(Math.abs(nanos - micros * 1000), `${seconds} s ${micros} µs`).toBeLessThan(1000);
    }
  });
});

describe('writeHexId', () => {
  it('writes the bytes Buffer.from(hex, "hex") reads, in either case', () => {
    for (let i = 0; i < 1000; i++) {
      const bytes = randomBytes(i % 2 === 0 ? 16 : 8);
      const hex = i % 3 === 0 ? bytes.toString('hex').toUpperCase() : bytes.toString('hex');
      const out = Buffer.alloc(bytes.length + 2);
      expect(writeHexId(out, 1, hex)).toBe(bytes.length + 1);
      expect(out.subarray(1, bytes.length + 1).equals(bytes)).toBe(true);
    }
  });
});
