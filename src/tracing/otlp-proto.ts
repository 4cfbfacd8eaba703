import type { Attributes, AttributeValue } from '@opentelemetry/api';

/**
 * The few OTLP protobuf messages the kept-answer spans need, written as the SDK's own
 * serializer writes them (field order included), so a collector cannot tell them apart.
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 */

export function varint(value: number): Buffer {
  const out = Buffer.alloc(10);
  return out.subarray(0, writeVarint(out, 0, value));
}

/** `value` (a non-negative integer) as a varint at `at` of `out`; returns where it ends. */
export function writeVarint(out: Buffer, at: number, value: number): number {
  while (value > 0x7f) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

/** A W3C id (lowercase or uppercase hex, an even number of digits) as bytes at `at` of `out`; returns where it ends. */
export function writeHexId(out: Buffer, at: number, hex: string): number {
  for (let i = 0; i < hex.length; i += 2) out[at++] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1));
  return at;
}

function nibble(code: number): number {
  return code <= 57 ? code - 48 : (code | 0x20) - 87;
}

export function tag(field: number, wireType: number): Buffer {
  return varint(field * 8 + wireType);
}

export function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([tag(field, 2), varint(payload.length), payload]);
}

export function stringField(field: number, value: string): Buffer {
  return lengthDelimited(field, Buffer.from(value, 'utf8'));
}

/** `repeated KeyValue` under `field`, in the attributes' own order. */
export function keyValues(field: number, attributes: Attributes): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    parts.push(lengthDelimited(field, Buffer.concat([stringField(1, key), lengthDelimited(2, anyValue(value))])));
  }
  return Buffer.concat(parts);
}

function anyValue(value: AttributeValue | null | undefined): Buffer {
  if (typeof value === 'string') return stringField(1, value);
  if (typeof value === 'boolean') return Buffer.concat([tag(2, 0), varint(value ? 1 : 0)]);
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return Buffer.concat([tag(3, 0), varint(value)]);
    const double = Buffer.alloc(8);
    double.writeDoubleLE(value);
    return Buffer.concat([tag(4, 1), double]);
  }
  if (Array.isArray(value)) return lengthDelimited(5, Buffer.concat(value.map((item) => lengthDelimited(1, anyValue(item)))));
  return Buffer.alloc(0);
}

/** `Resource` under `field`: its attributes, then a dropped count of 0. */
export function resourceField(field: number, attributes: Attributes): Buffer {
  return lengthDelimited(field, Buffer.concat([keyValues(1, attributes), tag(2, 0), varint(0)]));
}

/** `InstrumentationScope` under `field`: a name and, when there is one, a version. */
export function scopeField(field: number, name: string, version: string | undefined): Buffer {
  return lengthDelimited(field, Buffer.concat([stringField(1, name), ...(version ? [stringField(2, version)] : [])]));
}

/**
 * Unix nanoseconds of a millisecond time (`performance.timeOrigin + performance.now()`) as
 * fixed64 at `offset`. Seconds times 1e9 is beyond a double's integers, so it is summed in
 * two 32-bit halves, as the SDK's serializer does.
 */
export function writeUnixNanos(buffer: Buffer, offset: number, epochMs: number): void {
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.min(999_999_999, Math.round((epochMs - seconds * 1000) * 1e6));
  const fromLow16 = (seconds & 0xffff) * 1e9;
  const fromHigh = Math.floor(seconds / 0x10000) * 1e9;
  const low = (fromLow16 >>> 0) + ((fromHigh & 0xffff) * 0x10000 >>> 0) + nanos;
  const high = Math.floor(fromLow16 / 0x100000000) + Math.floor(fromHigh / 0x10000) + Math.floor(low / 0x100000000);
  buffer.writeUInt32LE(low >>> 0, offset);
  buffer.writeUInt32LE(high >>> 0, offset + 4);
}
