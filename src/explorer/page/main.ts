// The explorer: pick a question, see the leaderboard or the series, copy the same question as
// curl or as a Grafana URL. It calls only /catalog and /netflows of the gateway that served it.

import 'uplot/dist/uPlot.min.css';
import './explorer.css';
import { getJson, type Problem } from './api.js';
import { SeriesChart } from './chart.js';
import { byId } from './dom.js';
import { renderLeaderboard } from './leaderboard.js';
import { clearProblem, showProblem, showStatus } from './messages.js';
import type { Catalog, NetflowRecord, NetflowsAnswer } from './model.js';
import { Pickers } from './pickers.js';
import { curlLine, grafanaUrl, netflowsPath, type Question } from './question.js';
import { alignSeries } from './series.js';
import { showSmartMoney } from './smart-money.js';

/** Session storage only: gone with the tab, never in the URL or local storage. */
const TOKEN_KEY = 'netflows-explorer.token';
/** A series longer than this many pages of 1000 rows is cut, and the page says so. */
const MAX_SERIES_PAGES = 10;

const pickers = new Pickers();
const results = byId('results');
const problemBox = byId('problem');
const statusBox = byId('status');
const table = byId<HTMLTableElement>('leaderboard');
const nextPage = byId<HTMLButtonElement>('next-page');
const chartHolder = byId('chart');
const chartSummary = byId('chart-summary');
const chart = new SeriesChart(byId('series-section'), chartHolder);
const smartMoney = byId('smart-money');
const smartMoneyChart = new SeriesChart(smartMoney, byId('smart-money-chart'));
const tokenInput = byId<HTMLInputElement>('token');
const curlBox = byId<HTMLTextAreaElement>('curl');
const grafanaBox = byId<HTMLTextAreaElement>('grafana');

let sort = '';
/** Each run gets a number; an answer to an older run is dropped. */
let runs = 0;

async function loadCatalog(): Promise<Catalog | undefined> {
  const answer = await getJson<Catalog>('/catalog', token());
  if (answer.ok) {
    pickers.fill(answer.body);
    return answer.body;
  }
  pickers.fill(undefined);
  showProblem(problemBox, 'Catalog', answer.problem);
  return undefined;
}

async function run(cursor?: string): Promise<void> {
  const id = ++runs;
  const question = pickers.read(sort);
  clearProblem(problemBox);
  for (const field of document.querySelectorAll('[aria-invalid]')) field.removeAttribute('aria-invalid');
  curlBox.value = curlLine(location.origin, question, token() !== '');
  grafanaBox.value = grafanaUrl(location.origin, question);
  byId('leaderboard-section').hidden = question.mode !== 'snapshot';
  byId('series-section').hidden = question.mode !== 'series';
  results.dataset.state = 'loading';
  const ok = question.mode === 'snapshot' ? await showLeaderboard(id, question, cursor) : await showSeries(id, question);
  if (id === runs) results.dataset.state = ok ? 'done' : 'problem';
}

async function showLeaderboard(id: number, question: Question, cursor: string | undefined): Promise<boolean> {
  const answer = await getJson<NetflowsAnswer>(netflowsPath(question, cursor), token());
  if (id !== runs) return false;
  if (!answer.ok) return failed('Leaderboard', answer.problem);
  renderLeaderboard(table, answer.body.data, sort, (next) => {
    sort = next;
    void run();
  });
  showStatus(statusBox, answer.body, answer.body.data.length, answer.body.next_cursor !== null);
  nextPage.hidden = answer.body.next_cursor === null;
  nextPage.dataset.cursor = answer.body.next_cursor ?? '';
  return true;
}

async function showSeries(id: number, question: Question): Promise<boolean> {
  chart.clear();
  if (question.assets.length === 0) {
    chartSummary.textContent = 'Pick at least one asset: the chart draws one line per entity and asset.';
    return false;
  }
  const rows: NetflowRecord[] = [];
  let cursor: string | undefined;
  let last: NetflowsAnswer | undefined;
  for (let page = 0; page < MAX_SERIES_PAGES && (page === 0 || cursor); page++) {
    const answer = await getJson<NetflowsAnswer>(netflowsPath(question, cursor), token());
    if (id !== runs) return false;
    if (!answer.ok) return failed('Series', answer.problem, seriesNote(question, answer.problem));
    rows.push(...answer.body.data);
    last = answer.body;
    cursor = answer.body.next_cursor ?? undefined;
  }
  const aligned = alignSeries(rows);
  chart.draw(aligned);
  const span = aligned.times.length > 0 ? ` from ${isoMinute(aligned.times[0]!)} to ${isoMinute(aligned.times.at(-1)!)} UTC` : '';
  chartSummary.textContent = `${aligned.lines.length} lines, ${aligned.points} values${span}.${cursor ? ` Only the first ${rows.length} rows are drawn: narrow the question.` : ''}`;
  showStatus(statusBox, last!, rows.length, cursor !== undefined);
  return true;
}

/** The problem in words; the answer to the question before goes, lest it read as this one's. */
function failed(what: string, problem: Problem, note?: string): false {
  showProblem(problemBox, what, problem, note);
  statusBox.replaceChildren();
  table.replaceChildren(...(table.caption ? [table.caption] : []));
  nextPage.hidden = true;
  chart.clear();
  chartSummary.textContent = '';
  pickers.fieldFor(problem.param)?.setAttribute('aria-invalid', 'true');
  return false;
}

/** Nansen's hourly series come from the snapshots a gateway records; one without history refuses them. */
function seriesNote(question: Question, problem: Problem): string | undefined {
  if (question.interval !== '1h' || (problem.param !== 'interval' && problem.param !== 'source')) return undefined;
  return 'Nansen itself has no history: its hourly series come from the snapshots a gateway records, and this gateway does not answer them.';
}

function isoMinute(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

async function copy(box: HTMLTextAreaElement, what: string): Promise<void> {
  const note = byId('copy-note');
  try {
    await navigator.clipboard.writeText(box.value);
    note.textContent = `${what} copied.`;
  } catch {
    box.focus();
    box.select();
    note.textContent = `The browser did not allow copying; the ${what} is selected: press Ctrl+C.`;
  }
}

function wire(): void {
  tokenInput.value = token();
  byId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = tokenInput.value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    void refresh();
  });
  byId('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenInput.value = '';
  });
  pickers.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
  });
  for (const radio of pickers.form.querySelectorAll('input[name="mode"]')) radio.addEventListener('change', () => pickers.showMode());
  pickers.source.addEventListener('change', () => pickers.followSource());
  pickers.entity.addEventListener('change', () => pickers.suggestAssets());
  nextPage.addEventListener('click', () => void run(nextPage.dataset.cursor || undefined));
  byId('copy-curl').addEventListener('click', () => void copy(curlBox, 'curl line'));
  byId('copy-grafana').addEventListener('click', () => void copy(grafanaBox, 'Grafana URL'));
}

/** The catalog (it needs the token too when caller tokens are on), then the question and the smart-money chart. */
async function refresh(): Promise<void> {
  results.dataset.state = 'loading';
  smartMoney.dataset.state = 'loading';
  const catalog = await loadCatalog();
  await Promise.all([run(), drawSmartMoney(catalog)]);
}

async function drawSmartMoney(catalog: Catalog | undefined): Promise<void> {
  const outcome = await showSmartMoney(smartMoneyChart, byId('smart-money-summary'), catalog, token());
  smartMoney.dataset.state = outcome.drawn ? 'done' : 'problem';
}

wire();
pickers.showMode();
void refresh();
