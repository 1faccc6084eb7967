/**
 * A registered job as the scheduler keeps it: what `jobs` lists, what a slot runs (its effect with the services
 * captured at registration, its policies), and its overlap state.
 */
import { type Context, type Duration, Effect, FiberRef, LogLevel, type Option } from "effect"
import type * as CronSpec from "./CronSpec.js"
import * as Execution from "./Execution.js"
import type { Target } from "./Heartbeat.js"
import type { AlertPlan, CatchUp, CurrentRun, Job, OnAbandoned, Overlap as OverlapPolicy, Plan } from "./Job.js"
import * as Overlap from "./Overlap.js"
import type { MissedReason } from "./RunStore.js"

/** A registered job, as `jobs` lists it. */
export interface JobInfo {
  readonly name: string
  readonly schedule: string
  readonly timezone: string
  readonly description: string | undefined
  readonly overlap: OverlapPolicy
  readonly timeout: Option.Option<Duration.Duration>
  readonly spec: CronSpec.CronSpec
  /** Registration instant: the anchor of `@every` schedules. */
  readonly anchor: number
}

/** A registered job as the scheduler keeps it: what it lists, what it runs, its overlap state. */
export interface Entry extends JobInfo, Execution.Runnable {
  readonly jitter: Option.Option<Duration.Duration>
  readonly catchUp: CatchUp
  readonly catchUpWindow: Duration.Duration
  readonly onAbandoned: OnAbandoned
  /** Its heartbeat URL (`Heartbeat.ts`). */
  readonly heartbeat: Target | undefined
  /** Its built-in alert overrides, read by the alert evaluator. */
  readonly alerts: AlertPlan
  readonly state: Overlap.State
  /** For a schedule created at run time: its version, recorded with each of its runs. */
  readonly scheduleVersion: number | undefined
  /** A schedule this worker cannot run: its slots are recorded as skipped for this reason, unless another runs them. */
  readonly skipAs: MissedReason | undefined
}

/** The entry of `job`, validated as `plan`, with the services of `context` and its `@every` `anchor`. */
export const make = <E, R>(
  job: Job<E, R>,
  plan: Plan,
  context: Context.Context<Exclude<R, CurrentRun>>,
  anchor: number,
  defaultTimeout: Option.Option<Duration.Duration>,
  /** A schedule's version, and the overlap state of the version it replaces (its runs go on). */
  schedule?: {
    readonly version: number
    readonly state: Overlap.State | undefined
    readonly skipAs?: MissedReason | undefined
  }
): Entry => ({
  name: job.name,
  schedule: job.schedule,
  timezone: plan.spec.timezone,
  description: job.options.description,
  overlap: plan.overlap,
  spec: plan.spec,
  anchor,
  timeout: plan.timeout ?? defaultTimeout,
  run: Execution.provideContext(job.run, context),
  retry: plan.retry === undefined ? undefined : Execution.retrySchedule(plan.retry),
  attempts: plan.retry?.attempts ?? 1,
  jitter: plan.jitter,
  catchUp: plan.catchUp,
  catchUpWindow: plan.catchUpWindow,
  onAbandoned: plan.onAbandoned,
  alerts: plan.alerts,
  heartbeat: plan.heartbeat,
  state: schedule?.state ?? Overlap.empty(),
  scheduleVersion: schedule?.version,
  skipAs: schedule?.skipAs
})

/** What `jobs` lists of a registered job. */
export const info = ({ anchor, description, name, overlap, schedule, spec, timeout, timezone }: Entry): JobInfo => ({
  name,
  schedule,
  timezone,
  description,
  overlap,
  timeout,
  spec,
  anchor
})

/** One INFO line per job registered at `now` (`job registered: <name>`); nothing is built when INFO is off. */
export const logRegistered = (entries: ReadonlyArray<Entry>, now: number): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (level) =>
    LogLevel.greaterThan(level, LogLevel.Info)
      ? Effect.void
      : Effect.forEach(entries, (entry) =>
        Effect.logInfo(`job registered: ${entry.name}`).pipe(
          Effect.annotateLogs({
            job: entry.name,
            schedule: entry.schedule,
            timezone: entry.timezone,
            next_run: new Date(entry.spec.next(now, entry.anchor)).toISOString()
          })
        ), { discard: true }))
