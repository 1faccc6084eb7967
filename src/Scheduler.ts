/**
 * The scheduler: register jobs, start them, list them, trigger one. A job waiting for its next slot is an entry in
 * one clock (a heap of timers over all jobs, with one fiber sleeping towards the earliest), not a fiber of its own:
 * at rest a job costs its entry and nothing else. When slots fall due, the clock starts one fiber per slot (see
 * `Slot`: claim, overlap, limit, run) and re-arms the job. Closing the scope is the shutdown: no new runs, running
 * ones get the grace period, then are interrupted.
 */
import { Clock, Deferred, Duration, Effect, Either, Fiber, FiberRef, LogLevel, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as CatchUp from "./CatchUp.js"
import type * as CronSpec from "./CronSpec.js"
import * as Deadlines from "./Deadlines.js"
import * as Execution from "./Execution.js"
import { Heap, type Timer } from "./Heap.js"
import * as InFlight from "./InFlight.js"
import {
  type CurrentRun,
  DuplicateJobName,
  type InvalidJobOption,
  type Job,
  type Plan,
  validate as validateJob
} from "./Job.js"
import * as Leases from "./Leases.js"
import * as Overlap from "./Overlap.js"
import { RunStore } from "./RunStore.js"
import * as Slot from "./Slot.js"
import type { Entry, JobInfo } from "./Slot.js"
import { WorkerConfig } from "./WorkerConfig.js"

export { LATE_MILLIS, MISSED_RECORD_DELAY } from "./CatchUp.js"
export type { JobInfo } from "./Slot.js"

/** Why a job could not be registered. */
export type RegistrationError = CronSpec.InvalidCronExpression | InvalidJobOption | DuplicateJobName

/** No job of that name is registered. */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", { job: Schema.String }) {
  override get message(): string {
    return `no job named "${this.job}" is registered`
  }
}

/** The scheduler is shutting down: it starts no run. */
export class SchedulerStopped extends Schema.TaggedError<SchedulerStopped>()("SchedulerStopped", {}) {
  override get message(): string {
    return "the scheduler is shutting down"
  }
}

/** Longest single sleep of the clock: long timers are unreliable, and clocks move. */
const MAX_SLEEP = Duration.toMillis(Duration.hours(1))

/** A job in the clock: due `at`, the first slot after `after`. */
interface Waiting extends Timer {
  readonly entry: Entry
  after: number
}

