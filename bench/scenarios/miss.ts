// (e) a miss at one connection: the gateway's p50 minus the simulator's own, and the
// gateway's CPU per miss; (f) 100 concurrent identical cold requests make one upstream call.
import { Pool } from 'undici';
import { BenchError, guard, startChild, stopChild, type Child } from '../lib/children.js';
import { control, counts, getOk, resetCounts, stats, type NetflowsBody } from '../lib/http.js';
import { othersMeter, treesCpuSeconds } from '../lib/proc.js';
import { policy, S } from '../lib/settings.js';
import { chooseRounds, describeRounds, median, percentile } from '../lib/stats.js';

interface NansenBody {
  filters?: { market_cap_usd?: { min?: number; max?: number } } & Record<string, unknown>;
  pagination?: { page: number; per_page: number };
}

/** The exact upstream body the gateway sends for a (e) question, learnt from the simulator, to replay it directly. */
async function upstreamTemplate(gateway: Child, sims: Child, gatewayPath: string, headers: Record<string, string>): Promise<NansenBody> {
  await getOk(`${gateway.origin}${gatewayPath}`, '(e) template', headers);
  const template = JSON.parse((await getOk(`${control(sims)}/last-nansen-body`, '(e) template')).text) as NansenBody | null;
  if (!template?.filters?.market_cap_usd || template.pagination?.per_page !== 100) {
    throw new BenchError(`(e): unexpected upstream body from the gateway: ${JSON.stringify(template)}`);
  }
  return template;
}

/**
 * `gateway` reaches its upstreams in the `sims` process (latency S.simLatencyMs), which is
 * also called directly, so the gateway's process holds nothing but the gateway: its CPU per
 * miss is read from /proc. A bare node:http proxy (bench/target.ts `proxy`) makes the same
 * upstream call with no work around it: the floor of any Node gateway's hop on this machine.
 */
