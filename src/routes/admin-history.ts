import type { FastifyPluginAsync } from 'fastify';
import type { CallerToken } from '../auth/callers.js';
import { operatorGuard } from '../auth/guard.js';
import type { History } from '../history/history.js';
import type { Recorder } from '../history/recorder.js';
import type { RecorderRun } from '../history/recorder-store.js';
import { problemResponses } from '../schema/index.js';
import type { Secret } from '../secret.js';
import { rfc3339, utcDayStart, type Clock } from '../time.js';

export interface AdminHistoryOptions {
  adminToken: Secret;
  callers: readonly CallerToken[];
  /** Undefined with HISTORY=off. */
  history: History | undefined;
  recorder: Recorder | undefined;
  retentionDays: number;
  clock: Clock;
}

/** Runs shown: the latest of every replica's, from the store. */
const LAST_RUNS = 24;

const time = { type: ['string', 'null'], format: 'date-time' } as const;
const runSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['hour', 'source', 'set', 'outcome', 'reason', 'credits', 'rows', 'started_at', 'finished_at', 'replica'],
  properties: {
    hour: { type: 'string', format: 'date-time' },
    source: { type: 'string' },
    set: { type: 'string', description: 'As configured, e.g. smart_money@all.' },
    outcome: { type: 'string', enum: ['recorded', 'skipped', 'failed'] },
    reason: { type: ['string', 'null'], description: 'Why the set was skipped or failed.' },
    credits: { type: 'integer' },
    rows: { type: 'integer' },
    started_at: { type: 'string', format: 'date-time' },
    finished_at: { type: 'string', format: 'date-time' },
    replica: { type: 'string', description: 'Host and process of the replica that ran it.' },
  },
} as const;

const historySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state', 'store', 'retention_days', 'sources', 'writes', 'recorder'],
  properties: {
    state: { type: 'string', enum: ['off', 'opening', 'ready', 'failed', 'closed'], description: 'off: HISTORY=off; opening: the store is being opened or reached (history reads answer 503).' },
    store: {
      type: ['object', 'null'],
      additionalProperties: false,
      description: 'Where history is kept (never a password); null while it is being opened, or with HISTORY=off.',
      properties: { kind: { type: 'string', enum: ['postgresql', 'embedded'] }, host: { type: 'string' }, port: { type: 'integer' }, database: { type: 'string' }, dir: { type: 'string' } },
    },
    retention_days: { type: ['integer', 'null'] },
    sources: {
      type: 'array',
      description: 'Per source, what the store holds; empty while the store cannot answer.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'rows', 'rows_estimated', 'bytes', 'earliest', 'latest'],
        properties: {
          source: { type: 'string' },
          rows: { type: 'integer', description: 'Exact up to 100 000, the planner\'s estimate above.' },
          rows_estimated: { type: 'boolean' },
          bytes: { type: 'integer', description: 'On disk, indexes included.' },
          earliest: { ...time, description: 'Earliest recorded time: a snapshot time (Nansen) or a day (Coin Metrics).' },
          latest: time,
        },
      },
    },
    writes: {
      type: 'object',
      additionalProperties: false,
      required: ['queued_rows', 'queued_items', 'written_rows', 'stored_rows', 'dropped_rows', 'failed_attempts', 'last_write_ms'],
      description: 'Since this replica started: rows waiting, written in committed batches, new to the store, dropped (queue full, refused, or left at shutdown).',
      properties: {
        queued_rows: { type: 'integer' },
        queued_items: { type: 'integer' },
        written_rows: { type: 'integer' },
        stored_rows: { type: 'integer' },
        dropped_rows: { type: 'integer' },
        failed_attempts: { type: 'integer' },
        last_write_ms: { type: ['number', 'null'] },
      },
    },
    recorder: {
      type: 'array',
      description: 'Per source with recorder sets (NANSEN_RECORD).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'sets', 'daily_credits', 'credits_spent_today', 'last_runs'],
        properties: {
          source: { type: 'string' },
          sets: { type: 'array', items: { type: 'string' } },
          daily_credits: { type: ['integer', 'null'], description: 'The recorder\'s own daily cap (NANSEN_RECORD_DAILY_CREDITS); null: none of its own.' },
          credits_spent_today: { type: ['integer', 'null'], description: 'By every replica this UTC day, from the store; null while the store cannot answer.' },
          last_runs: { type: 'array', items: runSchema, description: 'The latest runs of every replica, newest hour first (this replica\'s own while the store cannot answer).' },
        },
      },
    },
  },
} as const;

