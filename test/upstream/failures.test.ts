import { describe, expect, it } from 'vitest';
import { COINMETRICS_FAILURES } from '../../src/providers/coinmetrics/client.js';
import { NANSEN_FAILURES } from '../../src/providers/nansen/client.js';
import { isOutOfCredits, statusFailure } from '../../src/upstream/failures.js';
import type { UpstreamResponse } from '../../src/upstream/response.js';

const NOW = Date.parse('2026-11-21T10:00:00Z');
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): UpstreamResponse => ({
  status,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const cmError = (status: number, type: string, headers: Record<string, string> = {}) => answer(status, { error: { type, message: 'secret detail' } }, headers);
const nansenError = (status: number, code: string, headers: Record<string, string> = {}) => answer(status, { code, message: 'secret detail' }, headers);

describe('statusFailure: one mapping of upstream statuses, parameterised per upstream', () => {
  it('names a rejected key with the code the body gives, never its message', () => {
    const cm = statusFailure(cmError(401, 'unauthorized'), COINMETRICS_FAILURES, NOW);
    const nansen = statusFailure(nansenError(401, 'invalid_api_key'), NANSEN_FAILURES, NOW);
    expect([cm.source, cm.failure, cm.message]).toEqual(['coinmetrics', 'upstream_rejected_key', "Coin Metrics rejected the gateway's credentials (unauthorized)"]);
    expect([nansen.source, nansen.failure, nansen.message]).toEqual(['nansen', 'upstream_rejected_key', "Nansen rejected the gateway's credentials (invalid_api_key)"]);
    expect(cm.message + nansen.message).not.toContain('secret detail');
  });

  it('reads a 429 pause the way each upstream says it, and retries it', () => {
    const cm = statusFailure(cmError(429, 'rate_limited', { 'x-ratelimit-reset': '4' }), COINMETRICS_FAILURES, NOW);
    const nansen = statusFailure(nansenError(429, 'rate_limited', { 'retry-after': '7' }), NANSEN_FAILURES, NOW);
    expect([cm.failure, cm.options.retryAfterMs, cm.options.retryable]).toEqual(['upstream_rate_limited', 4000, true]);
    expect([nansen.failure, nansen.options.retryAfterMs, nansen.options.retryable]).toEqual(['upstream_rate_limited', 7000, true]);
    expect(statusFailure(answer(429, ''), NANSEN_FAILURES, NOW).options.retryAfterMs).toBe(1000);
  });

  it('knows the out-of-credits answer only of the upstream that charges credits', () => {
    const exhausted = nansenError(403, 'insufficient_credits');
    expect(isOutOfCredits(exhausted, NANSEN_FAILURES)).toBe(true);
    expect(statusFailure(exhausted, NANSEN_FAILURES, NOW)).toMatchObject({ failure: 'upstream_credits_exhausted', message: 'the Nansen account has no credits left', options: { retryAfterMs: 3_600_000 } });
    expect(isOutOfCredits(cmError(403, 'insufficient_credits'), COINMETRICS_FAILURES)).toBe(false);
    expect(statusFailure(cmError(403, 'insufficient_credits'), COINMETRICS_FAILURES, NOW)).toMatchObject({ failure: 'upstream_error', message: 'Coin Metrics refused the request with 403 (insufficient_credits)' });
    expect(statusFailure(nansenError(403, 'forbidden'), NANSEN_FAILURES, NOW).failure).toBe('upstream_error');
  });

  it('retries 502, 503 and 504 and no other 5xx; a body that is not JSON or names no usable code is left unnamed', () => {
    expect(statusFailure(cmError(503, 'unavailable'), COINMETRICS_FAILURES, NOW)).toMatchObject({ message: 'Coin Metrics answered 503 (unavailable)', options: { retryable: true } });
    expect(statusFailure(answer(500, '<html>oops</html>'), NANSEN_FAILURES, NOW)).toMatchObject({ message: 'Nansen answered 500', options: { retryable: false } });
    expect(statusFailure(nansenError(400, 'Not A Code; rm -rf'), NANSEN_FAILURES, NOW).message).toBe('Nansen refused the request with 400');
  });
});
