import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';

let stack: Stack;
let port: number;

beforeAll(async () => {
  stack = await startStack();
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  port = (stack.app.server.address() as AddressInfo).port;
});
afterAll(() => stack.close());

/** Characters a terminal or a log viewer could act on: C0, DEL, C1, and the other non-printables. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;

/** Sends raw bytes on a new connection; resolves with the answer's status, content type and body. */
async function raw(bytes: Buffer): Promise<{ status: number; contentType: string | undefined; body: string }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.end(bytes);
  await closed;
  const [head = '', body = ''] = Buffer.concat(chunks).toString('latin1').split('\r\n\r\n', 2);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), contentType: /\r\ncontent-type: ([^\r]*)/i.exec(head)?.[1], body };
}

describe('errors echo nothing raw', () => {
  it('escape control characters in an unknown parameter name (regression: echoed as sent)', async () => {
    const response = await stack.app.inject('/netflows?a%0d%0ab%00%1b%5b31m=1');
    expect(response.statusCode).toBe(400);
    const problem = response.json();
    expect(problem.detail).toContain('unknown parameter `a\\u000d\\u000ab\\u0000\\u001b[31m`');
    expect(problem.param).toBe('a\\u000d\\u000ab\\u0000\\u001b[31m');
    expect(problem.detail).not.toMatch(NON_PRINTABLE);
  });

  it('cut an 8,000-character parameter name to a bounded length (regression: a 16 KB error body)', async () => {
    const response = await stack.app.inject(`/netflows?${'n'.repeat(8000)}=1`);
    expect(response.statusCode).toBe(400);
    expect(response.body.length).toBeLessThan(1000);
    expect(response.json().param).toBe(`${'n'.repeat(64)}…`);
  });

  it('escape non-printable values: C1 controls, bidi overrides, line separators', async () => {
    const response = await stack.app.inject(`/netflows?asset=${encodeURIComponent('btc\u009b\u202e\u2028x')}`);
    expect(response.statusCode).toBe(400);
    expect(response.json().detail).toContain('"btc\\u009b\\u202e\\u2028x"');
  });

  it('escape and cut the path of a 404', async () => {
    // Node refuses such bytes in a request line before any route sees them: a problem too.
    const answer = await raw(Buffer.concat([Buffer.from('GET /x'), Buffer.from([0x9b, 0x1b]), Buffer.from('y HTTP/1.1\r\nHost: localhost\r\n\r\n')]));
    expect([answer.status, answer.contentType]).toEqual([400, 'application/problem+json']);
    const injected = await stack.app.inject('/x\u009b\u001by');
    expect(injected.statusCode).toBe(404);
    expect(injected.json().detail).not.toMatch(NON_PRINTABLE);
    const long = await stack.app.inject(`/${'p'.repeat(5000)}`);
    expect(long.statusCode).toBe(404);
    expect(long.body.length).toBeLessThan(1000);
  });

  it('answer a request without Host with a 400 problem (regression: Node\'s bare 400)', async () => {
    const answer = await raw(Buffer.from('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'bad_request', status: 400, detail: 'the Host header is missing' });
  });

  it('answer HTTP/1.0 without Host, which needs none', async () => {
    const answer = await raw(Buffer.from('GET /healthz HTTP/1.0\r\n\r\n'));
    expect(answer.status).toBe(200);
  });

  it('answer a request Node cannot parse with a 400 problem', async () => {
    const answer = await raw(Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n'));
    expect([answer.status, answer.contentType]).toEqual([400, 'application/problem+json']);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'bad_request', detail: 'the request could not be parsed' });
  });
});
