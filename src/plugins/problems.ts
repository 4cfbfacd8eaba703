import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance } from 'fastify';
import { echo, ERRORS, ProblemError, problemBody, type ErrorCode } from '../errors.js';

/** Every error and every unknown route answered as application/problem+json from the one catalogue. */
export function answerWithProblems(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblemError(error);
    // A 500 is our fault and worth a stack; an upstream's trouble (502-504) is in the request line.
    if (problem.status === 500) request.log.error({ err: error }, 'request failed');
    if (problem.extra.retryAfterS !== undefined) reply.header('retry-after', String(problem.extra.retryAfterS));
    for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
    return reply.code(problem.status).type('application/problem+json').send(JSON.stringify(problem.toProblem()));
  });
  app.setNotFoundHandler((request, reply) => {
    const body = problemBody('not_found', `no route for ${echo(request.method, 16)} ${echo(request.url.split('?')[0]!, 200)}`);
    return reply.code(404).type('application/problem+json').send(JSON.stringify(body));
  });
}

/** HTTP/1.1 requires Host (RFC 9112, section 3.2); a request without one is a 400 problem. */
export function requireHost(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') throw new ProblemError('bad_request', 'the Host header is missing');
  });
}

/** Requests Node refuses before Fastify sees them, by Node's error code, in the catalogue's terms. */
const CLIENT_ERRORS: Record<string, { code: ErrorCode; detail: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'header_fields_too_large', detail: 'the request line or headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request_timeout', detail: 'the request did not arrive in time' },
};
const UNPARSEABLE = { code: 'bad_request', detail: 'the request could not be parsed' } as const;

/**
 * Requests Node refuses before Fastify sees them (oversized headers, bad framing, too slow)
 * still get a problem, unless an answer to that connection has already begun.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const { code, detail } = CLIENT_ERRORS[error.code ?? ''] ?? UNPARSEABLE;
  const body = JSON.stringify(problemBody(code, detail));
  const { status, title } = ERRORS[code];
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Every error a route can throw, in the catalogue's terms; nothing internal leaks. */
function toProblemError(error: FastifyError): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const param =
      (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty ??
      first?.instancePath.replace(/^\//, '') ??
      undefined;
    const name = param === undefined ? undefined : echo(param);
    if (first?.keyword === 'additionalProperties') {
      return new ProblemError('invalid_parameter', `unknown parameter \`${name}\``, { param: name });
    }
    if (first?.keyword === 'type' && name) {
      return new ProblemError('invalid_parameter', `\`${name}\` is given more than once; give it once (lists are comma-separated)`, { param: name });
    }
    return new ProblemError('invalid_parameter', `\`${name ?? 'query'}\` ${first?.message ?? 'is invalid'}`, name ? { param: name } : {});
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (Object.keys(ERRORS) as ErrorCode[]).find((c) => ERRORS[c].status === status) ?? 'invalid_parameter';
    return new ProblemError(code, status === 413 ? 'the request body is too large' : 'the request could not be read');
  }
  return new ProblemError('internal_error', 'the gateway failed to answer; the error is logged', { cause: error });
}
