import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { ExportResultCode, getNumberFromEnv, globalErrorHandler } from '@opentelemetry/core';
import type { IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import { SamplingDecision, type Sampler } from '@opentelemetry/sdk-trace-base';
import { keyValues, lengthDelimited, resourceField, scopeField, stringField, tag, varint, writeHexId, writeUnixNanos, writeVarint } from './otlp-proto.js';
import { KEPT_ANSWER_SPAN_NAME, keptAnswerAttributes } from './spans.js';
import type { LaneSpan } from './tracing.js';

/** The kept answers' server spans, and the flush of what is still waiting at exit. */
export interface KeptSpans {
  start(req: IncomingMessage, startedAt: number): LaneSpan;
  shutdown(): Promise<void>;
}

export interface KeptSpanOptions {
  sampler: Sampler;
  resource: Resource;
  scope: { name: string; version?: string };
}

const SPAN_FLAGS_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_IS_REMOTE = 0x200;
const ID_POOL_SPANS = 256;
/** Constant for the life of the process; the getter is not free on a path run for every hit. */
const TIME_ORIGIN = performance.timeOrigin;
/** A kept answer's span is about 330 bytes; 512 leaves room for a caller's tracestate. */
const TYPICAL_SPAN_BYTES = 512;
/** Buffers kept for the next batches: the one filling, and those waiting while one is sent. */
const SPARE_BUFFERS = 4;

/**
 * The server spans of kept answers (the early lane's), encoded straight to OTLP protobuf:
 * a kept answer's span differs from the last only in its ids, times, parent and status, so
 * its bytes are a few constant blocks around those. The SDK's span object, its attribute
 * checks and its per-span serialisation would cost a cache hit more than half again. The
 * sampler is the provider's own (so the decision is the same), the batches follow the
 * OTEL_BSP_* variables as the SDK's batch processor does, and they travel over the SDK's
 * OTLP/HTTP transport (endpoint, headers, timeout, compression, retries from OTEL_EXPORTER_OTLP_*).
 */
export function keptSpans(options: KeptSpanOptions): KeptSpans {
  const blocks = keptSpanBlocks(options);
  const batcher = new SpanBatcher(blocks, protobufDelegate(blocks.envelope));
  const pool = new IdPool();
  return {
    start(req: IncomingMessage, startedAt: number): LaneSpan {
      const parent = req.headers.traceparent === undefined ? undefined : remoteParent(req);
      const { traceId, spanId } = parent ? { traceId: parent.traceId, spanId: pool.spanId() } : pool.ids();
      const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
      const sampled = options.sampler.shouldSample(parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT, traceId, blocks.name[method], SpanKind.SERVER, blocks.attributeValues[method], []).decision === SamplingDecision.RECORD_AND_SAMPLED;
      return new KeptSpan(traceId, spanId, parent, method, startedAt, sampled ? batcher : undefined);
    },
    shutdown: () => batcher.shutdown(),
  };
}

/** One kept answer's span: its ids (for the log line) and, when sampled, its encoding at the end. */
class KeptSpan implements LaneSpan {
  constructor(
    readonly trace_id: string,
    readonly span_id: string,
    private readonly parent: SpanContext | undefined,
    private readonly method: Method,
    private readonly startedAt: number,
    private readonly batcher: SpanBatcher | undefined,
  ) {}

  end(status: number): void {
    const { trace_id: traceId, span_id: spanId, parent, method } = this;
    this.batcher?.add({ traceId, spanId, parent, method, status, startMs: TIME_ORIGIN + this.startedAt, endMs: TIME_ORIGIN + performance.now() });
  }
}

export interface EncodedSpan {
  traceId: string;
  spanId: string;
  parent: SpanContext | undefined;
  method: Method;
  status: number;
  startMs: number;
  endMs: number;
}

type Method = 'GET' | 'HEAD';

export interface Blocks {
  name: Record<Method, string>;
  attributeValues: Record<Method, Attributes>;
  /** `name` and `kind`. */
  head: Record<Method, Buffer>;
  /** What follows the times, by method and status: the attributes, dropped counts (all 0), an unset status, the flags' tag. */
  tail(method: Method, status: number): Buffer;
  /** Everything of an export request but its spans. */
  envelope: { resource: Buffer; scope: Buffer };
}

/** The parts of every kept-answer span and export request that never change. */
export function keptSpanBlocks({ resource, scope }: Pick<KeptSpanOptions, 'resource' | 'scope'>): Blocks {
  const byMethod = <T>(make: (method: Method) => T): Record<Method, T> => ({ GET: make('GET'), HEAD: make('HEAD') });
  const head = (method: Method) => Buffer.concat([stringField(5, KEPT_ANSWER_SPAN_NAME[method]), tag(6, 0), varint(SpanKind.SERVER + 1)]);
  const unsetStatus = Buffer.concat([tag(3, 0), varint(0)]);
  return {
    name: KEPT_ANSWER_SPAN_NAME,
    attributeValues: byMethod(keptAnswerAttributes),
    head: byMethod(head),
    tail: remembered((method, status) =>
      Buffer.concat([
        keyValues(9, { ...keptAnswerAttributes(method), 'http.response.status_code': status }),
        ...[10, 12, 14].flatMap((dropped) => [tag(dropped, 0), varint(0)]),
        lengthDelimited(15, unsetStatus),
        tag(16, 5),
      ]),
    ),
    envelope: {
      resource: Buffer.concat([resourceField(1, resource.attributes), ...(resource.schemaUrl ? [stringField(3, resource.schemaUrl)] : [])]),
      scope: scopeField(1, scope.name, scope.version),
    },
  };
}

/** A tail per method and status, made the first time it is asked for. */
function remembered(make: (method: Method, status: number) => Buffer): Blocks['tail'] {
  const made = new Map<number, Buffer>();
  return (method, status) => {
    const key = status * 2 + (method === 'HEAD' ? 1 : 0);
    let bytes = made.get(key);
    if (!bytes) made.set(key, (bytes = make(method, status)));
    return bytes;
  };
}

/** The bytes encodeSpan writes for a span of `spanLength` bytes: with its tag and length. */
export function encodedLength(spanLength: number): number {
  return spanLength + (spanLength < 0x80 ? 2 : spanLength < 0x4000 ? 3 : 4);
}

/** What encodeSpan needs to know before it writes: the span message's own length, and the caller's `tracestate` as its field. */
export interface SpanLayout {
  length: number;
  traceState: Buffer | undefined;
}

export function spanLayout(span: EncodedSpan, blocks: Blocks): SpanLayout {
  const traceState = span.parent?.traceState ? lengthDelimited(3, Buffer.from(span.parent.traceState.serialize())) : undefined;
  const length = 18 + 10 + (traceState?.length ?? 0) + (span.parent ? 10 : 0) + blocks.head[span.method].length + 18 + blocks.tail(span.method, span.status).length + 4;
  return { length, traceState };
}

/**
 * One span as `ScopeSpans.spans` (field 2) holds it (tag, length, message), written into
 * `out` at `at`; returns where it ends. `layout` is spanLayout(span, blocks).
 */
export function encodeSpan(span: EncodedSpan, blocks: Blocks, out: Buffer, at: number, layout: SpanLayout): number {
  out[at++] = 0x12;
  at = writeVarint(out, at, layout.length);
  out[at++] = 0x0a;
  out[at++] = 16;
  at = writeHexId(out, at, span.traceId);
  out[at++] = 0x12;
  out[at++] = 8;
  at = writeHexId(out, at, span.spanId);
  if (layout.traceState) at += layout.traceState.copy(out, at);
  if (span.parent) {
    out[at++] = 0x22;
    out[at++] = 8;
    at = writeHexId(out, at, span.parent.spanId);
  }
  const head = blocks.head[span.method];
  out.set(head, at);
  at += head.length;
  out[at] = 0x39;
  writeUnixNanos(out, at + 1, span.startMs);
  out[at + 9] = 0x41;
  writeUnixNanos(out, at + 10, span.endMs);
  at += 18;
  const tail = blocks.tail(span.method, span.status);
  out.set(tail, at);
  at += tail.length;
  const flags = TraceFlags.SAMPLED | SPAN_FLAGS_HAS_IS_REMOTE | (span.parent?.isRemote ? SPAN_FLAGS_IS_REMOTE : 0);
  return out.writeUInt32LE(flags, at);
}

/**
 * ExportTraceServiceRequest { resource_spans { resource, scope_spans { scope, spans… } } }:
 * written into `out` just before the spans encodeSpan wrote from `spansStart` to `spansEnd`
 * (room for it is kept there), so the request is one slice of the batch's buffer. Returns
 * where the request starts.
 */
export function writeEnvelope(out: Buffer, spansStart: number, spansEnd: number, envelope: Blocks['envelope']): number {
  const scopeSpansLength = envelope.scope.length + spansEnd - spansStart;
  const scopeSpansHead = Buffer.concat([tag(2, 2), varint(scopeSpansLength), envelope.scope]);
  const resourceSpansLength = envelope.resource.length + scopeSpansHead.length + spansEnd - spansStart;
  const head = Buffer.concat([tag(1, 2), varint(resourceSpansLength), envelope.resource, scopeSpansHead]);
  const start = spansStart - head.length;
  out.set(head, start);
  return start;
}

/** Room writeEnvelope needs before the spans: the envelope and three tags with lengths of up to five bytes. */
export function envelopeRoom(envelope: Blocks['envelope']): number {
  return envelope.resource.length + envelope.scope.length + 3 * 6;
}

/** The caller's `traceparent` (and `tracestate`), when valid. */
function remoteParent(req: IncomingMessage): SpanContext | undefined {
  const parent = trace.getSpanContext(propagation.extract(context.active(), req.headers));
  return parent && trace.isSpanContextValid(parent) ? parent : undefined;
}

/**
 * Random ids in hex, from a buffer filled a few hundred spans at a time with Math.random, as
 * the SDK's own id generator does (a CSPRNG costs a cache hit more here, and trace ids need
 * to be unique, not secret). A new span's ids are one hex string cut in two.
 */
class IdPool {
  private readonly pool = Buffer.alloc(ID_POOL_SPANS * 24);
  private at = this.pool.length;

  ids(): { traceId: string; spanId: string } {
    const at = this.take(24);
    // W3C trace context forbids all-zero ids: one in 2^64 at worst, but never sent.
    if (this.zero(at, 16) || this.zero(at + 16, 8)) return this.ids();
    const hex = this.pool.toString('hex', at, at + 24);
    return { traceId: hex.slice(0, 32), spanId: hex.slice(32) };
  }

  spanId(): string {
    const at = this.take(8);
    return this.zero(at, 8) ? this.spanId() : this.pool.toString('hex', at, at + 8);
  }

  private take(bytes: number): number {
    if (this.at + bytes > this.pool.length) {
      for (let i = 0; i < this.pool.length; i += 4) this.pool.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
      this.at = 0;
    }
    const at = this.at;
    this.at += bytes;
    return at;
  }

  private zero(at: number, bytes: number): boolean {
    for (let i = at; i < at + bytes; i++) if (this.pool[i] !== 0) return false;
    return true;
  }
}

/**
 * Batches as the SDK's BatchSpanProcessor makes them: at most OTEL_BSP_MAX_QUEUE_SIZE waiting
 * (the rest dropped), sent when OTEL_BSP_MAX_EXPORT_BATCH_SIZE are waiting or
 * OTEL_BSP_SCHEDULE_DELAY after the first, one export at a time, each given up after
 * OTEL_BSP_EXPORT_TIMEOUT. Spans are encoded into one buffer per batch, and a buffer is used
 * again once its export is done: no object per span outlives its request.
 */
class SpanBatcher {
  private readonly maxQueue = getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  private readonly maxBatch = Math.min(this.maxQueue, getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512);
  private readonly delayMs = getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5000;
  private readonly timeoutMs = getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000;
  private readonly room: number;
  private readonly spare: Buffer[] = [];
  private filling: Batch;
  private readonly sealed: Batch[] = [];
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined;
  private exporting: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly blocks: Blocks,
    private readonly delegate: IOtlpExportDelegate<Batch>,
  ) {
    this.room = envelopeRoom(blocks.envelope);
    this.filling = this.emptyBatch();
  }

  add(span: EncodedSpan): void {
    if (this.stopped || this.waiting >= this.maxQueue) return;
    const layout = spanLayout(span, this.blocks);
    const length = encodedLength(layout.length);
    if (this.filling.end + length > this.filling.bytes.length) this.seal();
    if (this.filling.end + length > this.filling.bytes.length) this.filling = this.emptyBatch(length);
    this.filling.end = encodeSpan(span, this.blocks, this.filling.bytes, this.filling.end, layout);
    this.filling.count++;
    this.waiting++;
    if (this.filling.count === this.maxBatch) this.seal();
    this.schedule();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.seal();
    while (this.exporting ?? this.sealed.length > 0) await (this.exporting ?? this.exportOne());
    await this.delegate.shutdown();
  }

  /** Room for a batch of typical spans (or for one span of `atLeast` bytes), after the envelope's room. */
  private emptyBatch(atLeast = 0): Batch {
    const size = this.room + Math.max(atLeast, Math.min(this.maxBatch, 512) * TYPICAL_SPAN_BYTES);
    const reused = this.spare.length > 0 && this.spare[this.spare.length - 1]!.length >= size ? this.spare.pop() : undefined;
    return { bytes: reused ?? Buffer.allocUnsafeSlow(size), start: this.room, end: this.room, count: 0 };
  }

  private seal(): void {
    if (this.filling.count === 0) return;
    this.sealed.push(this.filling);
    this.filling = this.emptyBatch();
  }

  private schedule(): void {
    if (this.exporting) return;
    if (this.sealed.length > 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.exportOne();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.seal();
      if (!this.exporting && this.sealed.length > 0) void this.exportOne();
    }, this.delayMs).unref();
  }

  private exportOne(): Promise<void> {
    const batch = this.sealed.shift()!;
    this.waiting -= batch.count;
    const exported = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        globalErrorHandler(new Error('kept-answer spans: export timed out'));
        resolve();
      }, this.timeoutMs);
      this.delegate.export(batch, (result) => {
        clearTimeout(timer);
        if (result.code !== ExportResultCode.SUCCESS) globalErrorHandler(result.error ?? new Error('kept-answer spans: export failed'));
        // Sent (or given up): its buffer holds the next batch. One that timed out may still be in the transport's hands, so it is not reused.
        if (this.spare.length < SPARE_BUFFERS) this.spare.push(batch.bytes);
        resolve();
      });
    });
    this.exporting = exported.finally(() => {
      this.exporting = undefined;
      if (this.sealed.length > 0 || (this.filling.count > 0 && !this.stopped)) this.schedule();
    });
    return this.exporting;
  }
}

/** Spans encoded from `start` to `end` of `bytes`, with room for the envelope before `start`. */
interface Batch {
  bytes: Buffer;
  start: number;
  end: number;
  count: number;
}

/** The SDK's OTLP/HTTP protobuf transport, as its trace exporter sets it up, around spans already encoded. */
function protobufDelegate(envelope: Blocks['envelope']): IOtlpExportDelegate<Batch> {
  const options = convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' });
  const serializer = {
    serializeRequest: (batch: Batch) => batch.bytes.subarray(writeEnvelope(batch.bytes, batch.start, batch.end, envelope), batch.end),
    deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
  };
  return createOtlpHttpExportDelegate(options, serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (batch) => batch.count }, undefined);
}