export async function scenarioE(gateway: Child, sims: Child, headers: Record<string, string>) {
  // A distinct lower market-cap bound per request: a new upstream question (a guaranteed miss
  // at every cache level) that filters nothing, so every answer still has 100 rows.
  let n = 0;
  const nextMin = () => ++n / 1000;
  const gatewayPath = (min: number) => `/netflows?source=nansen&limit=100&min_market_cap_usd=${min}`;
  const template = await upstreamTemplate(gateway, sims, gatewayPath(nextMin()), headers);
  const simBody = (min: number) => JSON.stringify({ ...template, filters: { ...template.filters, market_cap_usd: { min } } });
  const upstreams = sims.upstreams!;
  const nansen = new URL(upstreams.nansenUrl);

  const proxy = await startChild('proxy (e)', 'proxy', { BENCH_UPSTREAMS: JSON.stringify(upstreams), BENCH_PROXY_BODY: JSON.stringify(template) });
  const gatewayPool = new Pool(gateway.origin, { connections: 1, pipelining: 1 });
  const simPool = new Pool(nansen.origin, { connections: 1, pipelining: 1 });
  const proxyPool = new Pool(proxy.origin, { connections: 1, pipelining: 1 });
  const gatewayUs: number[] = [];
  const simUs: number[] = [];
  const proxyUs: number[] = [];

  const viaGateway = async (record: boolean) => {
    const t0 = process.hrtime.bigint();
    const res = await gatewayPool.request({ path: gatewayPath(nextMin()), method: 'GET', headers });
    const text = await res.body.text();
    const t1 = process.hrtime.bigint();
    if (res.statusCode !== 200) throw new BenchError(`(e): gateway answered ${res.statusCode}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as NetflowsBody;
    if (body.data.length !== 100) throw new BenchError(`(e): gateway answered ${body.data.length} rows instead of 100`);
    if (body.sources.some((s) => s.cache !== null && s.cache !== 'miss')) throw new BenchError(`(e): not a miss: ${JSON.stringify(body.sources)}`);
    if (record) gatewayUs.push(Number(t1 - t0) / 1000);
  };
  const direct = async (record: boolean) => {
    const payload = simBody(nextMin());
    const t0 = process.hrtime.bigint();
    const res = await simPool.request({
      path: `${nansen.pathname.replace(/\/$/, '')}/api/v1/smart-money/netflow`,
      method: 'POST',
      headers: { apikey: upstreams.nansenKey, 'content-type': 'application/json', accept: 'application/json' },
      body: payload,
    });
    const text = await res.body.text();
    const t1 = process.hrtime.bigint();
    if (res.statusCode !== 200) throw new BenchError(`(e): simulator answered ${res.statusCode}: ${text.slice(0, 300)}`);
    const rows = (JSON.parse(text) as { data?: unknown[] }).data;
    if (rows?.length !== 100) throw new BenchError(`(e): simulator answered ${rows?.length} rows instead of 100`);
    if (record) simUs.push(Number(t1 - t0) / 1000);
  };
  const viaProxy = async (record: boolean) => {
    const t0 = process.hrtime.bigint();
    const res = await proxyPool.request({ path: '/', method: 'GET' });
    const text = await res.body.text();
    const t1 = process.hrtime.bigint();
    if (res.statusCode !== 200) throw new BenchError(`(e): the bare proxy answered ${res.statusCode}: ${text.slice(0, 300)}`);
    if (record) proxyUs.push(Number(t1 - t0) / 1000);
  };

  try {
    for (let i = 0; i < 10; i++) {
      await guard(viaGateway(false));
      await guard(direct(false));
      await guard(viaProxy(false));
    }
    await resetCounts(sims);
    const rounds = policy(S.missRounds);
    const perRound: { gatewayUs: number[]; simUs: number[]; proxyUs: number[]; gatewayP50Us: number; simP50Us: number; gatewayCpuUs: number | null; others: number | null }[] = [];
    for (let round = 0; round < S.missRounds; round++) {
      const g0 = gatewayUs.length;
      const s0 = simUs.length;
      const p0 = proxyUs.length;
      const others = othersMeter();
      let gatewayCpuS: number | null = 0;
      const gatewayBlock = async () => {
        const cpu0 = treesCpuSeconds(gateway.pids);
        for (let i = 0; i < S.missPerRound; i++) await guard(viaGateway(true));
        const cpu1 = treesCpuSeconds(gateway.pids);
        gatewayCpuS = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null;
      };
      const directBlock = async () => {
        for (let i = 0; i < S.missPerRound; i++) await guard(direct(true));
      };
      const proxyBlock = async () => {
        for (let i = 0; i < S.missPerRound; i++) await guard(viaProxy(true));
      };
      for (const block of round % 2 === 0 ? [gatewayBlock, directBlock, proxyBlock] : [proxyBlock, directBlock, gatewayBlock]) await block();
      const g = gatewayUs.slice(g0);
      const sim = simUs.slice(s0);
      perRound.push({
        gatewayUs: g,
        simUs: sim,
        proxyUs: proxyUs.slice(p0),
        gatewayP50Us: percentile(Float64Array.from(g), 0.5),
        simP50Us: percentile(Float64Array.from(sim), 0.5),
        gatewayCpuUs: gatewayCpuS === null ? null : (gatewayCpuS * 1e6) / S.missPerRound,
        others: others(),
      });
    }
    const choice = chooseRounds(rounds, perRound);
    const usedGateway = Float64Array.from(choice.used.flatMap((r) => r.gatewayUs));
    const usedSim = Float64Array.from(choice.used.flatMap((r) => r.simUs));
    const usedProxy = Float64Array.from(choice.used.flatMap((r) => r.proxyUs));
    const upstreamCalls = (await counts(sims)).nansen;
    // The direct and proxied calls reached the same simulator: each gateway miss must have made exactly one call on top.
    if (upstreamCalls !== gatewayUs.length + simUs.length + proxyUs.length) {
      throw new BenchError(`(e): ${gatewayUs.length} gateway misses, ${simUs.length} direct and ${proxyUs.length} proxied calls made ${upstreamCalls} Nansen calls; each must make exactly one`);
    }
    const gatewayP50Us = percentile(usedGateway, 0.5);
    const simP50Us = percentile(usedSim, 0.5);
    const cpus = choice.used.map((r) => r.gatewayCpuUs).filter((x): x is number => x !== null);
    return {
      gatewayP50Ms: gatewayP50Us / 1000,
      simP50Ms: simP50Us / 1000,
      gatewayP99Ms: percentile(usedGateway, 0.99) / 1000,
      simP99Ms: percentile(usedSim, 0.99) / 1000,
      addedMs: (gatewayP50Us - simP50Us) / 1000,
      /** The bare proxy's p50 − the simulator's: what one Node hop costs here with no work in it. */
      proxyAddedMs: (percentile(usedProxy, 0.5) - simP50Us) / 1000,
      addedPerRoundMs: perRound.map((r) => (r.gatewayP50Us - r.simP50Us) / 1000),
      /** The gateway process's CPU per miss (µs, /proc; 10 ms ticks over S.missPerRound misses, median of rounds). */
      gatewayCpuUsPerMiss: cpus.length > 0 ? median(cpus) : null,
      samplesEach: usedGateway.length,
      rounds: describeRounds(rounds, choice, perRound.length),
      quietOnly: choice.quietOnly,
      othersPerRound: perRound.map((r) => r.others),
      /** Inside the gateway: p50s of onRequest→onResponse, of the upstream wait within it, and of the rest. */
      inGateway: (await stats(gateway)).trace ?? null,
    };
  } finally {
    await Promise.all([gatewayPool.close(), simPool.close(), proxyPool.close()]);
    await stopChild(proxy);
  }
}

export type MissResult = Awaited<ReturnType<typeof scenarioE>>;

/** (f): 100 identical cold questions at once; `upstreams` is the process whose simulators count the calls. */
export async function scenarioF(gateway: Child, upstreams: Child, pathAndQuery: string, headers: Record<string, string>) {
  await resetCounts(upstreams);
  const pool = new Pool(gateway.origin, { connections: 100, pipelining: 1 });
  try {
    const answers = await guard(
      Promise.all(
        Array.from({ length: 100 }, async () => {
          const res = await pool.request({ path: pathAndQuery, method: 'GET', headers });
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new BenchError(`(f): ${pathAndQuery} answered ${res.statusCode}: ${text.slice(0, 300)}`);
          return String(res.headers['cache-status'] ?? '');
        }),
      ),
    );
    const c = await counts(upstreams);
    const joinedMiss = answers.filter((h) => h.includes('fwd=uri-miss')).length;
    return { cmCalls: c.cm, nansenCalls: c.nansen, coalescedMisses: joinedMiss, hits: answers.length - joinedMiss };
  } finally {
    await pool.close();
  }
}

export type ColdResult = Awaited<ReturnType<typeof scenarioF>>;
