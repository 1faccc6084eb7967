/**
 * The scheduler: register jobs, start them, list them, trigger one. A job waiting for its next slot is an entry in
 * one clock (a heap of timers over all jobs, with one fiber sleeping towards the earliest), not a fiber of its own:
 * at rest a job costs its entry and nothing else. When slots fall due, the clock starts one fiber per slot (see
 * `Slot`: claim, overlap, limit, run) and re-arms the job. Closing the scope is the shutdown: no new runs, running
 * ones get the grace period, then are interrupted.
 */
import { Clock, type Context, Duration, Effect, Either, Option } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as CatchUp from "./CatchUp.js"
import type * as CronSpec from "./CronSpec.js"
import * as Deadlines from "./Deadlines.js"
import * as Entry from "./Entry.js"
import * as Heartbeat from "./Heartbeat.js"
import * as InFlight from "./InFlight.js"
import {
  type CurrentRun,
  DuplicateJobName,
  type InvalidJobOption,
  type Job,
  type Plan,
  validate as validateJob
} from "./Job.js"
import * as JobClock from "./JobClock.js"
import * as Leases from "./Leases.js"
import * as Metrics from "./Metrics.js"
import * as Operators from "./Operators.js"
import * as Partition from "./Partition.js"
import { type MissedReason, RunStore } from "./RunStore.js"
import * as Slot from "./Slot.js"
import { WorkerConfig } from "./WorkerConfig.js"

export { LATE_MILLIS, MISSED_RECORD_DELAY } from "./CatchUp.js"
export type { JobInfo } from "./Entry.js"
export { JobNotFound, SchedulerStopped } from "./Operators.js"
export type { BackfillStarted, TriggerOptions } from "./Operators.js"

/** Why a job could not be registered. */
export type RegistrationError = CronSpec.InvalidCronExpression | InvalidJobOption | DuplicateJobName

/** Slots of another instance's job noted at most when this process woke past several (see `Partition`). */
const BEHIND_NOTED = 10

/** A job in the clock. */
type Waiting = JobClock.Waiting<Entry.Entry>

