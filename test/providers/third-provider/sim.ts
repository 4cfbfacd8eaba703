import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One row the simulated upstream serves: an asset's net flow into all exchanges over a window. */
export interface SimFlow {
  asset: string;
  netflowUsd: number;
  netflowNative: number;
}

export interface ExFlowsSim {
  url: string;
  /** Requests answered (429s included), for tests that count upstream calls. */
  calls: { path: string; query: Record<string, string> }[];
  close(): Promise<void>;
}

export interface ExFlowsSimOptions {
  apiKey: string;
  now: () => number;
  flows: readonly SimFlow[];
  /** Calls per second it allows before a 429 (its own limit, told in its own headers). */
  perSecond: number;
}

const WINDOW_MS: Record<string, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000 };

/**
 * A small exchange-flows upstream on loopback, port 0: `GET /v1/exchange-flows` with the
 * key in `x-api-key`, one entity (every exchange as one cluster), a per-second limit it
 * reports in `x-flows-quota-remaining` / `-reset`, and a 429 with `Retry-After` past it.
 */
export async function startExFlowsSim(options: ExFlowsSimOptions): Promise<ExFlowsSim> {
  const calls: ExFlowsSim['calls'] = [];
  const seen: number[] = [];
  const server = createServer((request, response) => answer(request, response));

  function answer(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://sim');
    calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams) });
    const now = options.now();
    while (seen.length > 0 && seen[0]! <= now - 1000) seen.shift();
    if (request.headers['x-api-key'] !== options.apiKey) return send(response, 401, { error: 'bad_key' }, {});
    if (seen.length >= options.perSecond) return send(response, 429, { error: 'rate_limited' }, { 'retry-after': '1', ...quota(0) });
    seen.push(now);
    const window = url.searchParams.get('window') ?? '24h';
    if (url.pathname !== '/v1/exchange-flows' || !WINDOW_MS[window]) return send(response, 400, { error: 'bad_request' }, quota(options.perSecond - seen.length));
    const assets = url.searchParams.get('assets')?.split(',');
    const derivatives = url.searchParams.get('include_derivatives') === 'true' ? 2 : 1;
    const rows = options.flows
      .filter((f) => !assets || assets.includes(f.asset))
      .map((f) => ({ symbol: f.asset.toUpperCase(), netflow_usd: String(f.netflowUsd * derivatives), netflow_native: String(f.netflowNative * derivatives) }));
    send(response, 200, { window, end: new Date(now).toISOString(), data: rows }, quota(options.perSecond - seen.length));
  }

  function quota(remaining: number): Record<string, string> {
    return { 'x-flows-quota-limit': String(options.perSecond), 'x-flows-quota-remaining': String(Math.max(0, remaining)), 'x-flows-quota-reset': '1' };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
