// The chart the page opens with: smart money's hourly net flows of the tokens it bought most
// in the last day, from the snapshots the gateway records (Nansen itself keeps no history).

import { getJson, type Problem } from './api.js';
import type { SeriesChart } from './chart.js';
import type { Catalog, NetflowsAnswer } from './model.js';
import { alignSeries } from './series.js';

/** Tokens on the opening chart: more lines than this stop reading as lines. */
const TOP_TOKENS = 5;

export type Outcome = { drawn: true; assets: string[]; hours: number } | { drawn: false; why: string };

/** Draws the chart, or says in words why there is none. Without a catalog (a 401) nothing is asked. */
export async function showSmartMoney(chart: SeriesChart, summary: HTMLElement, catalog: Catalog | undefined, token: string): Promise<Outcome> {
  chart.clear();
  const outcome = catalog ? (unanswerable(catalog) ?? (await drawTopTokens(chart, token))) : { drawn: false as const, why: 'the catalog did not answer.' };
  summary.textContent = outcome.drawn
    ? `Smart money's hourly net flow over the last 48 hours of ${outcome.assets.join(', ')}: the tokens it bought most in the last 24 hours (${outcome.hours} recorded hours).`
    : `No smart-money chart: ${outcome.why}`;
  return outcome;
}

/** Why this gateway cannot draw the chart, as its catalog says: Nansen off, or no history kept. */
function unanswerable(catalog: Catalog): Outcome | undefined {
  const nansen = catalog.sources.find((s) => s.source === 'nansen');
  if (!nansen?.enabled) return { drawn: false, why: `Nansen is off on this gateway (${nansen?.detail ?? 'not configured'}).` };
  if (!catalog.intervals.nansen?.includes('1h')) return { drawn: false, why: 'this gateway records no history, and Nansen itself keeps none: hourly series come from the snapshots a gateway records.' };
  return undefined;
}

async function drawTopTokens(chart: SeriesChart, token: string): Promise<Outcome> {
  const top = await getJson<NetflowsAnswer>(`/netflows?source=nansen&window=24h&limit=${TOP_TOKENS}`, token);
  if (!top.ok) return { drawn: false, why: inWords(top.problem) };
  const assets = [...new Set(top.body.data.map((row) => row.asset))];
  if (assets.length === 0) return { drawn: false, why: 'Nansen answered no tokens.' };
  const series = await getJson<NetflowsAnswer>(`/netflows?source=nansen&interval=1h&asset=${assets.map(encodeURIComponent).join(',')}&limit=1000`, token);
  if (!series.ok) return { drawn: false, why: inWords(series.problem) };
  const aligned = alignSeries(series.body.data);
  if (aligned.points === 0) return { drawn: false, why: 'the gateway has recorded no hourly snapshot of them yet.' };
  chart.draw(aligned);
  return { drawn: true, assets, hours: aligned.times.length };
}

function inWords(problem: Problem): string {
  return `${problem.title}${problem.status > 0 ? ` (${problem.status})` : ''}: ${problem.detail}`;
}
