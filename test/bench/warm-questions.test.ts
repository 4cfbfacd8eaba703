import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distinctQuestions, growthQuestion, warmQuestion, type WarmData } from '../../bench/scenarios/questions.js';
import { GROWTH_POINTS, sample, warmUpData } from '../../bench/scenarios/warm.js';
import { parseNetflowsQuery, type RawQuery } from '../../src/netflows/query.js';
import { NOW, startStack, type Stack } from '../helpers.js';

/** The query of a path as Fastify hands it to the route. */
function rawQuery(pathAndQuery: string): RawQuery {
  const raw: RawQuery = {};
  for (const [name, value] of new URL(pathAndQuery, 'http://x').searchParams) {
    const held = raw[name];
    raw[name] = held === undefined ? value : [...(Array.isArray(held) ? held : [held]), value];
  }
  return raw;
}

// The bench's (w) and (s) figures claim to measure questions that are new (no kept answer
// serves them) and answered from held upstream data (no upstream call): both are checked here.
describe('the warm questions of the bench', () => {
  let stack: Stack;
  let origin: string;
  let data: WarmData;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'warm-questions-'));
    stack = await startStack({ nansen: { tokensPerChain: 170 } });
    await stack.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    data = await warmUpData(origin, {}, NOW);
  });
  afterAll(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds a full page of 1000 Nansen rows and three years of Coin Metrics days after the warm-up', () => {
    expect(data.nansenSymbols.length).toBeGreaterThan(900);
    expect((data.cmLastDay - data.cmFirstDay) / 86_400_000 + 1).toBe(3 * 366);
  });

  it('are different questions, not only different URLs: no two share a kept answer', () => {
    const generators = [warmQuestion, ...GROWTH_POINTS.map((p) => growthQuestion(p.days, p.limit))];
    for (const [i, generate] of generators.entries()) {
      const { file, list } = distinctQuestions(path.join(dir, `q${i}.txt`), 3000, i, data, generate);
      expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toEqual(list);
      const fingerprints = new Set(list.map((q) => parseNetflowsQuery(rawQuery(q), NOW).fingerprint));
      expect(fingerprints.size).toBe(list.length);
    }
  });

  it('are answered from the held data, with no upstream call', async () => {
    const calls = stack.cm.requests.length + stack.nansen.requests.length;
    const mix = distinctQuestions(path.join(dir, 'mix.txt'), 60, 7, data, warmQuestion).list;
    const mean = await sample(origin, {}, mix, 'mix');
    expect(mean.rows).toBeGreaterThan(10);
    for (const point of GROWTH_POINTS) {
      const questions = distinctQuestions(path.join(dir, `${point.key}.txt`), 5, 3, data, growthQuestion(point.days, point.limit)).list;
      expect((await sample(origin, {}, questions, point.key)).rows).toBe(point.limit);
    }
    expect(stack.cm.requests.length + stack.nansen.requests.length).toBe(calls);
  });
});
