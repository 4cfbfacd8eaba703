import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startCoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { startGateway } from '../processes.js';

describe('a gateway without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('loads no tracing module and subscribes nothing on the request path', async () => {
    const cm = await startCoinMetricsSim({ apiKey: 'cm-untraced-key' });
    const probeFile = join(mkdtempSync(join(tmpdir(), 'trace-probe-')), 'probe.json');
    const gateway = await startGateway({ COINMETRICS_API_KEY: 'cm-untraced-key', COINMETRICS_BASE_URL: cm.url, TRACE_PROBE_FILE: probeFile }, ['./test/tracing/probe.ts']);
    try {
      for (let i = 0; i < 2; i++) {
        const response = await request(`${gateway.base}/netflows?source=coinmetrics&limit=2`, { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
        expect(response.statusCode).toBe(200);
        await response.body.dump();
      }
    } finally {
      await gateway.stop();
      await cm.close();
    }
    const lines = gateway.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => 'trace_id' in line)).toEqual([]);
    expect(JSON.parse(readFileSync(probeFile, 'utf8'))).toEqual({ modules: [], channels: [] });
  }, 30_000);
});
