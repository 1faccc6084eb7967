/**
 * The operations API of a running worker, in one service: its jobs with their
 * next runs, pause state and last outcome; the history; pause, resume and
 * trigger. What an HTTP API or a dashboard would sit on. Pauses are stored in
 * the run store, so with PostgreSQL every instance obeys them.
 */
import { Clock, Effect, Logger, LogLevel, Option, Schema } from "effect"
import { hostname, userInfo } from "node:os"
import * as CronSpec from "./CronSpec.js"
import { type Pause, type RunRecord, RunStore, type RunStoreShape } from "./RunStore.js"
import { type JobInfo, JobNotFound, Scheduler } from "./Scheduler.js"

/** The longest pause reason, in characters: a sentence and a ticket link, not a document to repeat everywhere. */
export const MAX_PAUSE_REASON = 500

/** A pause reason longer than {@link MAX_PAUSE_REASON}: nothing is paused. */
export class PauseReasonTooLong extends Schema.TaggedError<PauseReasonTooLong>()("PauseReasonTooLong", {
  job: Schema.String,
  length: Schema.Number
}) {
  override get message(): string {
    return `the pause reason of job ${JSON.stringify(this.job)} is ${this.length} characters long; ` +
      `the limit is ${MAX_PAUSE_REASON}`
  }
}

/** A pause that would end before it begins: nothing is paused. */
export class PauseEndsInPast extends Schema.TaggedError<PauseEndsInPast>()("PauseEndsInPast", {
  job: Schema.String,
  until: Schema.Date
}) {
  override get message(): string {
    return `the pause of job ${JSON.stringify(this.job)} would end at ${this.until.toISOString()}, ` +
      "which is not in the future"
  }
}

/** Who is acting, for the audit trail of pauses: `<os user>@<hostname>`. */
export const operator = (): string => {
  let user: string
  try {
    user = userInfo().username
  } catch {
    // No entry in the user database (a container's arbitrary uid): the environment still names someone.
    user = process.env.USER ?? process.env.LOGNAME ?? `uid ${process.getuid?.() ?? "?"}`
  }
  return `${user}@${hostname()}`
}

/**
 * `job paused` and `job resumed` are the audit trail of a change: written at
 * INFO whatever the minimum level (the command-line tools log from `warn` up).
 */
const audit = (msg: string, fields: Record<string, unknown>) =>
  Effect.logInfo(msg).pipe(Effect.annotateLogs(fields), Logger.withMinimumLogLevel(LogLevel.Info))

/**
 * Pauses `job` in `store` (known to exist), by `by` (default {@link operator}),
 * and logs `job paused`. A job already paused keeps its pause, which is
 * returned; nothing is logged then.
 */
export const pauseIn = (
  store: RunStoreShape,
  job: string,
  options: {
    readonly reason?: string | undefined
    readonly by?: string | undefined
    /** The pause ends by itself at this instant (default: when resumed). */
    readonly until?: Date | undefined
  } = {}
): Effect.Effect<Option.Option<Pause>, PauseReasonTooLong | PauseEndsInPast> =>
  Effect.gen(function*() {
    const reason = options.reason?.trim() === "" ? undefined : options.reason
    const length = reason === undefined ? 0 : [...reason].length
    if (length > MAX_PAUSE_REASON) return yield* Effect.fail(new PauseReasonTooLong({ job, length }))
    const now = yield* Clock.currentTimeMillis
    const { until } = options
    if (until !== undefined && until.getTime() <= now) return yield* Effect.fail(new PauseEndsInPast({ job, until }))
    const by = options.by ?? operator()
    const existing = yield* store.pause(job, reason, new Date(now), by, until)
    if (Option.isNone(existing)) {
      yield* audit("job paused", {
        job,
        reason: reason ?? "",
        by,
        ...(until === undefined ? {} : { until: until.toISOString() })
      })
    }
    return existing
  })

/** Resumes `job` in `store` and logs `job resumed`; `false` if it was not paused. */
export const resumeIn = (store: RunStoreShape, job: string, by: string = operator()): Effect.Effect<boolean> =>
  Effect.tap(store.resume(job), (resumed) => (resumed ? audit("job resumed", { job, by }) : Effect.void))

/** A registered job as operators see it. */
export interface JobStatus extends Omit<JobInfo, "spec" | "anchor"> {
  /** The next three fire instants. */
  readonly nextRuns: ReadonlyArray<Date>
  readonly paused: Option.Option<Pause>
  /** The newest run in the history, if any. */
  readonly lastRun: Option.Option<RunRecord>
}

export class Control extends Effect.Service<Control>()("cron-worker/Control", {
  effect: Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const store = yield* RunStore
    const known = (job: string) =>
      Effect.flatMap(
        scheduler.jobs,
        (jobs) => (jobs.some((j) => j.name === job) ? Effect.void : Effect.fail(new JobNotFound({ job })))
      )
    return {
      /** Every registered job, with its next runs, pause state and last run. */
      jobs: Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const pauses = yield* store.pauses
        const jobs = yield* scheduler.jobs
        return yield* Effect.forEach(
          jobs,
          ({ anchor, spec, ...info }) =>
            Effect.map(store.history({ job: info.name, limit: 1 }), (last): JobStatus => ({
              ...info,
              nextRuns: CronSpec.nextN(spec, now, 3, anchor).map((t) => new Date(t)),
              paused: Option.fromNullable(pauses.find((p) => p.job === info.name)),
              lastRun: Option.fromNullable(last[0])
            }))
        )
      }),
      /** Runs, newest first; of one job, or of all. */
      history: (query?: { readonly job?: string | undefined; readonly limit?: number | undefined }) =>
        store.history(query),
      /**
       * Pauses a job: its slots are recorded as skipped (`paused`) until
       * `resume`. `by` defaults to this process's `user@host`. Returns the
       * pause already in force, if the job was paused (it is left as it was).
       */
      pause: (job: string, reason?: string, by?: string, until?: Date) =>
        Effect.zipRight(known(job), pauseIn(store, job, { reason, by, until })),
      /** Resumes a paused job; `false` if it was not paused. */
      resume: (job: string, by?: string) => Effect.zipRight(known(job), resumeIn(store, job, by)),
      /** Runs a job now as a manual run; returns its record. */
      trigger: (job: string) => scheduler.trigger(job)
    } as const
  })
}) {}
