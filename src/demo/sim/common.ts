import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type Fault =
  /** Answer normally, `delayMs` later than usual. */
  | { kind: 'slow'; delayMs: number }
  /** Never answer; the socket stays open until `close()`. */
  | { kind: 'hang' }
  /** Answer with this status (500, 502, 503, …) and the upstream's own error body. */
  | { kind: 'status'; status: number }
  /** Answer 200 with exactly this body. `contentType` defaults to `application/json`. */
  | { kind: 'malformed'; body: string; contentType?: string }
  /** Destroy the socket without answering. */
  | { kind: 'reset' }
  /** The 429 the real upstream sends, asking to wait `retryAfterS` seconds. */
  | { kind: 'rate_limited'; retryAfterS: number }
  /** Nansen: 403 insufficient_credits. Coin Metrics has no credits and answers normally. */
  | { kind: 'credits_exhausted' }
  /**
   * Coin Metrics: what a mock generated from its OpenAPI document answers (Stoplight Prism's
   * dynamic mode): a 200 of random rows and a fresh random next_page_token on every page.
   * Nansen answers normally.
   */
  | { kind: 'random_pages' };

/** Faults that a simulator turns into a response of its own. */
export type AnsweringFault = Extract<Fault, { kind: 'status' | 'malformed' | 'rate_limited' | 'credits_exhausted' | 'random_pages' }>;

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path and query string, as sent. */
  url: string;
  /** First value of each query parameter. */
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  /** Status answered; 0 while unanswered and for `hang` / `reset`. */
  status: number;
  /** Arrival time, ms since the epoch, from the simulator's clock. */
  at: number;
}

export interface SimBase {
  /** Base URL to configure the gateway with. */
  url: string;
  /** Every request received, in arrival order (the latest 10,000). */
  requests: RecordedRequest[];
  /**
   * Applies `fault` to the next `times` requests, then clears it; without `times`, until cleared.
   * With `path`, only requests whose path ends with it (one endpoint) get the fault, and count.
   */
  setFault(fault: Fault | null, opts?: FaultScope): void;
  /** Back to the starting state: no requests, no fault, empty rate-limit windows, counters at zero. */
  reset(): void;
  /** Closes the server and destroys every open socket, hung ones included. */
  close(): Promise<void>;
}

export interface FaultScope {
  times?: number;
  path?: string;
}

export interface SimOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Clock in ms since the epoch; drives data dates and rate-limit windows. Default Date.now. */
  now?: () => number;
  /** Added to every answer, in ms. Default 0. */
  latencyMs?: number;
  /** Default true. false: never answer 429 for rate, but still send the rate-limit headers. */
  rateLimits?: boolean;
}

export type ResolvedSimOptions = Required<SimOptions>;

export function resolveSimOptions(options: SimOptions): ResolvedSimOptions {
  return {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    now: options.now ?? Date.now,
    latencyMs: options.latencyMs ?? 0,
    rateLimits: options.rateLimits ?? true,
  };
}

export interface SimReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}, pretty = false): SimReply {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body, null, pretty ? 2 : undefined),
  };
}

export function malformedReply(fault: Extract<Fault, { kind: 'malformed' }>, headers: Record<string, string>): SimReply {
  return { status: 200, headers: { ...headers, 'content-type': fault.contentType ?? 'application/json' }, body: fault.body };
}

export interface RequestContext {
  readonly req: IncomingMessage;
  /** The simulator's origin, e.g. http://127.0.0.1:40123 */
  readonly origin: string;
  readonly url: URL;
  /** The query string exactly as sent, without the leading '?'. */
  readonly rawQuery: string;
  readonly clientIp: string;
  readonly bodyText: string;
  readonly record: RecordedRequest;
}

/** What a simulator supplies: its answers. The shared server supplies recording, faults, latency and limits. */
export interface SimProtocol {
  handle(ctx: RequestContext): SimReply;
  /** The response for a fault; null answers the request normally. */
  faultReply(fault: AnsweringFault, ctx: RequestContext): SimReply | null;
  payloadTooLarge(ctx: RequestContext): SimReply;
  internalError(ctx: RequestContext): SimReply;
}

export interface SimServerOptions {
  host: string;
  port: number;
  latencyMs: number;
  now: () => number;
  /** Requests processed at once; more wait in a queue. Default unlimited. */
  maxConcurrent?: number;
  /** Larger request bodies get the protocol's 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Requests kept in `requests`; tests reset long before this. */
const MAX_RECORDED = 10_000;

export class SimServer {
  readonly requests: RecordedRequest[] = [];
  /** Most requests processed at the same time since the last reset. */
  peakConcurrency = 0;
  private inFlight = 0;
  private fault: Fault | null = null;
  private faultTimesLeft: number | undefined;
  private faultPath: string | undefined;
  private readonly closing = new AbortController();
  private readonly slots: Semaphore;
  private closed: Promise<void> | undefined;
  private originUrl = '';

