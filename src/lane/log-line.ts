import pino, { type Logger } from 'pino';

/** What varies in the lane's line; route and cache are always /netflows and hit. */
export interface HitLine {
  reqId: string;
  caller: string | undefined;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  ids: { trace_id: string; span_id: string } | undefined;
}

/** Writes the line when the logger's level lets info lines through. */
export type HitLogger = (line: HitLine) => void;

const KEYS = ['reqId', 'caller', 'method', 'route', 'path', 'status', 'durationMs', 'cache', 'trace_id', 'span_id'];
const S = pino.symbols as typeof pino.symbols & { msgPrefixSym: symbol; mixinMergeStrategySym: symbol };

interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * The request line of a kept answer, as `logger.info(line, 'request')` would write it
 * (pino's level and time fields, the logger's bindings, then the fields in order), built by
 * concatenation and written to the logger's own stream: pino's general path (copying the
 * object, escaping every key, its redaction and serializer lookups) costs more than the rest
 * of the lane's work. Used only when pino would write exactly these bytes: no key of the
 * line redacted or serialized, no log formatter, hook, nested key, message prefix or
 * multistream. Otherwise, and for a line the logger's mixin adds fields to, pino writes it.
 */
export function hitLogger(logger: Logger, route: string): HitLogger {
  const viaPino = (line: HitLine) => logger.info(pinoObject(line, route), 'request');
  const internals = logger as unknown as PinoInternals;
  if (!templatable(internals)) {
    return (line) => {
      if (logger.isLevelEnabled('info')) viaPino(line);
    };
  }
  const mixin = internals[S.mixinSym] as ((obj: object, level: number, logger: Logger) => object) | undefined;
  const fixedRoute = `,"route":${JSON.stringify(route)}`;
  const message = `,${JSON.stringify(internals[S.messageKeySym])}:"request"`;
  return (line) => {
    if (!logger.isLevelEnabled('info')) return;
    const level = logger.levels.values.info!;
    // The lane runs outside any span's context, so the mixin (the active span's ids) has nothing to add.
    if (mixin && Object.keys(mixin({}, level, logger)).length > 0) return viaPino(line);
    let text = (internals[S.lsCacheSym] as Record<number, string>)[level]! + (internals[S.timeSym] as () => string)() + (internals[S.chindingsSym] as string);
    text += `,"reqId":${JSON.stringify(line.reqId)}`;
    if (line.caller !== undefined) text += `,"caller":${JSON.stringify(line.caller)}`;
    text += `,"method":${JSON.stringify(line.method)}${fixedRoute},"path":${JSON.stringify(line.path)},"status":${line.status},"durationMs":${line.durationMs},"cache":"hit"`;
    // W3C ids are lowercase hex: nothing in them to escape.
    if (line.ids) text += `,"trace_id":"${line.ids.trace_id}","span_id":"${line.ids.span_id}"`;
    (internals[S.streamSym] as { write(text: string): void }).write(text + message + (internals[S.endSym] as string));
  };
}

function pinoObject(line: HitLine, route: string): Record<string, unknown> {
  return {
    reqId: line.reqId,
    ...(line.caller !== undefined ? { caller: line.caller } : {}),
    method: line.method,
    route,
    path: line.path,
    status: line.status,
    durationMs: line.durationMs,
    cache: 'hit',
    ...(line.ids ? { trace_id: line.ids.trace_id, span_id: line.ids.span_id } : {}),
  };
}

/** Whether pino's own path would write the templated bytes: nothing configured that rewrites a line or its keys. */
function templatable(internals: PinoInternals): boolean {
  const stringifiers = internals[S.stringifiersSym] as Record<string | symbol, unknown>;
  const serializers = internals[S.serializersSym] as Record<string, unknown>;
  const formatters = internals[S.formattersSym] as { log?: unknown };
  const hooks = internals[S.hooksSym] as { logMethod?: unknown; streamWrite?: unknown };
  const stream = internals[S.streamSym] as Record<symbol, unknown>;
  const keys = [...KEYS, internals[S.messageKeySym] as string];
  if (keys.some((key) => stringifiers[key] !== undefined || serializers[key] !== undefined)) return false;
  if (stringifiers[S.wildcardFirstSym] !== undefined) return false;
  if (formatters.log !== undefined || hooks.logMethod !== undefined || hooks.streamWrite !== undefined) return false;
  if (internals[S.nestedKeySym] || internals[S.msgPrefixSym] || internals[S.mixinMergeStrategySym]) return false;
  return stream[S.needsMetadataGsym] !== true && typeof internals[S.lsCacheSym] === 'object';
}
