import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import protobuf from 'protobufjs';

/** One exported span, from either encoding, with ids in hex and attribute values as plain values. */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  status: { code: number; message: string };
  resource: Record<string, unknown>;
  scope: string;
}

/** One POST as it arrived: its content type and bytes. */
export interface ReceivedBody {
  contentType: string;
  raw: Buffer;
}

const PROTO_DIR = join(import.meta.dirname, 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/**
 * A real OTLP/HTTP trace receiver on port 0: POST /v1/traces with `application/x-protobuf`
 * (decoded with protobufjs and the OTLP .proto files, `proto/`) or `application/json`.
 */
export class OtlpReceiver {
  readonly spans: ExportedSpan[] = [];
  readonly bodies: ReceivedBody[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req, res) => {
      void receiver.receive(req).then(
        () => res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end(req.headers['content-type']?.includes('json') ? '{}' : ''),
        (error: unknown) => res.writeHead(400).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** For OTEL_EXPORTER_OTLP_ENDPOINT: the exporter adds /v1/traces. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  trace(traceId: string): ExportedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  /** Waits until `done` holds for the spans received so far (the exporter sends in batches). */
  async waitFor(done: (spans: ExportedSpan[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!done(this.spans)) {
      if (Date.now() > until) throw new Error(`the receiver did not get the expected spans; it has: ${this.spans.map((s) => s.name).join(', ')}`);
      await sleep(25);
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async receive(req: IncomingMessage): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const contentType = req.headers['content-type'] ?? '';
    if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`unexpected ${req.method} ${req.url}`);
    this.bodies.push({ contentType, raw });
    const message = contentType.startsWith('application/x-protobuf')
      ? ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(raw), { longs: String, bytes: String, enums: Number })
      : JSON.parse(raw.toString('utf8'));
    this.spans.push(...spansOf(message as OtlpRequest, contentType.startsWith('application/x-protobuf') ? 'base64' : 'hex'));
  }
}

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  events?: { name: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[] }[];
}

function spansOf(request: OtlpRequest, idEncoding: 'base64' | 'hex'): ExportedSpan[] {
  const hex = (id: string | undefined) => (idEncoding === 'hex' ? (id ?? '') : Buffer.from(id ?? '', 'base64').toString('hex'));
  return (request.resourceSpans ?? []).flatMap((resourceSpans) =>
    (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) =>
      (scopeSpans.spans ?? []).map((span) => ({
        traceId: hex(span.traceId),
        spanId: hex(span.spanId),
        parentSpanId: hex(span.parentSpanId),
        name: span.name,
        kind: span.kind ?? 0,
        attributes: attributesOf(span.attributes),
        events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributesOf(event.attributes) })),
        status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
        resource: attributesOf(resourceSpans.resource?.attributes),
        scope: scopeSpans.scope?.name ?? '',
      })),
    ),
  );
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));
}

function valueOf(value: OtlpValue | undefined): unknown {
  if (value?.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  if (value?.intValue !== undefined) return Number(value.intValue);
  return value?.stringValue ?? value?.boolValue ?? value?.doubleValue;
}