export class Scheduler extends Effect.Service<Scheduler>()("cron-worker/Scheduler", {
  scoped: Effect.gen(function*() {
    const config = yield* WorkerConfig
    const store = yield* RunStore
    const clock = yield* Effect.clock
    const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
    // First, so that it closes last: the end pings of the runs shutdown waits for still go.
    yield* Heartbeat.start
    const inFlight = yield* InFlight.make(config.maxConcurrentJobs)
    const deadlines = yield* Deadlines.make
    const holes = new CatchUp.Holes()
    const onStoreFailure = (entry: Entry.Entry, nominal: number) => {
      holes.add(entry, nominal)
      runner.mendLater()
    }
    const { recordMissed, slot } = Slot.make({ config, store, instance, inFlight, deadlines, clock, onStoreFailure })
    const runner = yield* CatchUp.makeRunner({
      store,
      holes,
      inFlight,
      deadlines,
      slot,
      recordMissed,
      newRunId: randomUUID
    })
    const entries = new Map<string, Waiting>()
    /**
     * The overlap states of jobs taken out of the clock (schedules deleted) while runs of theirs go on: their leases
     * are renewed and shutdown waits for them. Pruned as they end.
     */
    let retired: Array<Entry.Entry> = []
    /** Every job's state with live runs: those in the clock and those retired. */
    const states = () => {
      retired = retired.filter((entry) => entry.state.active.length > 0 || entry.state.queued !== undefined)
      return [...[...entries.values()].map(({ entry }) => entry), ...retired].map(({ state }) => state)
    }
    /** The jobs with `onAbandoned: "rerun"`. */
    const rerunList: Array<string> = []
    let started = false

    /**
     * The clock hands over each job whose slot has come. The slot it waited for, alone, runs (late, if the process
     * was slow to get to it); when the process woke past more than one slot of a job, its catch-up policy decides.
     */
    const jobClock = yield* JobClock.make<Entry.Entry>(clock, (waiting, now) => {
      const { after, at: due, entry } = waiting
      // A job replaced or taken out is never handed over: `disarm` takes it out of the heap, and only `launch` (which
      // checks) could put it back after a yield. No lookup here, on the path of every slot.
      if (inFlight.closed()) return
      if (entry.skipAs !== undefined) {
        inFlight.start(runner.recordLater(entry, [due], entry.skipAs))
        jobClock.arm(waiting, due)
        return
      }
      if (entry.spec.next(due, entry.anchor) > now) {
        // Another instance's job: noted, claimed here only if still unclaimed after a grace (see `Partition`).
        if (partition.mine(entry)) inFlight.start(slot(entry, due, "scheduled", randomUUID()))
        else partition.defer(entry, due)
        jobClock.arm(waiting, due)
      } else {
        if (partition.mine(entry)) inFlight.start(runner.catchUp(entry, after, now, "behind"))
        else deferBehind(entry, after, now)
        jobClock.arm(waiting, now)
      }
    })
    const arm = jobClock.arm
    /** Which jobs this instance claims as their slots fall due; set once its heartbeat is in (below). */
    let partition: Partition.Partition<Entry.Entry> = Partition.whole
    /** Slots of another instance's job this process woke past: the newest few are noted, the owner has the rest. */
    const deferBehind = (entry: Entry.Entry, after: number, now: number) => {
      const slots: Array<number> = []
      for (let at = entry.spec.next(after, entry.anchor); at <= now; at = entry.spec.next(at, entry.anchor)) {
        slots.push(at)
        if (slots.length > BEHIND_NOTED) slots.shift()
      }
      for (const at of slots) partition.defer(entry, at)
    }

    /**
     * Starts jobs: for each, first what its `catchUp` policy does with the slots missed since `lasts` (the newest slot
     * in the history) while no worker ran, then its place in the clock, from `now` as it was before the catch-up work
     * (a slot falling due meanwhile is not lost). A job with no history costs no effect of its own.
     */
    const launch = (waitings: Iterable<Waiting>, lasts: ReadonlyMap<string, Date>) =>
      Effect.gen(function*() {
        for (const waiting of waitings) {
          const last = lasts.get(waiting.entry.name)
          const now = clock.unsafeCurrentTimeMillis()
          if (last !== undefined) yield* runner.catchUp(waiting.entry, last.getTime(), now, "downtime")
          if (entries.get(waiting.entry.name) === waiting) arm(waiting, now)
        }
      })

    yield* Leases.start({
      config,
      store,
      instance,
      inFlight,
      live: () =>
        states().flatMap((state) => [...state.active, ...(state.queued === undefined ? [] : [state.queued.run])]),
      // Only a started scheduler re-runs: not `run <job>` or a scheduler still being composed.
      rerunJobs: () => started ? rerunList : [],
      leaves: () => started,
      // An abandoned slot of a job that asks for it runs once more (the store's unique key keeps it once).
      rerun: (record) => {
        const waiting = entries.get(record.job)
        if (waiting === undefined || inFlight.closed()) return Effect.void
        const runId = randomUUID()
        return Effect.logInfo("re-running an abandoned slot").pipe(
          Effect.annotateLogs({ job: record.job, nominal_at: record.nominalAt.toISOString(), rerun_of: record.runId }),
          Effect.zipRight(Effect.sync(() => {
            inFlight.start(slot(waiting.entry, record.nominalAt.getTime(), "rerun", runId, { rerunOf: record.runId }))
          }))
        )
      }
    })

    partition = yield* Partition.make<Entry.Entry>({
      store,
      instance,
      enabled: config.claimPartition,
      clock,
      closed: inFlight.closed,
      takeOver: (entry, nominal) => {
        inFlight.start(slot(entry, nominal, "scheduled", randomUUID()))
      },
      missed: (entry, nominal) => {
        inFlight.start(runner.recordLater(entry, [nominal], "missed"))
      }
    })

    // `/metrics` lists every job with its next fire time and period, read from the clock's entries when scraped.
    Metrics.setScheduled(() =>
      [...entries.values()].map(({ at, entry }) => {
        const next = at === Infinity ? entry.spec.next(clock.unsafeCurrentTimeMillis(), entry.anchor) : at
        const after = Number.isFinite(next) ? entry.spec.next(next, entry.anchor) : Infinity
        return {
          name: entry.name,
          next,
          interval: Number.isFinite(after) ? after - next : undefined,
          alerts: entry.alerts
        }
      })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => Metrics.setScheduled(undefined)))

    /** Validates `jobs` (none is registered when one is invalid) and registers them, in one step for them all. */
    const registerAll = Effect.fn("Scheduler.registerAll")(function*<E, R>(jobs: ReadonlyArray<Job<E, R>>) {
      const context = yield* Effect.context<Exclude<R, CurrentRun>>()
      const now = yield* Clock.currentTimeMillis
      const errors: Array<RegistrationError> = []
      const seen = new Set<string>()
      const plans: Array<Plan> = []
      for (const job of jobs) {
        if (entries.has(job.name) || seen.has(job.name)) errors.push(new DuplicateJobName({ job: job.name }))
        seen.add(job.name)
        Either.match(validateJob(job, config.timezone), {
          onLeft: (error) => errors.push(error),
          onRight: (plan) => plans.push(plan)
        })
      }
      if (errors.length > 0) return yield* Effect.fail(errors)
      const added: Array<Waiting> = []
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!
        const plan = plans[i]!
        // `@every` keeps the grid of its first registration ever: across restarts and instances.
        const anchor = plan.spec.kind === "every" ? (yield* store.anchor(job.name, new Date(now))).getTime() : now
        const entry = Entry.make(job, plan, context, anchor, config.defaultTimeout)
        const waiting = jobClock.waiting(entry, now)
        entries.set(job.name, waiting)
        Metrics.register(job.name)
        if (entry.onAbandoned === "rerun") rerunList.push(job.name)
        added.push(waiting)
      }
      yield* Entry.logRegistered(added.map(({ entry }) => entry), now)
      if (!started) return
      yield* launch(added, yield* store.lastSlots(added.map(({ entry }) => entry.name)))
    })

    /**
     * Puts a schedule created at run time in the clock as `job`, at `version`, firing within [`start`, `end`). A job of
     * that name already there is replaced: its runs (running or queued) go on, and keep their overlap state, which the
     * new version shares; its next slot is computed from now under the new version, and no past slot is caught up
     * with (`catchUp: false`, for a change). At a worker's start (`catchUp: true`) the slots missed while no worker
     * ran are caught up with by the job's policy, as for code jobs. An `@every` schedule counts from `anchor` (the
     * version's instant, the same on every instance).
     */
    const upsert = Effect.fn("Scheduler.upsert")(function*<E, R>(
      job: Job<E, R>,
      options: {
        readonly version: number
        readonly anchor: number
        readonly start?: number | undefined
        readonly end?: number | undefined
        readonly catchUp: boolean
        /** With `catchUp`: the newest slots in the history, read for many schedules at once (else read here). */
        readonly lastSlots?: ReadonlyMap<string, Date> | undefined
        /** A schedule this worker cannot run (see `Entry.skipAs`). */
        readonly skipAs?: MissedReason | undefined
        /**
         * The services of its runs (default: the caller's). One context object for many schedules is kept once,
         * not once per schedule.
         */
        readonly context?: Context.Context<Exclude<R, CurrentRun>> | undefined
      }
    ) {
      const context = options.context ?? (yield* Effect.context<Exclude<R, CurrentRun>>())
      const plan = yield* validateJob(job, config.timezone)
      const now = yield* Clock.currentTimeMillis
      const old = entries.get(job.name)
      if (old !== undefined) jobClock.disarm(old)
      const bounded = { ...plan, spec: plan.spec.within(options.start, options.end) }
      const entry = Entry.make(job, bounded, context, options.anchor, config.defaultTimeout, {
        version: options.version,
        state: old?.entry.state,
        skipAs: options.skipAs
      })
      const waiting = jobClock.waiting(entry, now)
      entries.set(job.name, waiting)
      Metrics.register(job.name)
      const rerun = rerunList.indexOf(job.name)
      if (rerun !== -1) rerunList.splice(rerun, 1)
      if (entry.onAbandoned === "rerun") rerunList.push(job.name)
      if (!started) return
      if (options.catchUp && options.skipAs === undefined) {
        yield* launch([waiting], options.lastSlots ?? (yield* store.lastSlots([job.name])))
      } else arm(waiting, now)
    })

    /**
     * Takes a job out of the clock: no slot of it starts after this; its runs (running or queued) go on to their end,
     * their leases renewed. `false` when no job has that name.
     */
    const unregister = (name: string) =>
      Effect.sync(() => {
        const waiting = entries.get(name)
        if (waiting === undefined) return false
        jobClock.disarm(waiting)
        entries.delete(name)
        Metrics.unregister(name)
        retired.push(waiting.entry)
        const rerun = rerunList.indexOf(name)
        if (rerun !== -1) rerunList.splice(rerun, 1)
        return true
      })

    /** Registers one job; see `registerAll`. */
    const register = <E, R>(job: Job<E, R>): Effect.Effect<void, RegistrationError, Exclude<R, CurrentRun>> =>
      registerAll([job]).pipe(Effect.mapError((errors) => errors[0]!))

    const operators = Operators.make({
      entry: (name) => entries.get(name)?.entry,
      inFlight,
      slot,
      store
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* inFlight.close
        yield* Effect.logInfo("shutting down scheduler...")
        yield* jobClock.stop
        // Missed slots still waiting to be recorded are recorded now, while the store is open.
        yield* runner.flush
        yield* inFlight.drain(config.shutdownTimeout, () =>
          states().flatMap((state) => state.active.map((run) => run.runId)))
      })
    )

    return {
      /** Zone of schedules that name none (`WORKER_TIMEZONE`). */
      defaultTimezone: config.timezone,
      /** Registers a job; its requirements are captured now and provided to every run. */
      register,
      /** Registers jobs, all or (with the problems of each) none; their requirements are captured now. */
      registerAll,
      upsert,
      unregister,
      /** Puts the jobs in the clock; jobs registered later start at once. */
      start: Effect.gen(function*() {
        if (started) return
        started = true
        yield* Effect.logInfo("starting scheduler").pipe(
          Effect.annotateLogs({
            jobs_count: entries.size,
            default_timeout_seconds: Option.match(config.defaultTimeout, {
              onNone: () => 0,
              onSome: Duration.toSeconds
            }),
            max_concurrent: config.maxConcurrentJobs,
            timezone: config.timezone
          })
        )
        yield* launch(entries.values(), yield* store.lastSlots([...entries.keys()]))
      }),
      /** Started, shutting down, its clock alive: for the health probes (`Health.ts`). */
      status: Effect.map(jobClock.running, (clockRunning) => ({ started, stopping: inFlight.closed(), clockRunning })),
      /** The registered jobs, in registration order. */
      jobs: Effect.sync((): ReadonlyArray<Entry.JobInfo> =>
        [...entries.values()].map(({ entry }) => Entry.info(entry))
      ),
      /** Runs a job now, as a manual run, and waits for its outcome (its history record); see `Operators.ts`. */
      trigger: operators.trigger,
      /** Interrupts a live run, here or on the instance that runs it; see `Operators.ts`. */
      cancel: operators.cancel,
      /** Starts a backfill of a past range, in the background; see `Backfill.ts` and `Operators.ts`. */
      backfill: operators.backfill
    } as const
  })
}) {}
