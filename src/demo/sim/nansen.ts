// Simulated Nansen API: POST {url}/api/v1/smart-money/netflow with credits, rate limits
// and error envelopes (see /work/shared/upstreams/nansen-contract.md, sections 1-5 and 11).
import { STATUS_CODES } from 'node:http';
import {
  SimServer,
  jsonReply,
  malformedReply,
  resolveSimOptions,
  type AnsweringFault,
  type RequestContext,
  type ResolvedSimOptions,
  type SimBase,
  type SimOptions,
  type SimProtocol,
  type SimReply,
} from './common.js';
import { buildTokens, NANSEN_TOKENS, type NansenToken } from './nansen-data.js';
import { queryNetflows } from './nansen-query.js';
import { parseNetflowRequest, type ValidationIssue } from './nansen-request.js';
import { randHex } from './random.js';
import { SlidingWindow, type WindowState } from './rate-window.js';

export interface NansenSimOptions extends SimOptions {
  /** The only key accepted in the `apikey` header. */
  apiKey: string;
  /** Starting credit balance. Default 1_000_000. */
  credits?: number;
  /**
   * Serve at most this many rows a page, whatever `per_page` asks (default: as asked). Lets a
   * test have a cohort of more pages than the few hundred simulated tokens fill.
   */
  maxRowsPerPage?: number;
  /**
   * Tokens per chain, at least (default: each chain's own count, 300 tokens in all). The
   * default tokens stay as they are and generated ones are added, so pages of 1000 rows can
   * be full, as the real API's are (the bench's warm questions need one).
   */
  tokensPerChain?: number;
}

export interface NansenSim extends SimBase {
  /** Credit balance; each 2xx costs 5. Settable; `reset()` restores the starting balance. */
  credits: number;
  /** 429s sent, from the limiter or the `rate_limited` fault. */
  readonly rateLimitHits: number;
}

const ENDPOINT = '/api/v1/smart-money/netflow';
const CREDITS_PER_CALL = 5;
const DEFAULT_CREDITS = 1_000_000;
const DOC_URL = 'https://docs.nansen.ai/getting-started/error-handling';
const INVALID_KEY_MESSAGE = 'Invalid API key. Manage your keys at https://app.nansen.ai/api?tab=api';
const MISSING_KEY_MESSAGE = 'API key required. This endpoint does not support paid access.';

type Scope = 'second' | 'minute';
interface ScopedLimit {
  scope: Scope;
  window: SlidingWindow;
}

// Sliding windows rather than the fixed per-second/per-minute buckets Kong keeps: a burst
// that straddles a window boundary is still refused, which is the stricter behaviour.
// Keyless requests get the small per-IP limit seen on live 401s (limit 5, per second).
function keyedLimits(now: () => number): ScopedLimit[] {
  return [
    { scope: 'second', window: new SlidingWindow(15, 1_000, now) },
    { scope: 'minute', window: new SlidingWindow(300, 60_000, now) },
  ];
}
function anonymousLimits(now: () => number): ScopedLimit[] {
  return [{ scope: 'second', window: new SlidingWindow(5, 1_000, now) }];
}

export async function startNansenSim(options: NansenSimOptions): Promise<NansenSim> {
  const resolved = resolveSimOptions(options);
  const tokens = options.tokensPerChain === undefined ? NANSEN_TOKENS : buildTokens(options.tokensPerChain);
  const protocol = new NansenProtocol(resolved, options.apiKey, options.credits ?? DEFAULT_CREDITS, tokens, options.maxRowsPerPage);
  const server = await SimServer.start(protocol, resolved);
  return {
    url: server.origin,
    requests: server.requests,
    setFault: (fault, opts) => server.setFault(fault, opts),
    reset: () => {
      server.reset();
      protocol.reset();
    },
    close: () => server.close(),
    get credits() {
      return protocol.credits;
    },
    set credits(balance: number) {
      protocol.credits = balance;
    },
    get rateLimitHits() {
      return protocol.rateLimitHits;
    },
  };
}

/** Who is calling: the account (valid key) or an anonymous client IP. */
interface Caller {
  authenticated: boolean;
  bucket: string;
  limits: ScopedLimit[];
}

interface LimitState {
  scope: Scope;
  state: WindowState;
}

class NansenProtocol implements SimProtocol {
  credits: number;
  rateLimitHits = 0;
  private readonly keyed: ScopedLimit[];
  private readonly anonymous: ScopedLimit[];
  private requestCount = 0;

  constructor(
    private readonly options: ResolvedSimOptions,
    private readonly apiKey: string,
    private readonly startingCredits: number,
    private readonly tokens: readonly NansenToken[],
    private readonly maxRowsPerPage = Number.POSITIVE_INFINITY,
  ) {
    this.credits = startingCredits;
    this.keyed = keyedLimits(options.now);
    this.anonymous = anonymousLimits(options.now);
  }

