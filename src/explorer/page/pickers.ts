// The question form: its choices come from /catalog; reading it gives a Question.

import { byId, el } from './dom.js';
import type { Catalog } from './model.js';
import { splitList, type Mode, type Question } from './question.js';

const SOURCE_NAMES: Record<string, string> = { coinmetrics: 'Coin Metrics', nansen: 'Nansen' };
const WINDOW_ORDER = ['1h', '24h', '7d', '30d'];
/** The contract's intervals: 1d for both sources, 1h for Nansen's hourly series from recorded history. */
const CONTRACT_INTERVALS = ['1d', '1h'];
const INTERVAL_LABELS: Record<string, string> = { '1d': '1d (daily)', '1h': '1h (hourly, Nansen only)' };
const ID = /^[a-z0-9_]{1,32}$/;

export const DEFAULT_WINDOW = '7d';

export class Pickers {
  readonly form = byId<HTMLFormElement>('question');
  readonly source = byId<HTMLSelectElement>('source');
  readonly window = byId<HTMLSelectElement>('window');
  readonly interval = byId<HTMLSelectElement>('interval');
  readonly entity = byId<HTMLSelectElement>('entity');
  readonly asset = byId<HTMLInputElement>('asset');
  readonly chain = byId<HTMLSelectElement>('chain');
  readonly limit = byId<HTMLSelectElement>('limit');
  private readonly assetList = byId<HTMLDataListElement>('asset-list');
  private catalog: Catalog | undefined;

  /** Fills every choice; without a catalog (401, gateway down) the contract's windows and intervals still work. */
  fill(catalog: Catalog | undefined): void {
    const keep = { source: this.source.value, window: this.window.value || DEFAULT_WINDOW, interval: this.interval.value, chain: this.chain.value };
    const chosen = new Set(this.selectedEntities());
    this.source.replaceChildren(
      el('option', { value: '' }, 'Every enabled source'),
      ...(catalog?.sources ?? []).map((s) =>
        el('option', { value: s.source, disabled: !s.enabled }, s.enabled ? nameOf(s.source) : `${nameOf(s.source)} (${s.detail})`),
      ),
    );
    const windows = union(Object.values(catalog?.windows ?? { contract: WINDOW_ORDER }));
    this.window.replaceChildren(...sortBy(windows, WINDOW_ORDER).map((w) => el('option', { value: w }, w)));
    const intervals = union([...Object.values(catalog?.intervals ?? {}), CONTRACT_INTERVALS]);
    this.interval.replaceChildren(...sortBy(intervals, CONTRACT_INTERVALS).map((i) => el('option', { value: i }, INTERVAL_LABELS[i] ?? i)));
    this.entity.replaceChildren(...entityGroups(catalog, chosen));
    const chains = union(Object.values(catalog?.chains ?? {})).filter((c) => ID.test(c));
    this.chain.replaceChildren(el('option', { value: '' }, 'Every chain'), ...chains.map((c) => el('option', { value: c }, c)));
    this.catalog = catalog;
    this.suggestAssets();
    restore(this.source, keep.source);
    restore(this.window, keep.window);
    restore(this.interval, keep.interval);
    restore(this.chain, keep.chain);
    this.limitEntities();
  }

  /** The asset suggestions: what the chosen exchanges have flows for, by the catalog; with none chosen, the default assets and every exchange's. */
  suggestAssets(): void {
    const chosen = new Set(this.selectedEntities());
    const lists = (this.catalog?.entities ?? []).filter((e) => e.assets && (chosen.size === 0 || chosen.has(e.entity))).map((e) => e.assets!);
    const defaults = chosen.size === 0 || lists.length === 0 ? Object.values(this.catalog?.default_assets ?? {}) : [];
    const assets = union([...defaults, ...lists]).filter((a) => ID.test(a));
    this.assetList.replaceChildren(...assets.map((a) => el('option', { value: a })));
  }

  mode(): Mode {
    const checked = this.form.querySelector<HTMLInputElement>('input[name="mode"]:checked');
    return checked?.value === 'series' ? 'series' : 'snapshot';
  }

  /** The snapshot's window or the series' interval: only the one that applies is shown. */
  showMode(): void {
    const series = this.mode() === 'series';
    byId('window-field').hidden = series;
    byId('interval-field').hidden = !series;
    byId('limit-field').hidden = series;
  }

  /** Only the chosen source's entities can be picked; Nansen's series are hourly by the contract, the exchanges' daily. */
  followSource(): void {
    this.limitEntities();
    restore(this.interval, this.source.value === 'nansen' ? '1h' : '1d');
  }

  private limitEntities(): void {
    const source = this.source.value;
    for (const group of this.entity.querySelectorAll('optgroup')) {
      group.disabled = source !== '' && group.dataset.source !== source;
      if (group.disabled) for (const option of group.querySelectorAll('option')) option.selected = false;
    }
  }

  read(sort: string): Question {
    return {
      mode: this.mode(),
      source: this.source.value,
      window: this.window.value || DEFAULT_WINDOW,
      interval: this.interval.value || '1d',
      entities: this.selectedEntities(),
      assets: splitList(this.asset.value),
      chain: this.chain.value,
      sort,
      limit: Number(this.limit.value) || 25,
    };
  }

  /** The field a problem's `param` names, if the form has one. */
  fieldFor(param: string | undefined): HTMLElement | undefined {
    const fields: Record<string, HTMLElement> = {
      source: this.source,
      window: this.window,
      interval: this.interval,
      entity: this.entity,
      asset: this.asset,
      chain: this.chain,
      limit: this.limit,
    };
    return param ? fields[param] : undefined;
  }

  private selectedEntities(): string[] {
    return [...this.entity.selectedOptions].map((o) => o.value);
  }
}

function entityGroups(catalog: Catalog | undefined, chosen: Set<string>): HTMLOptGroupElement[] {
  const bySource = new Map<string, HTMLOptionElement[]>();
  for (const e of catalog?.entities ?? []) {
    const option = el('option', { value: e.entity, selected: chosen.has(e.entity) }, `${e.name} (${e.entity})`);
    bySource.set(e.source, [...(bySource.get(e.source) ?? []), option]);
  }
  return [...bySource].map(([source, options]) =>
    el('optgroup', { label: source === 'nansen' ? 'Smart money (Nansen)' : `Exchanges (${nameOf(source)})`, 'data-source': source }, ...options),
  );
}

function nameOf(source: string): string {
  return SOURCE_NAMES[source] ?? source;
}

function union(lists: readonly string[][]): string[] {
  return [...new Set(lists.flat())];
}

function sortBy(values: string[], order: readonly string[]): string[] {
  const rank = (v: string) => (order.includes(v) ? order.indexOf(v) : order.length);
  return [...values].sort((a, b) => rank(a) - rank(b));
}

function restore(select: HTMLSelectElement, value: string): void {
  if ([...select.options].some((o) => o.value === value && !o.disabled)) select.value = value;
}
