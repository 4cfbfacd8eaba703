import type { FastifyPluginAsync } from 'fastify';
import { plainProblemResponses } from '../schema/index.js';

export interface Lifecycle {
  /** Set when shutdown starts: /readyz turns 503 so the load balancer stops sending traffic. */
  draining: boolean;
}

const statusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

export const healthRoutes: FastifyPluginAsync<{ lifecycle: Lifecycle }> = async (app, { lifecycle }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        operationId: 'getHealthz',
        tags: ['operations'],
        security: [],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: { description: 'The process answers.', ...statusSchema }, ...plainProblemResponses },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: configuration valid and the gateway can serve (not: upstreams are up)',
        operationId: 'getReadyz',
        tags: ['operations'],
        security: [],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: {
          200: { description: 'Ready to serve.', ...statusSchema },
          503: { description: 'Draining after SIGTERM: send no new traffic.', ...statusSchema },
          ...plainProblemResponses,
        },
      },
    },
    async (_request, reply) => {
      if (lifecycle.draining) return reply.code(503).send({ status: 'draining' });
      return { status: 'ready' };
    },
  );
};
