import type { FastifyPluginAsync } from 'fastify';
import type { CallerToken } from '../auth/callers.js';
import { operatorGuard } from '../auth/guard.js';
import type { CallerCredits } from '../budget/allowance.js';
import type { BudgetStore } from '../budget/store.js';
import { upstreamSnapshot, type UpstreamGuards } from '../budget/index.js';
import type { Secret } from '../secret.js';
import { problemResponses } from '../schema/index.js';
import type { Clock } from '../time.js';

export interface AdminOptions {
  adminToken: Secret;
  upstreams: readonly UpstreamGuards[];
  callers: readonly CallerToken[];
  callerCredits: CallerCredits;
  store: BudgetStore;
  clock: Clock;
  sharedMode: () => 'off' | 'shared' | 'degraded';
}

const windowSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['limit', 'remaining', 'refills_in_s'],
  properties: {
    limit: { type: 'string', description: 'As configured, e.g. 10/6s.' },
    remaining: { type: 'integer', description: 'Calls still allowed in the window now.' },
    refills_in_s: { type: 'integer', description: 'Seconds until the next counted call leaves the window.' },
  },
} as const;

const budgetsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['shared', 'upstreams', 'callers'],
  properties: {
    shared: {
      type: 'string',
      enum: ['off', 'shared', 'degraded'],
      description: 'off: no REDIS_URL; shared: replicas spend one budget through Redis; degraded: Redis is away and this replica keeps 1/GATEWAY_REPLICAS of every limit.',
    },
    upstreams: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'circuit', 'windows', 'in_flight', 'max_in_flight', 'paused_for_s', 'upstream_429s', 'last_rate_limit_headers'],
        properties: {
          source: { type: 'string' },
          circuit: {
            type: 'string',
            enum: ['closed', 'open', 'half_open'],
            description: 'open: the upstream failed repeatedly and is not called until a cool-down ends; half_open: one probe decides.',
          },
          windows: { type: 'array', items: windowSchema },
          in_flight: { type: 'integer' },
          max_in_flight: { type: 'integer' },
          paused_for_s: { type: 'integer', description: 'Seconds left of a pause an upstream 429 asked for.' },
          upstream_429s: { type: 'integer', description: '429s received from the upstream since start.' },
          last_rate_limit_headers: { type: 'object', additionalProperties: { type: 'string' } },
          credits: {
            type: 'object',
            additionalProperties: false,
            required: ['remaining', 'spent_today', 'in_flight', 'reserve', 'daily_cap', 'closed_for_s'],
            properties: {
              remaining: { type: ['integer', 'null'], description: 'As the upstream last reported.' },
              spent_today: { type: 'integer', description: 'Credits spent this UTC day.' },
              in_flight: { type: 'integer', description: 'Credits of calls under way.' },
              reserve: { type: 'integer' },
              daily_cap: { type: ['integer', 'null'] },
              closed_for_s: { type: 'integer', description: 'Seconds until the next credit check after the account ran dry.' },
            },
          },
        },
      },
    },
    callers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'windows'],
        properties: {
          name: { type: 'string' },
          windows: { type: 'array', items: windowSchema },
          nansen_credits: {
            type: 'object',
            additionalProperties: false,
            required: ['allowance', 'spent_today', 'in_flight'],
            description: 'Only for a caller with a daily Nansen credit allowance (nansen_daily_credits in CALLER_TOKENS_FILE).',
            properties: {
              allowance: { type: 'integer', description: 'Credits its requests may cost per UTC day.' },
              spent_today: { type: 'integer', description: 'Credits its requests caused upstream this UTC day.' },
              in_flight: { type: 'integer', description: 'Credits planned by its requests under way.' },
            },
          },
        },
      },
    },
  },
} as const;

/** /admin/budgets: registered only when an admin token is configured (otherwise the route is a 404). */
export const adminRoutes: FastifyPluginAsync<AdminOptions> = async (app, { adminToken, upstreams, callers, callerCredits, store, clock, sharedMode }) => {
  app.get(
    '/admin/budgets',
    {
      schema: {
        summary: 'Upstream budgets, credits and caller quotas (admin token only)',
        operationId: 'getAdminBudgets',
        tags: ['admin'],
        security: [{ bearer: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: { description: 'Budgets now.', ...budgetsSchema }, 400: problemResponses[400], 401: problemResponses[401], 403: problemResponses[403], 404: problemResponses[404] },
      },
      onRequest: operatorGuard([adminToken], callers, {
        forbidden: 'admin routes need the admin token',
        unauthenticated: 'admin routes need Authorization: Bearer <admin token>',
        realm: 'netflows-admin',
      }),
    },
    async () => {
      const now = clock();
      return {
        shared: sharedMode(),
        upstreams: await Promise.all(upstreams.map(upstreamSnapshot)),
        callers: await Promise.all(
          callers.map(async (c) => {
            const credits = await callerCredits.snapshot(c);
            return {
              name: c.name,
              windows: (await store.peek(`caller:${c.name}`, c.rateLimits, now)).map((w, i) => ({
                limit: c.rateLimits[i]!.text,
                remaining: w.remaining,
                refills_in_s: Math.ceil(w.refillsInMs / 1000),
              })),
              ...(credits ? { nansen_credits: credits } : {}),
            };
          }),
        ),
      };
    },
  );
};
