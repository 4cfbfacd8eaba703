import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';

let stack: Stack;
let port: number;

beforeAll(async () => {
  stack = await startStack({ env: { HEADERS_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '600', KEEP_ALIVE_TIMEOUT_MS: '300' } });
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  port = (stack.app.server.address() as AddressInfo).port;
});
afterAll(() => stack.close());

/** Sends `text` on a new connection and resolves with everything received once the server closes it. */
async function untilClosed(text: string, after?: (socket: Socket) => void): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(text);
  after?.(socket);
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

function problemIn(response: string): { status: number; contentType: string | undefined; body: Record<string, unknown> } {
  const [head = '', body = ''] = response.split('\r\n\r\n', 2);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
    contentType: /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1],
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

describe('server timeouts', () => {
  it('close 500 connections that send headers and never the body, with a 408 problem (regression: held forever)', async () => {
    const head = 'POST /netflows HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
    const responses = await Promise.all(Array.from({ length: 500 }, () => untilClosed(head)));
    for (const response of responses) {
      expect(problemIn(response)).toMatchObject({ status: 408, contentType: 'application/problem+json', body: { code: 'request_timeout', status: 408 } });
    }
  });

  it('answer headers that never finish with a 408 problem (regression: a 400 after about 70 s)', async () => {
    const response = await untilClosed('GET /netflows?limit=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n');
    expect(problemIn(response)).toMatchObject({ status: 408, body: { code: 'request_timeout', title: 'Request timeout' } });
  });

  it('close an idle keep-alive connection', async () => {
    const response = await untilClosed('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('come from the configuration', () => {
    const server = stack.app.server;
    // The connection's own default: three upstream timeouts of 2 s (the /netflows deadline), plus 30 s.
    expect([server.headersTimeout, server.requestTimeout, server.keepAliveTimeout, server.timeout]).toEqual([300, 600, 300, 36_000]);
  });
});