  reset(): void {
    this.credits = this.startingCredits;
    this.rateLimitHits = 0;
    for (const { window } of [...this.keyed, ...this.anonymous]) window.clear();
  }

  handle(ctx: RequestContext): SimReply {
    const requestId = this.nextRequestId();
    const caller = this.caller(ctx);
    const { refused, states } = this.admit(caller);
    const headers = () => this.headers(requestId, caller, states, 0);
    if (refused) return this.rateLimited(requestId, refused.scope, refused.state.resetS, headers());
    if (!caller.authenticated) return this.unauthorized(ctx, requestId, headers());
    if (ctx.url.pathname !== ENDPOINT) return envelope(404, 'not_found', 'Endpoint not found.', requestId, headers());
    if (ctx.req.method !== 'POST') return envelope(405, 'method_not_allowed', `Method ${ctx.req.method ?? ''} not allowed. Use POST.`, requestId, headers());
    if (this.credits < CREDITS_PER_CALL) return this.insufficientCredits(requestId, headers());
    const parsed = parseNetflowRequest(ctx.bodyText);
    if (!parsed.ok) return validationError(parsed.issues, requestId, headers());
    const page = queryNetflows({ ...parsed.query, perPage: Math.min(parsed.query.perPage, this.maxRowsPerPage) }, this.options.now(), this.tokens);
    this.credits -= CREDITS_PER_CALL;
    return jsonReply(200, page, this.headers(requestId, caller, states, CREDITS_PER_CALL));
  }

  faultReply(fault: AnsweringFault, ctx: RequestContext): SimReply | null {
    const requestId = this.nextRequestId();
    const headers = this.peekHeaders(ctx, requestId);
    switch (fault.kind) {
      case 'status':
        return envelope(fault.status, codeForStatus(fault.status), 'An unexpected error occurred. Please retry later.', requestId, headers);
      case 'malformed':
        return malformedReply(fault, { 'X-Request-Id': requestId });
      case 'rate_limited':
        return this.rateLimited(requestId, fault.retryAfterS > 1 ? 'minute' : 'second', fault.retryAfterS, headers);
      case 'credits_exhausted':
        return this.insufficientCredits(requestId, { ...headers, 'X-Nansen-Credits-Remaining': '0' });
      case 'random_pages':
        return null;
    }
  }

  payloadTooLarge(ctx: RequestContext): SimReply {
    const requestId = this.nextRequestId();
    return envelope(413, 'payload_too_large', 'Request body is too large (limit 1 MB).', requestId, this.peekHeaders(ctx, requestId));
  }

  internalError(ctx: RequestContext): SimReply {
    const requestId = this.nextRequestId();
    return envelope(500, 'internal_error', 'An unexpected error occurred.', requestId, this.peekHeaders(ctx, requestId));
  }

  /** Headers for an answer that does not count against the rate limit and costs nothing. */
  private peekHeaders(ctx: RequestContext, requestId: string): Record<string, string> {
    const caller = this.caller(ctx);
    const states = caller.limits.map(({ scope, window }) => ({ scope, state: window.state(caller.bucket) }));
    return this.headers(requestId, caller, states, 0);
  }

  private caller(ctx: RequestContext): Caller {
    if (ctx.req.headers.apikey === this.apiKey) return { authenticated: true, bucket: this.apiKey, limits: this.keyed };
    return { authenticated: false, bucket: ctx.clientIp, limits: this.anonymous };
  }

  /** Counts the request in every window if all have room; otherwise refuses it on the window that frees last. */
  private admit(caller: Caller): { refused: LimitState | undefined; states: LimitState[] } {
    const full = caller.limits.filter(({ window }) => !window.hasRoom(caller.bucket));
    if (full.length > 0 && this.options.rateLimits) {
      const states = caller.limits.map(({ scope, window }) => ({ scope, state: window.state(caller.bucket) }));
      const refused = states.filter(({ scope }) => full.some((limit) => limit.scope === scope)).sort((a, b) => b.state.resetS - a.state.resetS)[0];
      return { refused, states };
    }
    return { refused: undefined, states: caller.limits.map(({ scope, window }) => ({ scope, state: window.add(caller.bucket) })) };
  }

  private unauthorized(ctx: RequestContext, requestId: string, headers: Record<string, string>): SimReply {
    if (ctx.req.headers.apikey === undefined) {
      return envelope(401, 'unauthenticated', MISSING_KEY_MESSAGE, requestId, headers);
    }
    return jsonReply(401, { message: INVALID_KEY_MESSAGE }, headers);
  }

