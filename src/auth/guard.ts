import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BudgetStore, TakeResult, WindowState } from '../budget/store.js';
import { ProblemError } from '../errors.js';
import type { Clock } from '../time.js';
import type { Secret } from '../secret.js';
import { bearerToken, CallerMemo, identifyCaller, matchesSecret, type CallerToken } from './callers.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's name once its token is checked; never the token. */
    caller?: string;
  }
}

/** The quota taken for a request before Fastify saw it (by the early lane, which then handed it on): not taken twice. */
export const TAKEN_EARLY = Symbol('quota taken early');

declare module 'node:http' {
  interface IncomingMessage {
    [TAKEN_EARLY]?: TakeResult;
  }
}

/**
 * Data routes with caller tokens on: a known token (401 otherwise) within its own quota
 * (429 with Retry-After otherwise). Every answer carries the IETF RateLimit-Policy and
 * RateLimit headers of the caller's quota.
 */
export function callerGuard(callers: CallerMemo, store: BudgetStore, clock: Clock) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const caller = callers.identify(bearerToken(request.headers.authorization));
    if (!caller) {
      throw new ProblemError('unauthenticated', 'this route needs Authorization: Bearer <token> with a caller token', {
        headers: { 'www-authenticate': 'Bearer realm="netflows"' },
      });
    }
    request.caller = caller.name;
    request.log = reply.log = request.log.child({ caller: caller.name });
    const taken = request.raw[TAKEN_EARLY] ?? (await store.take(`caller:${caller.name}`, caller.rateLimits, clock()));
    const headers = rateLimitHeaders(caller, taken.windows);
    reply.headers(headers);
    if (!taken.granted) {
      const retryAfterS = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
      throw new ProblemError('rate_limited', `the quota of caller ${caller.name} is spent; try again in ${retryAfterS} s`, { retryAfterS, headers });
    }
  };
}

/** A caller's policy names and RateLimit-Policy value, made once: the same on every answer to it. */
interface Policy {
  names: string[];
  header: string;
}

const policies = new WeakMap<CallerToken, Policy>();

function policyOf(caller: CallerToken): Policy {
  let policy = policies.get(caller);
  if (policy) return policy;
  const names = caller.rateLimits.map((l) => `"${l.limit}-per-${Math.round(l.windowMs / 1000)}s"`);
  const header = caller.rateLimits.map((l, i) => `${names[i]};q=${l.limit};w=${Math.max(1, Math.round(l.windowMs / 1000))}`).join(', ');
  policy = { names, header };
  policies.set(caller, policy);
  return policy;
}

/** draft-ietf-httpapi-ratelimit-headers: one policy per window; RateLimit for the tightest one. */
export function rateLimitHeaders(caller: CallerToken, windows: readonly WindowState[]): Record<string, string> {
  const policy = policyOf(caller);
  let tightest = 0;
  for (let i = 1; i < windows.length; i++) {
    if (windows[i]!.remaining < windows[tightest]!.remaining) tightest = i;
  }
  const w = windows[tightest]!;
  return {
    'ratelimit-policy': policy.header,
    ratelimit: `${policy.names[tightest]};r=${w.remaining};t=${Math.ceil(w.refillsInMs / 1000)}`,
  };
}

/** What an operator route says when it refuses: to a caller token (403), to anything else (401). */
export interface OperatorRefusals {
  forbidden: string;
  unauthenticated: string;
  realm: string;
}

/** Routes for the people who run the gateway: one of `tokens` as a bearer token; a caller token is a 403, anything else a 401. */
export function operatorGuard(tokens: readonly Secret[], callers: readonly CallerToken[], refusals: OperatorRefusals) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (tokens.some((secret) => matchesSecret(secret, token))) return;
    if (identifyCaller(callers, token)) throw new ProblemError('forbidden', refusals.forbidden);
    throw new ProblemError('unauthenticated', refusals.unauthenticated, { headers: { 'www-authenticate': `Bearer realm="${refusals.realm}"` } });
  };
}
