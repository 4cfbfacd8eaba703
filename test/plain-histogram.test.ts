import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PlainHistogram } from '../src/plain-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const OBSERVED: [Record<'route' | 'method', string>, number][] = [
  [{ route: '/netflows', method: 'GET' }, 0.00007],
  [{ route: '/netflows', method: 'GET' }, 0.0005],
  [{ route: '/netflows', method: 'HEAD' }, 0.0031],
  [{ route: '/metrics', method: 'GET' }, 12.5],
  [{ route: '/netflows', method: 'GET' }, 45],
  [{ route: '/netflows', method: 'GET' }, 0.0123456789],
  [{ route: 'a "quoted"\\ route', method: 'GET' }, 0.2],
];

describe('PlainHistogram', () => {
  it('prints exactly what prom-client\'s Histogram prints for the same observations, through a child or not', async () => {
    const plainRegistry = new Registry();
    const promRegistry = new Registry();
    const help = 'Time to answer an HTTP request, by route template and method';
    const plain = new PlainHistogram('netflows_http_request_duration_seconds', help, ['route', 'method'] as const, BUCKETS, plainRegistry);
    const prom = new Histogram({ name: 'netflows_http_request_duration_seconds', help, labelNames: ['route', 'method'] as const, buckets: BUCKETS, registers: [promRegistry] });
    OBSERVED.forEach(([labels, value], i) => {
      if (i % 2 === 0) plain.observe(labels, value);
      else plain.child(labels).observe(value);
      prom.observe(labels, value);
    });
    const text = await plainRegistry.metrics();
    expect(text).toBe(await promRegistry.metrics());
    expect(text).toContain('netflows_http_request_duration_seconds_count{route="/netflows",method="GET"} 4');
    expect(await Registry.merge([plainRegistry]).metrics()).toBe(text);
    expect(() => plain.observe(OBSERVED[0]![0], Number.NaN)).toThrow(TypeError);
  });
});
