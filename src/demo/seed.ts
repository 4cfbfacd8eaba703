import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { History } from '../history/history.js';
import { COHORT_BY_ENTITY } from '../providers/nansen/catalog.js';
import type { NetflowRequestBody } from '../providers/nansen/client.js';
import type { RecordSet } from '../providers/nansen/config.js';
import { snapshotOf } from '../providers/nansen/history.js';
import { decodeNetflowRows } from '../providers/nansen/normalize.js';
import { toUpstreamBody } from '../providers/nansen/provider.js';
import { recorderQuery, RECORDER_PER_PAGE } from '../providers/nansen/recorder.js';
import { HOUR_MS } from '../time.js';
import { queryNetflows } from './sim/nansen-query.js';
import { parseNetflowRequest } from './sim/nansen-request.js';

export interface Seeded {
  snapshots: number;
  rows: number;
  /** First and last snapshot time (ms). */
  from: number;
  to: number;
  /** The token the latest snapshot of the first set ranks first: one with a row in every hour. */
  topSymbol: string | undefined;
}

/** Hours written between two waits for the store, so the queue holds one day's rows at most. */
const HOURS_PER_FLUSH = 24;

/**
 * The demo's history: for each of the last `days` × 24 hour starts up to now, the snapshot
 * the simulator would have answered the recorder's sets then (its data is a function of
 * the hour), newest first, built by the simulator's own query function and the gateway's own decoding,
 * and recorded as the recorder would have recorded it. No HTTP call, no credit. Snapshots
 * already held (an earlier demo run) are kept once. It yields between hours, so the
 * gateway serves while it seeds.
 */
export async function seedHistory(history: History, sets: readonly RecordSet[], now: number, days = 14): Promise<Seeded> {
  const bodies = sets.map((set) => ({ ...toUpstreamBody(recorderQuery(set), COHORT_BY_ENTITY.get(set.entity)!), pagination: { page: 1, per_page: RECORDER_PER_PAGE } }));
  const to = Math.floor(now / HOUR_MS) * HOUR_MS;
  const from = to - (days * 24 - 1) * HOUR_MS;
  const seeded: Seeded = { snapshots: 0, rows: 0, from, to, topSymbol: undefined };
  // Newest first: the explorer's 48-hour chart has its data within the first two flushes.
  for (let hour = to; hour >= from; hour -= HOUR_MS) {
    for (const [i, body] of bodies.entries()) {
      const { tokens, isLastPage } = simulatedPage(body, hour);
      const snapshot = snapshotOf(body, { tokens, isLastPage, fetchedAt: hour });
      if (!snapshot || !history.recordNansen(snapshot)) continue;
      seeded.snapshots++;
      seeded.rows += tokens.length;
      if (i === 0 && hour === to) seeded.topSymbol = tokens[0]?.symbol;
    }
    if ((to - hour) / HOUR_MS % HOURS_PER_FLUSH === HOURS_PER_FLUSH - 1) await history.flush();
    await yieldToRequests();
  }
  await history.flush();
  return seeded;
}

/** What the simulator answers `body` at `hour`, decoded as the gateway decodes an upstream page. */
function simulatedPage(body: NetflowRequestBody, hour: number) {
  const parsed = parseNetflowRequest(JSON.stringify(body));
  if (!parsed.ok) throw new Error(`the simulator refuses the recorder's question: ${JSON.stringify(parsed.issues)}`);
  const page = queryNetflows(parsed.query, hour);
  return { tokens: decodeNetflowRows(page.data), isLastPage: page.pagination.is_last_page };
}
