import { Writable } from 'node:stream';
import pino, { type LoggerOptions } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACT_PATHS } from '../../src/app.js';
import { hitLogger, type HitLine } from '../../src/lane/log-line.js';

function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { stream, lines };
}

const LINES: HitLine[] = [
  { reqId: 'dash-42', caller: 'grafana', method: 'GET', path: '/netflows', status: 200, durationMs: 0.07, ids: undefined },
  { reqId: '0b7e1c2a-4d51-4c3e-9a43-5b4c0f1e2d3c', caller: undefined, method: 'HEAD', path: '/netflows', status: 304, durationMs: 12, ids: undefined },
  { reqId: 'r', caller: 'a "quoted"\\ caller\n\u0001 ünïcode', method: 'GET', path: '/netflows', status: 200, durationMs: 1.5, ids: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' } },
];

/** The lane's line and pino's own line for the same fields, on two loggers alike but for their streams. */
function bothWays(options: LoggerOptions, line: HitLine, templated = true): [string[], string[]] {
  const lane = sink();
  const route = sink();
  const fixed = { ...options, timestamp: () => ',"time":1700000000000' };
  const logger = pino(fixed, lane.stream);
  const info = logger.info.bind(logger);
  let throughPino = 0;
  logger.info = ((...args: Parameters<typeof info>) => {
    throughPino++;
    info(...args);
  }) as typeof logger.info;
  hitLogger(logger, '/netflows')(line);
  expect(throughPino, templated ? 'templated' : 'left to pino').toBe(templated ? 0 : 1);
  const { caller, ids, ...rest } = line;
  pino(fixed, route.stream).info({ reqId: rest.reqId, ...(caller !== undefined ? { caller } : {}), method: rest.method, route: '/netflows', path: rest.path, status: rest.status, durationMs: rest.durationMs, cache: 'hit', ...ids }, 'request');
  return [lane.lines, route.lines];
}

describe('the early lane\'s templated log line', () => {
  it('is byte for byte the line pino writes for the same fields, escaping included', () => {
    for (const line of LINES) {
      const [lane, route] = bothWays({ level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, line);
      expect(lane).toHaveLength(1);
      expect(lane).toEqual(route);
    }
  });

  it('carries the logger\'s bindings, level formatter and message key', () => {
    const options: LoggerOptions = { base: { service: 'gw', pid: 7 }, messageKey: 'message', formatters: { level: (label) => ({ severity: label }) } };
    const [lane, route] = bothWays(options, LINES[0]!);
    expect(lane).toEqual(route);
    expect(JSON.parse(lane[0]!)).toMatchObject({ severity: 'info', service: 'gw', message: 'request', caller: 'grafana' });
  });

  it('keeps the level check: nothing below info, and a level changed later counts', () => {
    const out = sink();
    const logger = pino({ level: 'warn' }, out.stream);
    const log = hitLogger(logger, '/netflows');
    log(LINES[0]!);
    expect(out.lines).toEqual([]);
    logger.level = 'info';
    log(LINES[0]!);
    expect(out.lines).toHaveLength(1);
  });

  it('leaves the line to pino when a redaction path, serializer or log formatter would change it', () => {
    const cases: LoggerOptions[] = [
      { redact: { paths: ['caller'], censor: '[redacted]' } },
      { redact: { paths: ['*.x'], censor: '[redacted]' } },
      { serializers: { path: () => '[path]' } },
      { formatters: { log: (object) => ({ ...object, extra: true }) } },
      { mixin: () => ({ trace_id: 'from-mixin' }) },
    ];
    for (const options of cases) {
      const [lane, route] = bothWays(options, LINES[0]!, false);
      expect(lane).toEqual(route);
    }
    expect(bothWays(cases[0]!, LINES[0]!, false)[0][0]).toContain('"caller":"[redacted]"');
  });

  it('writes through createLogger\'s own destination with its redaction rules', () => {
    const out = sink();
    hitLogger(createLogger('info', out.stream, () => ({})), '/netflows')(LINES[2]!);
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ level: 30, reqId: 'r', route: '/netflows', cache: 'hit', status: 200, msg: 'request', trace_id: LINES[2]!.ids!.trace_id });
  });
});