  private rateLimited(requestId: string, scope: Scope, retryAfterS: number, headers: Record<string, string>): SimReply {
    this.rateLimitHits++;
    const detail = `Rate limit exceeded (per ${scope}). Retry after ${retryAfterS} second(s).`;
    return envelope(429, 'rate_limit_exceeded', detail, requestId, {
      ...headers,
      'Retry-After': String(retryAfterS),
      'X-Nansen-RateLimit-Scope': scope,
    }, { retry_after: retryAfterS });
  }

  private insufficientCredits(requestId: string, headers: Record<string, string>): SimReply {
    const message = `Insufficient credits. This request costs ${CREDITS_PER_CALL} credits. Top up at https://app.nansen.ai/api?tab=api`;
    return envelope(403, 'insufficient_credits', message, requestId, headers);
  }

  /** Request id, rate-limit headers, and for the account the credit headers. */
  private headers(requestId: string, caller: Caller, states: LimitState[], creditsUsed: number): Record<string, string> {
    const headers: Record<string, string> = { 'X-Request-Id': requestId, ...rateLimitHeaders(states) };
    if (!caller.authenticated) return headers;
    return {
      ...headers,
      'X-Nansen-Credits-Cost': String(CREDITS_PER_CALL),
      'X-Nansen-Credits-Used': String(creditsUsed),
      'X-Nansen-Credits-Remaining': String(this.credits),
    };
  }

  private nextRequestId(): string {
    return randHex(`nansen-request|${++this.requestCount}`, 32);
  }
}

/** The combined RateLimit-* headers describe the window closest to refusing; the suffixed ones each window. */
function rateLimitHeaders(states: LimitState[]): Record<string, string> {
  const tightest = [...states].sort((a, b) => a.state.remaining - b.state.remaining)[0];
  if (!tightest) return {};
  const combined = {
    Limit: String(tightest.state.limit),
    Remaining: String(tightest.state.remaining),
    Reset: String(tightest.state.resetS),
  };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(combined)) {
    headers[`RateLimit-${name}`] = value;
    headers[`X-RateLimit-${name}`] = value;
  }
  for (const { scope, state } of states) {
    const suffix = scope === 'second' ? 'Second' : 'Minute';
    headers[`X-RateLimit-Limit-${suffix}`] = String(state.limit);
    headers[`X-RateLimit-Remaining-${suffix}`] = String(state.remaining);
  }
  return headers;
}

/** The current error envelope, plus the legacy `detail` string older clients read. */
function envelope(
  status: number,
  code: string,
  message: string,
  requestId: string,
  headers: Record<string, string>,
  extra: Record<string, unknown> = {},
): SimReply {
  const { detail = message, ...rest } = extra;
  return jsonReply(status, {
    error: STATUS_CODES[status] ?? 'Error',
    message,
    code,
    status,
    request_id: requestId,
    doc_url: `${DOC_URL}#${code}`,
    ...rest,
    detail,
  }, headers);
}

/** 422 in both shapes: the envelope with `errors[]`, and FastAPI's `detail[]`. */
function validationError(issues: ValidationIssue[], requestId: string, headers: Record<string, string>): SimReply {
  const errors = issues.map((issue) => ({ field: issue.loc.join('.'), message: issueMessage(issue), code: issueCode(issue) }));
  const first = issues[0] ?? { loc: ['body'], type: 'missing', msg: 'Field required' };
  return envelope(422, issueCode(first), issueMessage(first), requestId, headers, {
    param: first.loc.slice(1).join('.') || 'body',
    errors,
    detail: issues.map(({ loc, msg, type }) => ({ loc, msg, type })),
  });
}

function issueCode(issue: ValidationIssue): string {
  if (issue.type === 'extra_forbidden') return 'unknown_field';
  if (issue.type === 'missing') return 'missing_field';
  if (issue.type === 'greater_than_equal' || issue.type === 'less_than_equal') return 'value_out_of_range';
  return 'invalid_field_value';
}

function issueMessage(issue: ValidationIssue): string {
  const path = `'${issue.loc.join(' -> ')}'`;
  switch (issueCode(issue)) {
    case 'unknown_field':
      return `Unknown field ${path}. Extra inputs are not permitted.`;
    case 'missing_field':
      return `Required field ${path} is missing.`;
    case 'value_out_of_range':
      return `Value out of range for ${path}: ${issue.msg}.`;
    default:
      return `Invalid value for ${path}: ${issue.msg}.`;
  }
}

function codeForStatus(status: number): string {
  if (status === 502 || status === 503) return 'upstream_unavailable';
  if (status === 504) return 'query_timeout';
  return 'internal_error';
}
