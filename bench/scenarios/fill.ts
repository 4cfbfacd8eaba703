// (g) RSS after filling the cache to CACHE_MAX_MB with distinct questions.
import { Pool } from 'undici';
import { BenchError, guard, type Child } from '../lib/children.js';
import { control, counts, get, getOk, stats, type NetflowsBody } from '../lib/http.js';
import { S } from '../lib/settings.js';

const MB = 1024 * 1024;

export async function scenarioG(gateway: Child, sims: Child, headers: Record<string, string>) {
  const start = await stats(gateway);
  const bound = start.cacheMaxBytes;
  // Distinct upstream questions, alternating the sources: Nansen with a distinct lower
  // market-cap bound (up to 1000 tokens a page), Coin Metrics one exchange × one asset × one year.
  const exchanges = (JSON.parse((await getOk(`${gateway.origin}/catalog`, '(g) catalog', headers)).text) as { entities: { entity: string; entity_type: string }[] }).entities
    .filter((e) => e.entity_type === 'exchange')
    .map((e) => e.entity);
  const cmQuestions: string[] = [];
  for (const year of [2025, 2024, 2023, 2022, 2021, 2020, 2019]) {
    for (const asset of ['btc', 'eth']) {
      for (const entity of exchanges) cmQuestions.push(`/netflows?interval=1d&asset=${asset}&entity=${entity}&start=${year}-01-01&end=${year}-12-31&limit=1000`);
    }
  }
  let next = 0;
  let sent = 0;
  let stop = false;
  let rowsServed = 0;
  const question = (i: number) =>
    i % 2 === 0 || (i >> 1) >= cmQuestions.length
      ? `/netflows?source=nansen&limit=1000&window=7d&min_market_cap_usd=${(i + 1) / 1000}`
      : cmQuestions[i >> 1]!;
  const began = Date.now();
  const deadline = began + S.fillTimeoutS * 1000;
  let last = start;
  let fullSince: number | undefined;
  let reason = 'time limit';
  const pool = new Pool(gateway.origin, { connections: S.fillConcurrency, pipelining: 1 });
  const worker = async () => {
    while (!stop) {
      const i = next++;
      const res = await pool.request({ path: question(i), method: 'GET', headers });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new BenchError(`(g): ${question(i)} answered ${res.statusCode}: ${text.slice(0, 300)}`);
      rowsServed += (JSON.parse(text) as NetflowsBody).data.length;
      sent++;
    }
  };
  const monitor = async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 250));
      last = await stats(gateway);
      const now = Date.now();
      if (last.cacheBytes >= 0.9 * bound) fullSince ??= now;
      else fullSince = undefined;
      // Keep filling for 3 s past the first time the cache is ≥ 90 % full, so LRU eviction churns.
      if (fullSince !== undefined && now - fullSince >= 3_000) {
        reason = 'cache ≥ 90 % of its bound for 3 s';
        stop = true;
      }
      if (now > deadline) stop = true;
    }
  };
  try {
    await guard(Promise.all([monitor(), ...Array.from({ length: S.fillConcurrency }, worker)]));
  } finally {
    stop = true;
    await pool.close();
  }
  const end = await stats(gateway);
  const upstream = await counts(sims);
  // Then what is live and what is only not yet collected: a full GC (the child runs with
  // --expose-gc), a moment to settle, and the same numbers again.
  const gc = JSON.parse((await get(`${control(gateway)}/gc`, { method: 'POST' })).text) as { gc: boolean };
  await new Promise((r) => setTimeout(r, 1000));
  const afterGc = await stats(gateway);
  return {
    cacheMaxMb: end.cacheMaxMb,
    upstreamCacheBoundBytes: bound,
    cacheBytes: end.cacheBytes,
    cacheEntries: end.cacheEntries,
    fillRatio: end.cacheBytes / bound,
    requests: sent,
    rowsServed,
    upstreamCalls: { coinmetrics: upstream.cm, nansen: upstream.nansen },
    seconds: (Date.now() - began) / 1000,
    stoppedBecause: reason,
    rssStartMb: start.rss / MB,
    rssMb: end.rss / MB,
    maxRssMb: end.maxRss / MB,
    heapUsedMb: end.heapUsed / MB,
    heapTotalMb: end.heapTotal / MB,
    externalMb: end.external / MB,
    arrayBuffersMb: end.arrayBuffers / MB,
    afterGc: gc.gc ? { rssMb: afterGc.rss / MB, heapUsedMb: afterGc.heapUsed / MB, heapTotalMb: afterGc.heapTotal / MB, externalMb: afterGc.external / MB } : null,
  };
}

export type FillResult = Awaited<ReturnType<typeof scenarioG>>;
