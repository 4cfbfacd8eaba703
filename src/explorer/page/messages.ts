// Problems and source status in words.

import type { Problem } from './api.js';
import { el } from './dom.js';
import type { NetflowsAnswer, SourceStatus } from './model.js';

const HINTS: Record<number, string> = {
  401: 'Type a caller token above and choose "Use token".',
  429: 'This caller token has used its quota; try again later.',
};

/** `Invalid parameter (400): <detail>` and the parameter at fault, in an alert. */
export function showProblem(box: HTMLElement, what: string, problem: Problem, note?: string): void {
  const status = problem.status > 0 ? ` (${problem.status})` : '';
  const lines: (Node | string)[] = [el('strong', {}, `${what}: ${problem.title}${status}`), el('span', { class: 'detail' }, problem.detail)];
  if (problem.param) lines.push(el('span', { class: 'param' }, 'Parameter at fault: ', el('code', {}, problem.param)));
  const hint = note ?? HINTS[problem.status];
  if (hint) lines.push(el('span', {}, hint));
  box.replaceChildren(...lines.map((line) => el('p', {}, line)));
  box.hidden = false;
}

export function clearProblem(box: HTMLElement): void {
  box.replaceChildren();
  box.hidden = true;
}

/** One line per source (ok, stale, skipped or failed, and why) and every warning. */
export function showStatus(box: HTMLElement, answer: NetflowsAnswer, rows: number, more: boolean): void {
  const summary = `${rows} ${rows === 1 ? 'row' : 'rows'}${more ? ' (more on the next page)' : ''}; ${answer.complete ? 'complete' : 'incomplete: a source is stale or failed'}.`;
  const items = [
    ...answer.sources.map((s) => el('li', { 'data-source': s.source, 'data-status': s.status }, sourceLine(s))),
    ...answer.warnings.map((w) => el('li', { class: 'warning' }, `Warning: ${w}`)),
  ];
  box.replaceChildren(el('p', {}, summary), el('ul', {}, ...items));
}

function sourceLine(s: SourceStatus): string {
  const name = s.source === 'nansen' ? 'Nansen' : s.source === 'coinmetrics' ? 'Coin Metrics' : s.source;
  const asOf = s.as_of ? `, data as of ${s.as_of.replace('T', ' ').replace(/:00Z$|Z$/, '')} UTC` : '';
  const error = s.error ? `: ${s.error.detail}` : '';
  switch (s.status) {
    case 'ok':
      return `${name}: answered${s.cache ? ` (cache ${s.cache})` : ''}${asOf}.`;
    case 'stale':
      return `${name}: stale data from the cache${asOf}, because the upstream failed${error}.`;
    case 'skipped':
      return `${name}: skipped (not asked, or it cannot answer this question)${error}.`;
    case 'error':
      return `${name}: no data${error}.`;
  }
}
