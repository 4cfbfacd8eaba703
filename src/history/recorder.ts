import { UpstreamError } from '../errors.js';
import type { Recording, RecordingSet, SourceId } from '../model.js';
import { HOUR_MS, rfc3339, utcDayStart, type Clock, type Timer } from '../time.js';
import type { History, HistoryLogger } from './history.js';
import type { RecorderRun } from './recorder-store.js';

/** A run that starts this long after its hour began still lands in the hour's bucket (§8: 10 minutes). */
const LATE_START_MS = 10 * 60_000;
/** Failures of the upstream's budget rather than of the upstream: the hour is skipped, not failed. */
const REFUSALS = new Set(['budget_exhausted', 'upstream_credits_exhausted', 'circuit_open']);

export interface RecorderOptions {
  history: History;
  /** Each source's recording (Nansen's NANSEN_RECORD sets). */
  recordings: readonly { source: SourceId; recording: Recording }[];
  clock: Clock;
  timer: Timer;
  /** This replica's name in the run log (host and process). */
  replica: string;
  logger: HistoryLogger & { debug(details: object, message: string): void };
  /** Hears of every set's run, recorded or not (metrics). */
  onRun?: (run: RecorderRun) => void;
}

/**
 * At the start of every UTC hour, one replica (the first to claim the hour in the store
 * every replica shares) fetches each recording set once, within the recording's own daily
 * credits (counted over every replica's runs in the store) and the source's budget (its
 * daily cap and reserve). Every set's turn is a run in the store's log, with its reason
 * when the set was skipped or failed; the log says so too.
 */
export class Recorder {
  private cancelTimer: (() => void) | undefined;
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  private readonly recent: RecorderRun[] = [];

  constructor(private readonly options: RecorderOptions) {}

  get recordings(): RecorderOptions['recordings'] {
    return this.options.recordings;
  }

  /** The last runs of this replica, newest first (the store's log has every replica's). */
  get lastRuns(): readonly RecorderRun[] {
    return this.recent;
  }

  /** Schedules every coming hour; an hour begun less than 10 minutes ago is recorded as soon as the store is open. */
  start(): void {
    const now = this.options.clock();
    this.scheduleAfter(now);
    const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
    if (now - hour < LATE_START_MS) {
      this.options.history.ready.then(() => (this.stopping.signal.aborted ? undefined : this.track(this.runHour(hour))), () => undefined);
    }
  }

  /** Stops scheduling, cuts a fetch under way, and waits for the runs under way to end. */
  async stop(): Promise<void> {
    this.cancelTimer?.();
    this.stopping.abort();
    await Promise.allSettled([...this.running]);
  }

  /** Records `hour` (ms) when this replica is the first to claim it; resolves with its runs (none when another replica has it). */
  async runHour(hour: number): Promise<RecorderRun[]> {
    const { history, replica, logger } = this.options;
    let claimed: boolean;
    try {
      claimed = await history.claimHour(hour, replica, this.options.clock());
    } catch (error) {
      const reason = `the history store is unavailable (${(error as Error).message})`;
      logger.warn({ hour: rfc3339(hour), reason }, 'recorder skipped the hour');
      return this.options.recordings.flatMap(({ source, recording }) => recording.sets.map((set) => this.note(this.run(hour, source, set.name, 'skipped', reason))));
    }
    if (!claimed) {
      logger.debug({ hour: rfc3339(hour) }, 'recorder: another replica records this hour');
      return [];
    }
    const runs: RecorderRun[] = [];
    for (const { source, recording } of this.options.recordings) {
      for (const set of recording.sets) runs.push(await this.runSet(hour, source, recording, set));
    }
    return runs;
  }

  private scheduleAfter(now: number): void {
    const next = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
    this.cancelTimer = this.options.timer(() => {
      if (this.stopping.signal.aborted) return;
      this.scheduleAfter(Math.max(next, this.options.clock()));
      this.track(this.runHour(next));
    }, next - now);
  }

  private track(run: Promise<unknown>): void {
    const tracked = run.catch((error: unknown) => this.options.logger.error({ err: error }, 'recorder run failed')).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** One set's turn: skipped when its credits for the day would run over, else fetched (through the source's budget). */
  private async runSet(hour: number, source: SourceId, recording: Recording, set: RecordingSet): Promise<RecorderRun> {
    const startedAt = this.options.clock();
    const refusal = await this.creditRefusal(hour, source, recording);
    if (refusal) return this.finish(this.run(hour, source, set.name, 'skipped', refusal, { startedAt }));
    try {
      const { rows, credits } = await set.record(this.stopping.signal);
      return this.finish(this.run(hour, source, set.name, 'recorded', null, { startedAt, rows, credits }));
    } catch (error) {
      const refused = error instanceof UpstreamError && REFUSALS.has(error.failure);
      const reason = error instanceof UpstreamError ? `${error.failure}: ${error.message}` : (error as Error).message;
      return this.finish(this.run(hour, source, set.name, refused ? 'skipped' : 'failed', reason, { startedAt }));
    }
  }

  /** Why the set may not spend now: its day's credits (every replica's runs) would run over, or the store cannot say. */
  private async creditRefusal(hour: number, source: SourceId, recording: Recording): Promise<string | undefined> {
    if (recording.dailyCredits === undefined) return undefined;
    let spent: number;
    try {
      spent = await this.options.history.recorderCredits(source, utcDayStart(hour));
    } catch (error) {
      return `the recorder's credits spent today cannot be read (${(error as Error).message})`;
    }
    if (spent + recording.creditsPerSet <= recording.dailyCredits) return undefined;
    return `the recorder's daily credits are spent: ${spent} of ${recording.dailyCredits} this UTC day, and a set costs ${recording.creditsPerSet}`;
  }

  private run(hour: number, source: SourceId, set: string, outcome: RecorderRun['outcome'], reason: string | null, done: { startedAt?: number; rows?: number; credits?: number } = {}): RecorderRun {
    const now = this.options.clock();
    return { hour, source, set, outcome, reason, credits: done.credits ?? 0, rows: done.rows ?? 0, startedAt: done.startedAt ?? now, finishedAt: now, replica: this.options.replica };
  }

  /** Logs the run, keeps it in the store's log (and this replica's), and tells the listener. */
  private async finish(run: RecorderRun): Promise<RecorderRun> {
    try {
      await this.options.history.saveRecorderRun(run);
    } catch (error) {
      this.options.logger.warn({ err: error, hour: rfc3339(run.hour), set: run.set }, 'recorder run not saved in the store');
    }
    return this.note(run);
  }

  private note(run: RecorderRun): RecorderRun {
    const fields = { source: run.source, set: run.set, hour: rfc3339(run.hour), rows: run.rows, credits: run.credits, ...(run.reason ? { reason: run.reason } : {}) };
    if (run.outcome === 'recorded') this.options.logger.info(fields, 'recorder recorded a set');
    else this.options.logger.warn(fields, `recorder ${run.outcome === 'skipped' ? 'skipped' : 'failed'} a set of the hour`);
    this.recent.unshift(run);
    this.recent.length = Math.min(this.recent.length, 50);
    this.options.onRun?.(run);
    return run;
  }
}