/** /admin/history: registered only when an admin token is configured, behind the same guard as /admin/budgets. */
export const adminHistoryRoute: FastifyPluginAsync<AdminHistoryOptions> = async (app, options) => {
  app.get(
    '/admin/history',
    {
      schema: {
        summary: 'Where history is kept, what it holds, its writes and the recorder (admin token only)',
        operationId: 'getAdminHistory',
        tags: ['admin'],
        security: [{ bearer: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: { description: 'History now.', ...historySchema }, 400: problemResponses[400], 401: problemResponses[401], 403: problemResponses[403], 404: problemResponses[404] },
      },
      onRequest: operatorGuard([options.adminToken], options.callers, {
        forbidden: 'admin routes need the admin token',
        unauthenticated: 'admin routes need Authorization: Bearer <admin token>',
        realm: 'netflows-admin',
      }),
    },
    () => historyReport(options),
  );
};

async function historyReport({ history, recorder, retentionDays, clock }: AdminHistoryOptions) {
  if (!history) return { state: 'off', store: null, retention_days: null, sources: [], writes: writesOf(undefined), recorder: [] };
  const stats = await history.stats();
  return {
    state: stats.state,
    store: stats.location ?? null,
    retention_days: retentionDays,
    sources: Object.entries(stats.sources ?? {}).map(([source, s]) => ({
      source,
      rows: s.rows,
      rows_estimated: s.rowsEstimated,
      bytes: Math.round(s.bytes),
      earliest: s.earliest === null ? null : rfc3339(s.earliest),
      latest: s.latest === null ? null : rfc3339(s.latest),
    })),
    writes: writesOf(history),
    recorder: recorder ? await recorderReport(history, recorder, clock()) : [],
  };
}

function writesOf(history: History | undefined) {
  const w = history?.writeCounters;
  return {
    queued_rows: w?.queuedRows ?? 0,
    queued_items: w?.queuedItems ?? 0,
    written_rows: w?.writtenRows ?? 0,
    stored_rows: w?.storedRows ?? 0,
    dropped_rows: w?.droppedRows ?? 0,
    failed_attempts: w?.failedAttempts ?? 0,
    last_write_ms: w?.lastWriteMs ?? null,
  };
}

/** Per source: its sets, its own cap, what every replica spent today and the latest runs, from the store when it answers. */
async function recorderReport(history: History, recorder: Recorder, now: number) {
  const stored = await history.recorderRuns(LAST_RUNS).catch(() => undefined);
  return Promise.all(
    recorder.recordings.map(async ({ source, recording }) => ({
      source,
      sets: recording.sets.map((s) => s.name),
      daily_credits: recording.dailyCredits ?? null,
      credits_spent_today: await history.recorderCredits(source, utcDayStart(now)).catch(() => null),
      last_runs: (stored ?? recorder.lastRuns).filter((r) => r.source === source).map(runOut),
    })),
  );
}

function runOut(run: RecorderRun) {
  return {
    hour: rfc3339(run.hour),
    source: run.source,
    set: run.set,
    outcome: run.outcome,
    reason: run.reason,
    credits: run.credits,
    rows: run.rows,
    started_at: rfc3339(run.startedAt),
    finished_at: rfc3339(run.finishedAt),
    replica: run.replica,
  };
}