export class Scheduler extends Effect.Service<Scheduler>()("cron-worker/Scheduler", {
  scoped: Effect.gen(function*() {
    const config = yield* WorkerConfig
    const store = yield* RunStore
    const clock = yield* Effect.clock
    const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
    const inFlight = yield* InFlight.make(config.maxConcurrentJobs)
    const deadlines = yield* Deadlines.make
    const holes = new CatchUp.Holes()
    const onStoreFailure = (entry: Entry, nominal: number) => {
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
    let started = false

    // The clock: a heap of the jobs' next slots, and one fiber that sleeps until the earliest.
    const heap = new Heap<Waiting>()
    let target = Infinity
    let wake = yield* Deferred.make<void>()
    /** Puts the job back in the clock, due at its first slot after `after` (never again: left out). */
    const arm = (waiting: Waiting, after: number) => {
      const due = waiting.entry.spec.next(after, waiting.entry.anchor)
      waiting.after = after
      if (due === Infinity) return
      waiting.at = due
      heap.push(waiting)
      if (due < target) Deferred.unsafeDone(wake, Effect.void)
    }
    /**
     * Fires the slots due at `now`. The slot a job waited for, alone, runs (late, if the process was slow to get to
     * it); when the process woke past more than one slot of a job, its catch-up policy decides.
     */
    const fireDue = (now: number) => {
      for (let waiting = heap.popDue(now); waiting !== undefined; waiting = heap.popDue(now)) {
        const { after, at: due, entry } = waiting
        if (entry.spec.next(due, entry.anchor) > now) {
          inFlight.start(slot(entry, due, "scheduled", randomUUID()))
          arm(waiting, due)
        } else {
          inFlight.start(runner.catchUp(entry, after, now, "behind"))
          arm(waiting, now)
        }
      }
    }
    const ticking = Effect.gen(function*() {
      for (;;) {
        const now = clock.unsafeCurrentTimeMillis()
        if (!inFlight.closed()) fireDue(now)
        wake = yield* Deferred.make<void>()
        const next = heap.peek()
        target = next === undefined ? Infinity : next.at
        if (next === undefined) yield* Deferred.await(wake)
        else yield* Effect.raceFirst(Effect.sleep(Math.min(next.at - now, MAX_SLEEP)), Deferred.await(wake))
      }
    })
    const ticker = yield* Effect.forkScoped(Effect.interruptible(ticking))

    /**
     * Starts a job: first what its `catchUp` policy does with the slots missed since `last` (the newest slot in the
     * history) while no worker ran, then its place in the clock, from `now` as it was before the catch-up work (a
     * slot falling due meanwhile is not lost).
     */
    const launch = (waiting: Waiting, last: Date | undefined) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (last !== undefined) yield* runner.catchUp(waiting.entry, last.getTime(), now, "downtime")
        arm(waiting, now)
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
      // A job that asks for it runs an abandoned slot once more, here: this instance reaped it, no other did.
      onAbandoned: (record) => {
        const waiting = entries.get(record.job)
        if (waiting?.entry.onAbandoned !== "rerun" || record.reason === "rerun" || inFlight.closed()) return Effect.void
        const runId = randomUUID()
        return Effect.logInfo("re-running an abandoned slot").pipe(
          Effect.annotateLogs({ job: record.job, nominal_at: record.nominalAt.toISOString(), rerun_of: record.runId }),
          Effect.zipRight(Effect.sync(() => {
            inFlight.start(slot(waiting.entry, record.nominalAt.getTime(), "rerun", runId, undefined, record.runId))
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
        const entry: Entry = {
          name: job.name,
          schedule: job.schedule,
          timezone: plan.spec.timezone,
          description: job.options.description,
          overlap: plan.overlap,
          spec: plan.spec,
          anchor,
          timeout: plan.timeout ?? config.defaultTimeout,
          run: Execution.provideContext(job.run, context),
          retry: plan.retry === undefined ? undefined : Execution.retrySchedule(plan.retry),
          attempts: plan.retry?.attempts ?? 1,
          jitter: plan.jitter,
          catchUp: plan.catchUp,
          catchUpWindow: plan.catchUpWindow,
          onAbandoned: plan.onAbandoned,
          state: Overlap.empty()
        }
        const waiting: Waiting = { entry, after: now, at: Infinity, index: -1 }
        entries.set(job.name, waiting)
        added.push(waiting)
      }
      if (LogLevel.lessThanEqual(yield* FiberRef.get(FiberRef.currentMinimumLogLevel), LogLevel.Info)) {
        for (const { entry } of added) {
          yield* Effect.logInfo(`job registered: ${entry.name}`).pipe(
            Effect.annotateLogs({
              job: entry.name,
              schedule: entry.schedule,
              timezone: entry.timezone,
              next_run: new Date(entry.spec.next(now, entry.anchor)).toISOString()
            })
          )
        }
      }
      if (!started) return
      const lasts = yield* store.lastSlots(added.map(({ entry }) => entry.name))
      for (const waiting of added) yield* launch(waiting, lasts.get(waiting.entry.name))
    })

    /** Registers one job; see `registerAll`. */
    const register = <E, R>(job: Job<E, R>): Effect.Effect<void, RegistrationError, Exclude<R, CurrentRun>> =>
      registerAll([job]).pipe(Effect.mapError((errors) => errors[0]!))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* inFlight.close
        yield* Effect.logInfo("shutting down scheduler...")
        yield* Fiber.interrupt(ticker)
        // Missed slots still waiting to be recorded are recorded now, while the store is open.
        yield* runner.flush
        const running = inFlight.size()
        if (running > 0) {
          yield* Effect.logInfo("waiting for running jobs").pipe(
            Effect.annotateLogs({ running, shutdown_timeout_seconds: Duration.toSeconds(config.shutdownTimeout) })
          )
        }
        if (yield* inFlight.awaitIdle(config.shutdownTimeout)) {
          return yield* Effect.logInfo("all running jobs completed")
        }
        yield* Effect.logWarning("shutdown timeout reached, interrupting running jobs").pipe(
          Effect.annotateLogs({ running: inFlight.size() })
        )
        for (const { entry } of entries.values()) {
          for (const run of entry.state.active) {
            inFlight.interruptWith(run.runId, "interrupted at shutdown (grace period expired)")
          }
        }
        yield* inFlight.interruptAll
        yield* Effect.logInfo("running jobs interrupted")
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
        const lasts = yield* store.lastSlots([...entries.keys()])
        for (const waiting of entries.values()) yield* launch(waiting, lasts.get(waiting.entry.name))
      }),
      /** The registered jobs, in registration order. */
      jobs: Effect.sync((): ReadonlyArray<JobInfo> =>
        [...entries.values()].map((
          { entry: { anchor, description, name, overlap, schedule, spec, timeout, timezone } }
        ) => ({ name, schedule, timezone, description, overlap, timeout, spec, anchor }))
      ),
      /** Runs a job now, as a manual run, and waits for its outcome (its history record). */
      trigger: (name: string) =>
        Effect.gen(function*() {
          const waiting = entries.get(name)
          if (waiting === undefined) return yield* Effect.fail(new JobNotFound({ job: name }))
          if (inFlight.closed()) return yield* Effect.fail(new SchedulerStopped())
          const runId = randomUUID()
          const now = yield* Clock.currentTimeMillis
          yield* Fiber.await(inFlight.start(slot(waiting.entry, now, "manual", runId)))
          return yield* store.get(runId)
        })
    } as const
  })
}) {}
