/**
 * The operations API of a running worker, in one service: its jobs with their
 * next runs, pause state and last outcome; the history; pause, resume and
 * trigger. What an HTTP API or a dashboard would sit on. Pauses are stored in
 * the run store, so with PostgreSQL every instance obeys them.
 */
import { Clock, Effect, Option } from "effect"
import * as CronSpec from "./CronSpec.js"
import { type Pause, type RunRecord, RunStore } from "./RunStore.js"
import { type JobInfo, JobNotFound, Scheduler } from "./Scheduler.js"

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
      /** Pauses a job: its slots are recorded as skipped (`paused`) until `resume`. */
      pause: (job: string, reason?: string) =>
        Effect.gen(function*() {
          yield* known(job)
          yield* store.pause(job, reason, new Date(yield* Clock.currentTimeMillis))
          yield* Effect.logInfo("job paused").pipe(Effect.annotateLogs({ job, reason: reason ?? "" }))
        }),
      /** Resumes a paused job; `false` if it was not paused. */
      resume: (job: string) =>
        Effect.gen(function*() {
          yield* known(job)
          const resumed = yield* store.resume(job)
          if (resumed) yield* Effect.logInfo("job resumed").pipe(Effect.annotateLogs({ job }))
          return resumed
        }),
      /** Runs a job now as a manual run; returns its record. */
      trigger: (job: string) => scheduler.trigger(job)
    } as const
  })
}) {}
