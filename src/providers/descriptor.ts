import type { FastifyBaseLogger } from 'fastify';
import type { BudgetPolicy } from '../budget/index.js';
import type { UpstreamCache, ValueCodec } from '../cache/upstream-cache.js';
import type { EnvReader } from '../env.js';
import type { History } from '../history/history.js';
import type { NumberRange, Provider, SnapshotWindow, SourceId } from '../model.js';
import type { RateLimit } from '../ratelimit.js';
import type { Secret } from '../secret.js';
import type { Clock } from '../time.js';
import type { UpstreamClient } from '../upstream/http.js';

/** What every upstream's configuration holds, whatever else it has: where it is, its key, its rate limits. */
export interface UpstreamConfig {
  /** Absent: the upstream's keyless mode, or the source is off (its `status` says which). */
  apiKey: Secret | undefined;
  baseUrl: string;
  rateLimits: readonly RateLimit[];
}

/** Whether a source is on, in words for /catalog, and what the operator should hear at start. */
export type SourceAvailability =
  | { enabled: true; detail: string; mode?: string; warning?: string }
  | { enabled: false; because: string; warning: string };

/** A JSON Schema fragment, as the route schemas and the OpenAPI document take it. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** One entity a source answers for, as /catalog lists it. */
export interface CatalogEntity {
  entity: string;
  name: string;
  /** Fields of its own, named in `SourceCatalog.entityFields` (e.g. `coinmetrics_code`). */
  fields?: Readonly<Record<string, string>>;
}

/** What a source offers, for /catalog, query validation and the OpenAPI document. */
export interface SourceCatalog {
  entities: readonly CatalogEntity[];
  /** How a parse error names its entities (`exchange slugs (binance, coinbase, …)`). */
  entityHint: string;
  /** Extra entity fields and their schemas, in /catalog's order. */
  entityFields?: Readonly<Record<string, JsonSchema>>;
  windows: readonly SnapshotWindow[];
  intervals: readonly string[];
  /** Intervals answered from recorded history only (Nansen's series): /catalog lists them while history is on. */
  historyIntervals?: readonly string[];
  chains: readonly string[];
  /** Lists of its own at the top of /catalog (Nansen's `smart_money_labels`). */
  lists?: Readonly<Record<string, readonly string[]>>;
  /** What a positive net flow means for this source, completing "<title>: …" in the one sign rule. */
  signRule: string;
}

/** How a source's own query parameters are read: the query parser implements it; every method throws a 400 naming the parameter. */
export interface ParamReader {
  has(name: string): boolean;
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined;
  list(name: string, valid: (item: string) => boolean, expected: string, lowerCase?: boolean): string[] | undefined;
  boolean(name: string): boolean | undefined;
  /** `min_<field>` and `max_<field>`, checked min ≤ max. */
  range(field: string, whole: boolean): NumberRange | undefined;
}

/** Query parameters only this source understands; naming one takes every other source out of the answer. */
export interface SourceParams<P = unknown> {
  /** Each parameter's query schema, in the OpenAPI document's order. */
  schemas: Readonly<Record<string, JsonSchema>>;
  /** Reads them from the query; the result is `NetflowsQuery.sourceParams[id]`. */
  parse(read: ParamReader): P;
  /** A stable rendering of what was read, for the cursor's question hash. */
  fingerprint(params: P): readonly unknown[];
}

/** What the wiring hands a provider: its configuration and a client already bound to its budget and circuit. */
export interface ProviderDeps<C> {
  config: C;
  client: UpstreamClient;
  cache: UpstreamCache;
  clock: Clock;
  logger: FastifyBaseLogger;
  /** Bound on one upstream load, every page and retry in it (ms). */
  loadTimeoutMs: number;
  /** The history store (it records what the provider fetches, and answers what it recorded); undefined with HISTORY=off. */
  history: History | undefined;
}

/**
 * Everything the gateway knows of one upstream, in its folder. Config, budgets, wiring,
 * query validation, the schemas, the OpenAPI text and /catalog are derived from the
 * registry of these; no generic module names a source.
 */
export interface ProviderDescriptor<Id extends SourceId = SourceId, C extends UpstreamConfig = UpstreamConfig, P = unknown> {
  /** Lower-case letters, digits and `_`: it appears in records, metric names and cache keys. */
  readonly id: Id;
  /** Its name in sentences (Coin Metrics). */
  readonly title: string;
  /** The `entity_type` of its records. */
  readonly entityType: string;
  readonly catalog: SourceCatalog;
  readonly params: SourceParams<P>;
  /** Its own block of variables, validated, in ms and bytes. */
  readConfig(read: EnvReader): C;
  status(config: C): SourceAvailability;
  /** Assets asked for when the caller names none, as /catalog shows them. */
  defaultAssets(config: C): readonly string[];
  budget(config: C): BudgetPolicy;
  /** How the shared tier holds its cache values (keys `<id>|…`); default: as they are, in JSON. */
  readonly cacheCodec?: ValueCodec;
  create(deps: ProviderDeps<C>): Provider;
}

export type AnyDescriptor = ProviderDescriptor<SourceId, UpstreamConfig, unknown>;
export type Registry = readonly AnyDescriptor[];

/** Each source's configuration block, by id, typed per descriptor. */
export type SourceConfigs<R extends Registry> = {
  readonly [D in R[number] as D['id']]: ReturnType<D['readConfig']>;
};

const SOURCE_ID = /^[a-z][a-z0-9_]{0,31}$/;

/** Refuses a registry the derived layers cannot serve: a bad or repeated id, or a parameter two sources claim. */
export function checkRegistry(registry: Registry): void {
  const ids = new Set<string>();
  const params = new Set<string>();
  for (const descriptor of registry) {
    if (!SOURCE_ID.test(descriptor.id) || ids.has(descriptor.id)) throw new Error(`provider id ${descriptor.id} is malformed or used twice`);
    ids.add(descriptor.id);
    for (const name of Object.keys(descriptor.params.schemas)) {
      if (params.has(name)) throw new Error(`query parameter ${name} is claimed by two providers`);
      params.add(name);
    }
  }
}
