// The series chart: uPlot on a canvas, every source on one UTC time axis.

import uPlot from 'uplot';
import type { Aligned } from './series.js';

const HEIGHT = 320;
/** Okabe–Ito: told apart with the common colour-vision deficiencies. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const usd = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0, signDisplay: 'exceptZero' });

export class SeriesChart {
  private plot: uPlot | undefined;

  /** `box` sets the width (it follows the window); the chart goes into `holder`, which carries `data-points`. */
  constructor(
    private readonly box: HTMLElement,
    private readonly holder: HTMLElement,
  ) {
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(box);
  }

  draw(aligned: Aligned): void {
    this.clear();
    this.holder.dataset.points = String(aligned.points);
    this.holder.dataset.lines = String(aligned.lines.length);
    if (aligned.points === 0) return;
    const options: uPlot.Options = {
      width: this.width(),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true } },
      series: [
        { label: 'UTC' },
        ...aligned.lines.map((line, i) => ({
          label: `${line.label}, ${line.source}`,
          stroke: COLOURS[i % COLOURS.length],
          width: 1.5,
          // Nansen dashed, so the two sources read apart even in one colour.
          dash: line.source === 'nansen' ? [6, 3] : undefined,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? 'no value' : `${usd.format(v)} USD`),
        })),
      ],
      axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((t) => compact.format(t)), label: 'net flow, USD' }],
      legend: { live: false },
    };
    this.plot = new uPlot(options, [aligned.times, ...aligned.lines.map((l) => l.values)], this.holder);
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.holder.dataset.points = '0';
    this.holder.dataset.lines = '0';
  }

  private width(): number {
    return Math.max(240, Math.floor(this.box.clientWidth));
  }
}
