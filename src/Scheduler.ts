/**
 * The scheduler: register jobs, start them, list them, trigger one. A job waiting for its next slot is an entry in
 * one clock (a heap of timers over all jobs, with one fiber sleeping towards the earliest), not a fiber of its own:
 * at rest a job costs its entry and nothing else. When slots fall due, the clock starts one fiber per slot (see
 * `Slot`: claim, overlap, limit, run) and re-arms the job. Closing the scope is the shutdown: no new runs, running
 * ones get the grace period, then are interrupted.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as CatchUp from "./CatchUp.js"
import type * as CronSpec from "./CronSpec.js"
import * as Deadlines from "./Deadlines.js"
import * as Entry from "./Entry.js"
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
import * as Operators from "./Operators.js"
import { RunStore } from "./RunStore.js"
import * as Slot from "./Slot.js"
import { WorkerConfig } from "./WorkerConfig.js"

export { LATE_MILLIS, MISSED_RECORD_DELAY } from "./CatchUp.js"
export type { JobInfo } from "./Entry.js"
export { JobNotFound, SchedulerStopped } from "./Operators.js"
export type { BackfillStarted, TriggerOptions } from "./Operators.js"

/** Why a job could not be registered. */
export type RegistrationError = CronSpec.InvalidCronExpression | InvalidJobOption | DuplicateJobName

/** A job in the clock. */
type Waiting = JobClock.Waiting<Entry.Entry>

export class Scheduler extends Effect.Service<Scheduler>()("cron-worker/Scheduler", {
  scoped: Effect.gen(function*() {
    const config = yield* WorkerConfig
    const store = yield* RunStore
    const clock = yield* Effect.clock
    const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
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
    /** The jobs with `onAbandoned: "rerun"`. */
    const rerunList: Array<string> = []
    let started = false

    /**
     * The clock hands over each job whose slot has come. The slot it waited for, alone, runs (late, if the process
     * was slow to get to it); when the process woke past more than one slot of a job, its catch-up policy decides.
     */
    const jobClock = yield* JobClock.make<Entry.Entry>(clock, (waiting, now) => {
      const { after, at: due, entry } = waiting
      if (inFlight.closed()) return
      if (entry.spec.next(due, entry.anchor) > now) {
        inFlight.start(slot(entry, due, "scheduled", randomUUID()))
        jobClock.arm(waiting, due)
      } else {
        inFlight.start(runner.catchUp(entry, after, now, "behind"))
        jobClock.arm(waiting, now)
      }
    })
    const arm = jobClock.arm

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
          arm(waiting, now)
        }
      })

    yield* Leases.start({
      config,
      store,
      instance,
      inFlight,
      live: () =>
        [...entries.values()].flatMap(({ entry }) => [
          ...entry.state.active,
          ...(entry.state.queued === undefined ? [] : [entry.state.queued.run])
        ]),
      // Only a started scheduler re-runs: not `run <job>` or a scheduler still being composed.
      rerunJobs: () => started ? rerunList : [],
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
        if (entry.onAbandoned === "rerun") rerunList.push(job.name)
        added.push(waiting)
      }
      yield* Entry.logRegistered(added.map(({ entry }) => entry), now)
      if (!started) return
      yield* launch(added, yield* store.lastSlots(added.map(({ entry }) => entry.name)))
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
          [...entries.values()].flatMap(({ entry }) => entry.state.active.map((run) => run.runId)))
      })
    )

    return {
      /** Zone of schedules that name none (`WORKER_TIMEZONE`). */
      defaultTimezone: config.timezone,
      /** Registers a job; its requirements are captured now and provided to every run. */
      register,
      /** Registers jobs, all or (with the problems of each) none; their requirements are captured now. */
      registerAll,
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
