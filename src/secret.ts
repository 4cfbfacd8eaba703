import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * An upstream key or token. Printing, logging, serialising or interpolating it
 * yields `[redacted]`; only `reveal()` hands out the value, and only providers call it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
