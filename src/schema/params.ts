/**
 * How query parameters are described to clients. Values arrive as text and the query parser
 * reads them (naming the parameter at fault); the schemas say what they mean, so a client
 * generated from the document sends numbers, booleans and lists, not strings.
 */

/** Most items a comma list may hold. */
export const MAX_LIST_ITEMS = 100;

/** The largest whole number a parameter takes: 15 digits, exact as a double. */
export const MAX_WHOLE = 999_999_999_999_999;

/** A comma list (`asset=btc,eth`): an array that the document serialises with `style: form, explode: false`. */
export function listParam(items: Readonly<Record<string, unknown>>, text: string, example?: readonly string[]) {
  return {
    type: 'array',
    items,
    minItems: 1,
    maxItems: MAX_LIST_ITEMS,
    description: `${text} Comma-separated (style form, explode false: \`?name=a,b\`).`,
    ...(example ? { examples: [example] } : {}),
  } as const;
}

/** A whole number within the bounds the parser takes. */
export const wholeParam = (description: string) => ({ type: 'integer', minimum: -MAX_WHOLE, maximum: MAX_WHOLE, description }) as const;

/**
 * An instant as the parser reads it: epoch milliseconds (what Grafana's `${__from}` gives),
 * an RFC 3339 date-time, and with `dates` a `YYYY-MM-DD` day.
 */
export function instantParam(dates: boolean, description: string, example: string) {
  return {
    anyOf: [
      { type: 'integer', minimum: 0, maximum: MAX_WHOLE, description: 'Epoch milliseconds.' },
      ...(dates ? [{ type: 'string', format: 'date', description: 'A UTC day, YYYY-MM-DD.' }] : []),
      { type: 'string', format: 'date-time', description: 'An RFC 3339 date-time.' },
    ],
    description,
    examples: [example],
  } as const;
}

/**
 * Every query parameter whose schema is an array is a comma list: the document says so with
 * `style: form, explode: false`, which generated clients follow (openapi-fetch's
 * `querySerializer: { array: { style: 'form', explode: false } }`).
 */
export function markCommaLists<T>(document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, { parameters?: Record<string, unknown>[] }>> }).paths ?? {};
  for (const operation of Object.values(paths).flatMap((item) => Object.values(item))) {
    for (const parameter of operation.parameters ?? []) {
      if (parameter.in === 'query' && (parameter.schema as { type?: unknown } | undefined)?.type === 'array') {
        parameter.style = 'form';
        parameter.explode = false;
      }
    }
  }
  return document;
}
