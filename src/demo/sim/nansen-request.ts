// Strict validation of SmartMoneyNetflowRequest (nansen-openapi.json). Issues carry
// FastAPI/pydantic's loc/type/msg so both 422 body shapes can be built from them.
import { SMART_MONEY_LABELS, type SmartMoneyLabel } from './nansen-data.js';

export const SMART_MONEY_CHAINS = [
  'all', 'arbitrum', 'avalanche', 'base', 'bnb', 'ethereum', 'hyperevm', 'iotaevm', 'linea', 'mantle',
  'monad', 'optimism', 'plasma', 'polygon', 'ronin', 'scroll', 'sei', 'solana', 'sonic',
] as const;

export const SORT_FIELDS = [
  'chain', 'token_address', 'token_symbol', 'net_flow_1h_usd', 'net_flow_24h_usd', 'net_flow_7d_usd',
  'net_flow_30d_usd', 'token_sectors', 'trader_count', 'token_age_days', 'market_cap_usd',
] as const;
export type SortField = (typeof SORT_FIELDS)[number];

export interface SortOrder {
  field: SortField;
  direction: 'ASC' | 'DESC';
}

export interface NumericRange {
  min?: number;
  max?: number;
}

export interface NetflowQuery {
  /** As sent; may contain 'all'. */
  chains: string[];
  includeLabels: SmartMoneyLabel[] | undefined;
  excludeLabels: SmartMoneyLabel[] | undefined;
  /** Addresses or symbols. */
  tokenAddresses: string[] | undefined;
  includeStablecoins: boolean;
  includeNativeTokens: boolean;
  sectors: string[] | undefined;
  traderCount: NumericRange | undefined;
  tokenAgeDays: NumericRange | undefined;
  marketCapUsd: NumericRange | undefined;
  page: number;
  perPage: number;
  orderBy: SortOrder[];
}

export interface ValidationIssue {
  loc: Array<string | number>;
  /** pydantic error type, e.g. extra_forbidden, missing, enum, less_than_equal. */
  type: string;
  msg: string;
}

export type ParseResult = { ok: true; query: NetflowQuery } | { ok: false; issues: ValidationIssue[] };

const REQUEST_FIELDS = ['chains', 'filters', 'premium_labels', 'pagination', 'order_by'];
const FILTER_FIELDS = [
  'include_smart_money_labels', 'exclude_smart_money_labels', 'token_address', 'include_stablecoins',
  'include_native_tokens', 'token_sector', 'trader_count', 'token_age_days', 'market_cap_usd',
];
const MAX_PER_PAGE = 1000;

type Loc = Array<string | number>;
type Json = Record<string, unknown>;

export function parseNetflowRequest(bodyText: string): ParseResult {
  if (bodyText.trim() === '') return { ok: false, issues: [{ loc: ['body'], type: 'missing', msg: 'Field required' }] };
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { ok: false, issues: [{ loc: ['body', 0], type: 'json_invalid', msg: 'JSON decode error' }] };
  }
  const v = new Validator();
  const query = v.request(body);
  return query && v.issues.length === 0 ? { ok: true, query } : { ok: false, issues: v.issues };
}

/** Walks the body once, collecting every issue; values come back undefined where invalid. */
class Validator {
  readonly issues: ValidationIssue[] = [];

  request(body: unknown): NetflowQuery | undefined {
    const request = this.object(body, ['body'], REQUEST_FIELDS);
    if (!request) return undefined;
    if (request.chains === undefined) this.fail(['body', 'chains'], 'missing', 'Field required');
    const chains = this.enumList(request.chains, ['body', 'chains'], SMART_MONEY_CHAINS, true) ?? [];
    const filters = this.optional(request.filters, (value) => this.object(value, ['body', 'filters'], FILTER_FIELDS)) ?? {};
    this.optional(request.premium_labels, (value) => this.boolean(value, ['body', 'premium_labels']));
    const pagination = this.optional(request.pagination, (value) => this.object(value, ['body', 'pagination'], ['page', 'per_page'])) ?? {};
    const filterLoc = (name: string): Loc => ['body', 'filters', name];
    return {
      chains,
      includeLabels: this.optional(filters.include_smart_money_labels, (value) => this.enumList(value, filterLoc('include_smart_money_labels'), SMART_MONEY_LABELS)),
      excludeLabels: this.optional(filters.exclude_smart_money_labels, (value) => this.enumList(value, filterLoc('exclude_smart_money_labels'), SMART_MONEY_LABELS)),
      tokenAddresses: this.optional(filters.token_address, (value) => this.stringOrList(value, filterLoc('token_address'))),
      includeStablecoins: this.optional(filters.include_stablecoins, (value) => this.boolean(value, filterLoc('include_stablecoins'))) ?? false,
      includeNativeTokens: this.optional(filters.include_native_tokens, (value) => this.boolean(value, filterLoc('include_native_tokens'))) ?? false,
      sectors: this.optional(filters.token_sector, (value) => this.stringList(value, filterLoc('token_sector'))),
      traderCount: this.optional(filters.trader_count, (value) => this.range(value, filterLoc('trader_count'))),
      tokenAgeDays: this.optional(filters.token_age_days, (value) => this.range(value, filterLoc('token_age_days'))),
      marketCapUsd: this.optional(filters.market_cap_usd, (value) => this.range(value, filterLoc('market_cap_usd'))),
      page: this.optional(pagination.page, (value) => this.integer(value, ['body', 'pagination', 'page'], 1)) ?? 1,
      perPage: this.optional(pagination.per_page, (value) => this.integer(value, ['body', 'pagination', 'per_page'], 1, MAX_PER_PAGE)) ?? 10,
      orderBy: this.optional(request.order_by, (value) => this.orderBy(value, ['body', 'order_by'])) ?? [],
    };
  }

