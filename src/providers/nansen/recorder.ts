import type { NetflowsQuery, Recording } from '../../model.js';
import { NANSEN_CREDITS_PER_CALL } from './client.js';
import { recordSetName, type NansenConfig, type RecordSet } from './config.js';

/** The recorder reads one page of this many tokens per set and hour. */
export const RECORDER_PER_PAGE = 1000;

/**
 * The question a recorder set asks: its cohort's default leaderboard (24h, by net flow,
 * descending) on its chain, as a caller's `?window=24h&entity=…&chain=…` would. So its
 * snapshots answer that question's `as_of` too, and every hourly and daily series.
 */
export function recorderQuery(set: RecordSet): NetflowsQuery {
  return {
    mode: 'snapshot',
    window: '24h',
    asOf: undefined,
    interval: '1d',
    start: 0,
    end: 0,
    sources: ['nansen'],
    assets: undefined,
    entities: [set.entity],
    chains: set.chain === 'all' ? undefined : [set.chain],
    sourceParams: {},
    sort: [{ field: 'net_flow_usd', descending: true }],
    limit: RECORDER_PER_PAGE,
    offset: 0,
  };
}

/** NANSEN_RECORD as the history's hourly recording; none without sets. `fetchSet` fetches one set now and records it. */
export function recordingOf(
  config: Pick<NansenConfig, 'recordSets' | 'recordDailyCredits'>,
  fetchSet: (set: RecordSet, signal: AbortSignal) => Promise<{ rows: number; credits: number }>,
): Recording | undefined {
  if (config.recordSets.length === 0) return undefined;
  return {
    dailyCredits: config.recordDailyCredits,
    creditsPerSet: NANSEN_CREDITS_PER_CALL,
    sets: config.recordSets.map((set) => ({ name: recordSetName(set), record: (signal: AbortSignal) => fetchSet(set, signal) })),
  };
}