  private constructor(
    private readonly server: http.Server,
    private readonly protocol: SimProtocol,
    private readonly options: SimServerOptions,
  ) {
    this.slots = new Semaphore(options.maxConcurrent ?? Number.POSITIVE_INFINITY);
    server.on('request', (req, res) => {
      this.onRequest(req, res).catch(() => res.destroy());
    });
  }

  static async start(protocol: SimProtocol, options: SimServerOptions): Promise<SimServer> {
    const sim = new SimServer(http.createServer(), protocol, options);
    const port = await listen(sim.server, options.host, options.port);
    sim.originUrl = `http://${formatHost(options.host)}:${port}`;
    return sim;
  }

  get origin(): string {
    return this.originUrl;
  }

  setFault(fault: Fault | null, opts: FaultScope = {}): void {
    this.fault = opts.times === 0 ? null : fault;
    this.faultTimesLeft = opts.times;
    this.faultPath = opts.path;
  }

  reset(): void {
    this.requests.length = 0;
    this.setFault(null);
    this.peakConcurrency = 0;
  }

  close(): Promise<void> {
    this.closed ??= new Promise((resolve) => {
      this.closing.abort();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closed;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    const ctx = this.context(req, body.text);
    this.requests.push(ctx.record);
    // A long-running demo must not grow without bound: keep the latest requests only.
    if (this.requests.length > MAX_RECORDED) this.requests.splice(0, this.requests.length - MAX_RECORDED);
    const fault = this.takeFault(ctx.url.pathname);
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    const release = await this.slots.acquire();
    this.inFlight++;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.inFlight);
    try {
      const delayMs = this.options.latencyMs + (fault?.kind === 'slow' ? fault.delayMs : 0);
      if (delayMs > 0) await sleep(delayMs, undefined, { signal: this.closing.signal });
      const reply = body.tooLarge ? this.protocol.payloadTooLarge(ctx) : this.answer(fault, ctx);
      ctx.record.status = reply.status;
      send(res, reply);
    } finally {
      this.inFlight--;
      release();
    }
  }

  private answer(fault: Fault | null, ctx: RequestContext): SimReply {
    try {
      const faultReply = fault && isAnsweringFault(fault) ? this.protocol.faultReply(fault, ctx) : null;
      return faultReply ?? this.protocol.handle(ctx);
    } catch {
      return this.protocol.internalError(ctx);
    }
  }

  private takeFault(path: string): Fault | null {
    if (this.faultPath !== undefined && !path.endsWith(this.faultPath)) return null;
    const fault = this.fault;
    if (fault && this.faultTimesLeft !== undefined) {
      this.faultTimesLeft--;
      if (this.faultTimesLeft <= 0) this.setFault(null);
    }
    return fault;
  }

  private context(req: IncomingMessage, bodyText: string): RequestContext {
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, this.originUrl);
    const queryStart = rawUrl.indexOf('?');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      url: rawUrl,
      query: firstValues(url.searchParams),
      headers: { ...req.headers },
      body: parseBodyForRecord(bodyText),
      status: 0,
      at: this.options.now(),
    };
    return {
      req,
      origin: this.originUrl,
      url,
      rawQuery: queryStart === -1 ? '' : rawUrl.slice(queryStart + 1),
      clientIp: req.socket.remoteAddress ?? 'unknown',
      bodyText,
      record,
    };
  }
}

export function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function isAnsweringFault(fault: Fault): fault is AnsweringFault {
  return fault.kind !== 'slow' && fault.kind !== 'hang' && fault.kind !== 'reset';
}

/** Reads the whole body, keeping at most `maxBytes`; the rest is drained so the client can read our answer. */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
  }
  if (size > maxBytes) return { text: '', tooLarge: true };
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: false };
}

function send(res: ServerResponse, reply: SimReply): void {
  if (res.destroyed) return;
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
  res.end(reply.body);
}

function firstValues(params: URLSearchParams): Record<string, string> {
  const first = new Map<string, string>();
  for (const [key, value] of params) if (!first.has(key)) first.set(key, value);
  return Object.fromEntries(first);
}

function parseBodyForRecord(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Counting semaphore; a released slot passes straight to the next waiter, in arrival order. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async acquire(): Promise<() => void> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}