  /** Optional fields accept null as "not given", as pydantic's Optional[...] = None does. */
  private optional<T>(value: unknown, parse: (value: unknown) => T | undefined): T | undefined {
    return value === undefined || value === null ? undefined : parse(value);
  }

  private object(value: unknown, loc: Loc, allowed: readonly string[]): Json | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(loc, 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from');
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail([...loc, key], 'extra_forbidden', 'Extra inputs are not permitted');
    }
    return value as Json;
  }

  private list(value: unknown, loc: Loc): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    this.fail(loc, 'list_type', 'Input should be a valid list');
    return undefined;
  }

  private enumList<T extends string>(value: unknown, loc: Loc, allowed: readonly T[], required = false): T[] | undefined {
    if (value === undefined && required) return undefined;
    const items = this.list(value, loc);
    if (!items) return undefined;
    const valid = items.filter((item, i) => this.enumValue(item, [...loc, i], allowed));
    return valid.length === items.length ? (valid as T[]) : undefined;
  }

  private enumValue<T extends string>(value: unknown, loc: Loc, allowed: readonly T[]): value is T {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return true;
    this.fail(loc, 'enum', `Input should be ${quotedChoices(allowed)}`);
    return false;
  }

  private stringList(value: unknown, loc: Loc): string[] | undefined {
    const items = this.list(value, loc);
    if (!items) return undefined;
    const valid = items.filter((item, i) => this.string(item, [...loc, i]) !== undefined) as string[];
    return valid.length === items.length ? valid : undefined;
  }

  private stringOrList(value: unknown, loc: Loc): string[] | undefined {
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return this.stringList(value, loc);
    this.fail(loc, 'string_type', 'Input should be a valid string or a valid list of strings');
    return undefined;
  }

  private string(value: unknown, loc: Loc): string | undefined {
    if (typeof value === 'string') return value;
    this.fail(loc, 'string_type', 'Input should be a valid string');
    return undefined;
  }

  private boolean(value: unknown, loc: Loc): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.fail(loc, 'bool_type', 'Input should be a valid boolean');
    return undefined;
  }

  private number(value: unknown, loc: Loc): number | undefined {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    this.fail(loc, 'float_type', 'Input should be a valid number');
    return undefined;
  }

  private integer(value: unknown, loc: Loc, min: number, max = Number.POSITIVE_INFINITY): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.fail(loc, 'int_type', 'Input should be a valid integer');
      return undefined;
    }
    if (value < min) return this.fail(loc, 'greater_than_equal', `Input should be greater than or equal to ${min}`);
    if (value > max) return this.fail(loc, 'less_than_equal', `Input should be less than or equal to ${max}`);
    return value;
  }

  private range(value: unknown, loc: Loc): NumericRange | undefined {
    const range = this.object(value, loc, ['min', 'max']);
    if (!range) return undefined;
    const min = this.optional(range.min, (bound) => this.number(bound, [...loc, 'min']));
    const max = this.optional(range.max, (bound) => this.number(bound, [...loc, 'max']));
    return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
  }

  private orderBy(value: unknown, loc: Loc): SortOrder[] | undefined {
    const items = this.list(value, loc);
    if (!items) return undefined;
    const orders = items.map((item, i) => this.sortOrder(item, [...loc, i]));
    return orders.every((order) => order !== undefined) ? (orders as SortOrder[]) : undefined;
  }

  private sortOrder(value: unknown, loc: Loc): SortOrder | undefined {
    const order = this.object(value, loc, ['field', 'direction']);
    if (!order) return undefined;
    for (const key of ['field', 'direction'] as const) {
      if (order[key] === undefined) this.fail([...loc, key], 'missing', 'Field required');
    }
    const fieldOk = order.field !== undefined && this.enumValue(order.field, [...loc, 'field'], SORT_FIELDS);
    const directionOk = order.direction !== undefined && this.enumValue(order.direction, [...loc, 'direction'], ['ASC', 'DESC'] as const);
    return fieldOk && directionOk ? { field: order.field as SortField, direction: order.direction as 'ASC' | 'DESC' } : undefined;
  }

  private fail(loc: Loc, type: string, msg: string): undefined {
    this.issues.push({ loc, type, msg });
    return undefined;
  }
}

/** pydantic's wording: 'a', 'b' or 'c'. */
function quotedChoices(choices: readonly string[]): string {
  const quoted = choices.map((choice) => `'${choice}'`);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}
