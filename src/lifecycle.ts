import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import type { History } from './history/history.js';
import type { Lifecycle } from './routes/health.js';

/** The configuration, or every problem with it on stderr and exit code 2. */
export function configOrExit(env: NodeJS.ProcessEnv): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}

/**
 * Stops taking work: /readyz turns 503 at once, the listener closes, in-flight requests
 * finish (up to `graceMs`), then upstream connections close. Past the grace, the
 * remaining connections are cut. Resolves with how it ended.
 */
export async function drain(app: FastifyInstance, lifecycle: Lifecycle, graceMs: number): Promise<'closed' | 'forced'> {
  lifecycle.draining = true;
  const grace = new AbortController();
  const closing = app.close();
  // Connections with no request under way (idle keep-alives, and ones a client opened ahead
  // of need, which Node does not count as idle) would hold the close until they time out.
  closeConnectionsAtRest(app);
  const ended = await Promise.race([
    closing.then(() => 'closed' as const),
    sleep(graceMs, 'forced' as const, { signal: grace.signal }).catch(() => 'closed' as const),
  ]);
  grace.abort();
  if (ended === 'forced') app.server.closeAllConnections();
  return ended;
}

/** Per app: every open connection, with the number of its requests under way. */
const connectionsOf = new WeakMap<FastifyInstance, Map<Socket, number>>();

/** Counts the requests under way on each open connection, so a drain can close the ones at rest. */
export function trackConnections(app: FastifyInstance): void {
  const connections = new Map<Socket, number>();
  connectionsOf.set(app, connections);
  app.server.on('connection', (socket: Socket) => {
    connections.set(socket, 0);
    socket.once('close', () => connections.delete(socket));
  });
  const count = requestCounter(connections);
  app.addHook('onRequest', async (request) => count(request.raw.socket, 1));
  app.addHook('onResponse', async (request) => count(request.raw.socket, -1));
}

/** Counts a request on its connection (+1 when it starts, -1 once its answer is written), for requests Fastify does not see. */
export function countRequests(app: FastifyInstance): (socket: Socket, delta: number) => void {
  return requestCounter(connectionsOf.get(app) ?? new Map());
}

function requestCounter(connections: Map<Socket, number>) {
  return (socket: Socket, delta: number) => {
    const current = connections.get(socket);
    if (current !== undefined) connections.set(socket, current + delta);
  };
}

function closeConnectionsAtRest(app: FastifyInstance): void {
  for (const [socket, requests] of connectionsOf.get(app) ?? []) {
    if (requests === 0) socket.destroy();
  }
}

/** SIGTERM and SIGINT drain the app, then run `after` and exit: 0 when everything finished, 1 when cut. */
export function exitOnSignals(app: FastifyInstance, lifecycle: Lifecycle, graceMs: number, logger: Logger, after: () => Promise<void> = async () => {}): void {
  const onSignal = async (signal: NodeJS.Signals) => {
    if (lifecycle.draining) return;
    logger.info({ signal, graceMs }, 'draining');
    const ended = await drain(app, lifecycle, graceMs);
    await after();
    logger.info({ ended }, 'stopped');
    process.exit(ended === 'closed' ? 0 : 1);
  };
  process.once('SIGTERM', (s) => void onSignal(s));
  process.once('SIGINT', (s) => void onSignal(s));
}

/**
 * Logs where history is kept once its store is open. A store that can never open (a
 * corrupt or foreign HISTORY_DIR, a schema newer than this gateway) stops the process with
 * exit code 2 and a message naming it; one that is only away is waited for meanwhile.
 */
export function watchHistory(history: History | undefined, app: FastifyInstance, logger: Logger): void {
  history?.ready.then(
    () => logger.info({ store: history.location }, 'history store open'),
    async (error: Error) => {
      logger.fatal({ reason: error.message }, 'the history store cannot be used; stopping');
      process.stderr.write(`${error.message}\n`);
      await app.close().catch(() => undefined);
      process.exit(2);
    },
  );
}
