// Rows of a series answer, aligned on one time axis for the chart. No DOM here.

export interface SeriesRow {
  source: string;
  entity: string;
  asset: string;
  chain: string | null;
  token_address: string | null;
  period_start: string;
  net_flow_usd: number | null;
}

export interface Line {
  source: string;
  label: string;
  /** One value per entry of `Aligned.times`; null where the series has no value then. */
  values: (number | null)[];
}

export interface Aligned {
  /** Period starts, Unix seconds, ascending: every source's periods on one axis (daily and hourly alike). */
  times: number[];
  lines: Line[];
  /** Values that are not null, over every line: what the chart draws. */
  points: number;
}

/** One line per source × entity × asset × chain × token, in the order they first appear. */
export function alignSeries(rows: readonly SeriesRow[]): Aligned {
  const times = [...new Set(rows.map((r) => Date.parse(r.period_start) / 1000))].sort((a, b) => a - b);
  const slot = new Map(times.map((t, i) => [t, i]));
  const lines = new Map<string, Line>();
  let points = 0;
  for (const row of rows) {
    const key = [row.source, row.entity, row.asset, row.chain ?? '', row.token_address ?? ''].join('|');
    let line = lines.get(key);
    if (!line) {
      line = { source: row.source, label: lineLabel(row), values: times.map(() => null) };
      lines.set(key, line);
    }
    line.values[slot.get(Date.parse(row.period_start) / 1000)!] = row.net_flow_usd;
    if (row.net_flow_usd !== null) points++;
  }
  return { times, lines: [...lines.values()], points };
}

function lineLabel(row: SeriesRow): string {
  return `${row.entity} ${row.asset}${row.chain ? ` (${row.chain})` : ''}`;
}
