/**
 * A registered job as the scheduler keeps it: what `jobs` lists, what a slot runs (its effect with the services
 * captured at registration, its policies), and its overlap state; and the registry of them all (`Registry`).
 */
import { type Clock, type Context, type Duration, Effect, Either, FiberRef, LogLevel, type Option } from "effect"
import type * as CronSpec from "./CronSpec.js"
import * as Execution from "./Execution.js"
import type { Target } from "./Heartbeat.js"
import {
  type AlertPlan,
  type CatchUp,
  type CurrentRun,
  DuplicateJobName,
  type InvalidJobOption,
  type Job,
  type OnAbandoned,
  type Overlap as OverlapPolicy,
  type Plan,
  validate as validateJob
} from "./Job.js"
import type * as JobClock from "./JobClock.js"
import * as Metrics from "./Metrics.js"
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

/**
 * A schedule created at run time as `Scheduler.upsert` puts it in the clock: at `version`, firing within [`start`,
 * `end`), an `@every` schedule counting from `anchor`.
 */
export interface Version<R> {
  readonly version: number
  readonly anchor: number
  readonly start?: number | undefined
  readonly end?: number | undefined
  /** Catch up with the slots missed while no worker ran (a worker's start), or not (a change). */
  readonly catchUp: boolean
  /** With `catchUp`: the newest slots in the history, read for many schedules at once (else read by `upsert`). */
  readonly lastSlots?: ReadonlyMap<string, Date> | undefined
  /** A schedule this worker cannot run (see `Entry.skipAs`). */
  readonly skipAs?: MissedReason | undefined
  /**
   * The services of its runs (default: the caller's). One context object for many schedules is kept once, not once
   * per schedule.
   */
  readonly context?: Context.Context<Exclude<R, CurrentRun>> | undefined
}

/** Why a job could not be registered. */
export type RegistrationError = CronSpec.InvalidCronExpression | InvalidJobOption | DuplicateJobName

/**
 * The plans of `jobs`, validated as one batch (in `timezone` unless a job names its own), or every problem: a name
 * `taken` already or given twice, a bad option or schedule. None is registered when one is invalid.
 */
export const plans = <E, R>(
  jobs: ReadonlyArray<Job<E, R>>,
  taken: (name: string) => boolean,
  timezone: string
): Either.Either<Array<Plan>, Array<RegistrationError>> => {
  const errors: Array<RegistrationError> = []
  const seen = new Set<string>()
  const plans: Array<Plan> = []
  for (const job of jobs) {
    if (taken(job.name) || seen.has(job.name)) errors.push(new DuplicateJobName({ job: job.name }))
    seen.add(job.name)
    Either.match(validateJob(job, timezone), {
      onLeft: (error) => errors.push(error),
      onRight: (plan) => plans.push(plan)
    })
  }
  return errors.length > 0 ? Either.left(errors) : Either.right(plans)
}

/** A job in the clock. */
export type Waiting = JobClock.Waiting<Entry>

/**
 * The registered jobs, by name in registration order, each with its place in `jobClock`; the jobs taken out whose
 * runs go on (their leases renewed, shutdown waiting for them); the jobs with `onAbandoned: "rerun"`.
 */
export type Registry = ReturnType<typeof makeRegistry>

/** See {@link Registry}. */
export const makeRegistry = (jobClock: JobClock.JobClock<Entry>) => {
  const waitings = new Map<string, Waiting>()
  let retired: Array<Entry> = []
  const reruns: Array<string> = []
  const forget = (name: string) => {
    const rerun = reruns.indexOf(name)
    if (rerun !== -1) reruns.splice(rerun, 1)
  }
  /** Every job's state with live runs: those in the clock and those retired (pruned as their runs end). */
  const states = () => {
    retired = retired.filter((entry) => entry.state.active.length > 0 || entry.state.queued !== undefined)
    return [...[...waitings.values()].map(({ entry }) => entry), ...retired].map(({ state }) => state)
  }
  return {
    get: (name: string): Waiting | undefined => waitings.get(name),
    has: (name: string) => waitings.has(name),
    size: () => waitings.size,
    names: () => [...waitings.keys()],
    waitings: () => waitings.values(),
    /**
     * Registers a job, its first slot after `now`, not yet armed; a new version of it takes the place of the old one
     * (taken out of the clock). Its series appear in `/metrics`.
     */
    add: (entry: Entry, now: number): Waiting => {
      const { name, onAbandoned } = entry
      const old = waitings.get(name)
      if (old !== undefined) jobClock.disarm(old)
      const waiting = jobClock.waiting(entry, now)
      waitings.set(name, waiting)
      Metrics.register(name)
      forget(name)
      if (onAbandoned === "rerun") reruns.push(name)
      return waiting
    },
    /**
     * Takes a job out of the clock: no slot of it starts after this; its runs (running or queued) stay live until
     * they end. `false` when no job has that name.
     */
    remove: (name: string): boolean => {
      const waiting = waitings.get(name)
      if (waiting === undefined) return false
      jobClock.disarm(waiting)
      waitings.delete(name)
      Metrics.unregister(name)
      retired.push(waiting.entry)
      forget(name)
      return true
    },
    /** The live runs (running or queued) of every job, in the clock or taken out. */
    live: (): Array<Overlap.Active> =>
      states().flatMap((state) => [...state.active, ...(state.queued === undefined ? [] : [state.queued.run])]),
    /** The ids of the running runs of every job, in the clock or taken out. */
    running: () => states().flatMap((state) => state.active.map((run) => run.runId)),
    /** The jobs with `onAbandoned: "rerun"`. */
    rerunJobs: (): ReadonlyArray<string> => reruns,
    /** What `/metrics` lists of every job: its next fire time and period, read from the clock when scraped. */
    scheduled: (clock: Clock.Clock): Array<Metrics.Scheduled> =>
      [...waitings.values()].map(({ at, entry }) => {
        const next = at === Infinity ? entry.spec.next(clock.unsafeCurrentTimeMillis(), entry.anchor) : at
        const after = Number.isFinite(next) ? entry.spec.next(next, entry.anchor) : Infinity
        return {
          name: entry.name,
          next,
          interval: Number.isFinite(after) ? after - next : undefined,
          alerts: entry.alerts
        }
      })
  }
}
