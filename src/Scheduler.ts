/**
 * The scheduler: a scoped service with one fiber per job. Each fiber computes
 * the job's next slot, sleeps towards it in steps of at most an hour, and
 * dispatches the slot: claim it in the run store, apply the overlap policy and
 * the global concurrency limit, then run it (see `Execution`). Closing the
 * scope is the shutdown: no new runs, running ones get the grace period, then
 * are interrupted.
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberSet, Option, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as CatchUp from "./CatchUp.js"
import * as CronSpec from "./CronSpec.js"
import * as Deadlines from "./Deadlines.js"
import * as Execution from "./Execution.js"
import {
  type CurrentRun,
  DuplicateJobName,
  type InvalidJobOption,
  type Job,
  type Overlap as OverlapPolicy,
  validate as validateJob
} from "./Job.js"
import * as Overlap from "./Overlap.js"
import { RunStore } from "./RunStore.js"
import * as Slot from "./Slot.js"
import type { Entry } from "./Slot.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** Why a job could not be registered. */
export type RegistrationError = CronSpec.InvalidCronExpression | InvalidJobOption | DuplicateJobName

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

/** Longest single sleep: long timers are unreliable, and clocks move. */
const MAX_SLEEP = Duration.toMillis(Duration.hours(1))
/** How often shutdown checks whether running jobs have ended. */
const SHUTDOWN_POLL = 50
/** A slot less than this old when the scheduler gets to it is late, not missed: it runs as scheduled. */
export const LATE_MILLIS = 1000
/**
 * Slots passed over are recorded as missed only once they are this old: an instance whose clock is behind may
 * still run them (clocks up to 10 s apart, ±5 s each, are tolerated with room to spare).
 */
export const MISSED_RECORD_DELAY = 20_000

export class Scheduler extends Effect.Service<Scheduler>()("cron-worker/Scheduler", {
  scoped: Effect.gen(function*() {
    const config = yield* WorkerConfig
    const store = yield* RunStore
    const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
    const limit = config.maxConcurrentJobs > 0 ? yield* Effect.makeSemaphore(config.maxConcurrentJobs) : undefined
    const loops = yield* FiberSet.make()
    const runs = yield* FiberSet.make()
    /** Missed slots waiting to be recorded until they are `MISSED_RECORD_DELAY` old. */
    const recorders = yield* FiberSet.make()
    const stopping = yield* Deferred.make<void>()
    const entries = new Map<string, Entry>()
    const interruptReasons = new Map<string, string>()
    let started = false

    const deadlines = yield* Deadlines.make
    const { recordMissed, slot } = Slot.make({ config, store, instance, limit, stopping, interruptReasons, deadlines })

    const dispatch = (entry: Entry, nominalAt: Date) =>
      Effect.flatMap(
        Deferred.isDone(stopping),
        (stop) => (stop ? Effect.void : FiberSet.run(runs, slot(entry, nominalAt, "scheduled", randomUUID())))
      )

    /** Records `slots` as missed (those already claimed keep their record). */
    const recordAll = (entry: Entry, slots: ReadonlyArray<number>) =>
      Effect.forEach(slots, (slot) => recordMissed(entry, slot), { concurrency: "unbounded", discard: true })

    /** Records `slots` as missed once they are `MISSED_RECORD_DELAY` old (or when shutdown begins). */
    const recordLater = (entry: Entry, slots: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const wait = slots[slots.length - 1]! + MISSED_RECORD_DELAY - (yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.raceFirst(Effect.sleep(wait), Deferred.await(stopping))
        yield* recordAll(entry, slots)
      })

    /** Jobs whose catch-up sequence is going: one at a time per job. */
    const chains = new Set<string>()

    /**
     * Runs `slots` one after another as catch-up runs, on a fiber of its own; with `wait`, returns once the first
     * has been decided (claimed and past the local overlap check). Each slot on a fiber of its own, which its
     * timeout interrupts: after a timeout the sequence goes on. Stopped at a slot another instance has claimed
     * (that instance runs the rest); stopped by shutdown or an interruption (replaced, cancelled), the slots not
     * run are recorded as missed.
     */
    const runSerially = (entry: Entry, slots: ReadonlyArray<number>, wait: boolean) =>
      Effect.gen(function*() {
        const decided = yield* Deferred.make<void>()
        const runFrom = (i: number): Effect.Effect<void> =>
          i >= slots.length ?
            Effect.void :
            FiberSet.run(runs, catchUpRun(entry, new Date(slots[i]!), i === 0 ? decided : undefined)).pipe(
              Effect.flatMap(Fiber.await),
              Effect.flatMap((exit) =>
                (Exit.isSuccess(exit) ? exit.value : deadlines.isTimeout(exit.cause))
                  ? runFrom(i + 1)
                  : Effect.flatMap(
                    Deferred.isDone(stopping),
                    (stop) => Exit.isSuccess(exit) && !stop ? Effect.void : recordAll(entry, slots.slice(i))
                  )
              )
            )
        chains.add(entry.name)
        yield* FiberSet.run(
          runs,
          runFrom(0).pipe(
            Effect.ensuring(Effect.sync(() => chains.delete(entry.name))),
            Effect.ensuring(Deferred.succeed(decided, undefined))
          )
        )
        if (wait) yield* Deferred.await(decided)
      })

    /**
     * The slots of `entry` in (`after`, `now`] that no run took: the process was down (`downtime`), or it woke
     * past more than one slot (suspended, overloaded, or the wall clock stepped forward). The job's `catchUp`
     * policy decides which run (see `CatchUp.plan`): a slot less than `LATE_MILLIS` old as scheduled, older ones
     * one after another as catch-up runs. The others are recorded as missed, those younger than
     * `MISSED_RECORD_DELAY` once they reach it.
     */
    const catchUp = (entry: Entry, after: number, now: number, downtime: boolean) =>
      Effect.gen(function*() {
        const plan = CatchUp.plan(entry.spec, entry.anchor, after, now, entry.catchUp, entry.catchUpWindow, LATE_MILLIS)
        // One slot to run, and young: a late run of the schedule, neither missed nor a catch-up.
        const late = plan.run.length === 1 && plan.run[0]! > now - LATE_MILLIS
        if (late) yield* dispatch(entry, new Date(plan.run[0]!))
        const missed = plan.missed - (late ? 1 : 0)
        if (missed === 0) return
        // A catch-up sequence of this job still going (the process fell behind again) is not joined by another.
        const chained = !late && plan.run.length > 0 && chains.has(entry.name)
        const run = late || chained ? [] : plan.run
        const record = chained ? [...plan.record, ...plan.run].sort((a, b) => a - b) : plan.record
        const fields = { job: entry.name, missed, catch_up: entry.catchUp, running: run.length }
        yield* (downtime
          ? Effect.logWarning("job missed slots while no worker ran").pipe(Effect.annotateLogs(fields))
          : Effect.logWarning("job missed slots").pipe(
            Effect.annotateLogs({ ...fields, resumed_at: new Date(now).toISOString() })
          ))
        const young = record.findIndex((slot) => slot > now - MISSED_RECORD_DELAY)
        yield* recordAll(entry, young === -1 ? record : record.slice(0, young))
        if (young !== -1) yield* FiberSet.run(recorders, recordLater(entry, record.slice(young)))
        // At start-up the first catch-up run takes its place before the job's next slot can; a running
        // job's loop does not wait for it.
        if (run.length > 0) yield* runSerially(entry, run, downtime)
      })

    /**
     * Fires the slot due at `due` (the first after `after`); returns the instant the job's next slot follows.
     * The slot the job waited for, alone, runs (late, if the process was slow to get to it); when the process
     * woke past more than one slot, `catchUp` decides.
     */
    const fire = (entry: Entry, after: number, due: number) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          entry.spec.next(due, entry.anchor) > now
            ? Effect.as(dispatch(entry, new Date(due)), due)
            : Effect.as(catchUp(entry, after, now, false), now)
      )

    /**
     * The job's fiber: sleep towards each slot (in steps of at most an hour),
     * then fire it. Written as a flat chain rather than a generator: it is
     * what every idle job holds in memory.
     */
    const loop = (entry: Entry, start: number): Effect.Effect<void> => {
      const waitFor = (after: number, due: number): Effect.Effect<void> =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          now >= due
            ? Effect.flatMap(fire(entry, after, due), from)
            : Effect.flatMap(Effect.sleep(Math.min(due - now, MAX_SLEEP)), () => waitFor(after, due)))
      const from = (after: number): Effect.Effect<void> => {
        const due = entry.spec.next(after, entry.anchor)
        return due === Infinity ? Effect.void : waitFor(after, due)
      }
      return from(start)
    }

    /** Starts a job's fiber with the scheduler's own context (not the caller's, nor its span). */
    const forkLoop = yield* FiberSet.runtime(loops)<never>()

    /**
     * Starts a job: first what its `catchUp` policy does with the slots missed
     * since `last` (the newest slot in the history) while no worker ran, then
     * its fiber, from `now` as it was before the catch-up work (a slot falling
     * due meanwhile is not lost).
     */
    const launch = (entry: Entry, last: Option.Option<Date>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(last)) yield* catchUp(entry, last.value.getTime(), now, true)
        forkLoop(loop(entry, now))
      })

    /** One missed slot, run now; `false` when it was not this instance's (taken, or shutdown began). */
    const catchUpRun = (entry: Entry, nominalAt: Date, decided: Deferred.Deferred<void> | undefined) =>
      Effect.flatMap(
        Deferred.isDone(stopping),
        (stop) => (stop ? Effect.succeed(false) : slot(entry, nominalAt, "catch-up", randomUUID(), decided))
      )

    /**
     * Every third of a lease, on its own fiber and at a fixed rate: renews the
     * leases of this instance's live runs, and interrupts those another
     * instance asked to cancel or already marked abandoned (their slot is no
     * longer this instance's). A renewal that takes longer than a third of a
     * lease is given up and logged: the next one starts on time.
     */
    const third = Duration.times(config.leaseDuration, 1 / 3)
    const renewal = Effect.gen(function*() {
      const live = [...entries.values()].flatMap((entry) => [
        ...entry.state.active,
        ...(entry.state.queued === undefined ? [] : [entry.state.queued.run])
      ])
      const lost = yield* store.renew(live.map((run) => run.runId), Duration.toSeconds(config.leaseDuration)).pipe(
        Effect.timeoutFail({
          duration: third,
          onTimeout: () => new Error(`no answer within ${Duration.format(third)}`)
        }),
        Effect.orDie
      )
      for (const { error, runId } of lost) {
        const run = live.find((r) => r.runId === runId)
        if (run === undefined) continue
        interruptReasons.set(runId, error)
        yield* Fiber.interruptFork(run.fiber)
      }
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError("lease renewal failed: the run store failed").pipe(
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      ),
      Effect.repeat(Schedule.fixed(third))
    )
    /** Marks runs whose worker stopped renewing as abandoned. */
    const reaping = Effect.gen(function*() {
      for (const record of yield* store.reap) {
        yield* Effect.logWarning("run abandoned: its worker stopped renewing the lease").pipe(Effect.annotateLogs({
          job: record.job,
          run_id: record.runId,
          nominal_at: record.nominalAt.toISOString(),
          instance: record.instance
        }))
      }
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError("abandoned runs not reaped: the run store failed").pipe(
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      ),
      Effect.repeat(Schedule.spaced(third))
    )
    if (store.shared) {
      yield* Effect.forkScoped(renewal)
      yield* Effect.forkScoped(reaping)
    }

    const register = Effect.fn("Scheduler.register")(function*<E, R>(job: Job<E, R>) {
      if (entries.has(job.name)) return yield* Effect.fail(new DuplicateJobName({ job: job.name }))
      const plan = yield* validateJob(job, config.timezone)
      const context = yield* Effect.context<Exclude<R, CurrentRun>>()
      const now = yield* Clock.currentTimeMillis
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
        state: Overlap.empty()
      }
      entries.set(job.name, entry)
      yield* Effect.logInfo(`job registered: ${job.name}`).pipe(
        Effect.annotateLogs({
          job: job.name,
          schedule: job.schedule,
          timezone: plan.spec.timezone,
          next_run: new Date(plan.spec.next(now, anchor)).toISOString()
        })
      )
      if (started) yield* launch(entry, Option.fromNullable((yield* store.lastSlots([job.name])).get(job.name)))
    })

    /**
     * Waits up to `grace` for the runs to end; `true` if they did. It polls:
     * in a finalizer a timeout cannot interrupt an uninterruptible wait.
     */
    const waitForRuns = (grace: Duration.Duration) =>
      Effect.gen(function*() {
        // The monotonic clock: a wall clock stepped meanwhile must not cut the grace short, nor stretch it.
        const monotonic = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1_000_000n))
        const deadline = (yield* monotonic) + Duration.toMillis(grace)
        for (;;) {
          if ((yield* FiberSet.size(runs)) === 0) return true
          const now = yield* monotonic
          if (now >= deadline) return false
          yield* Effect.sleep(Math.min(SHUTDOWN_POLL, deadline - now))
        }
      })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Deferred.succeed(stopping, undefined)
        yield* Effect.logInfo("shutting down scheduler...")
        yield* FiberSet.clear(loops)
        // Missed slots still waiting to be recorded are recorded now, while the store is open.
        yield* FiberSet.awaitEmpty(recorders)
        const running = yield* FiberSet.size(runs)
        if (running > 0) {
          yield* Effect.logInfo("waiting for running jobs").pipe(
            Effect.annotateLogs({ running, shutdown_timeout_seconds: Duration.toSeconds(config.shutdownTimeout) })
          )
        }
        if (yield* waitForRuns(config.shutdownTimeout)) return yield* Effect.logInfo("all running jobs completed")
        const left = yield* FiberSet.size(runs)
        yield* Effect.logWarning("shutdown timeout reached, interrupting running jobs").pipe(
          Effect.annotateLogs({ running: left })
        )
        for (const entry of entries.values()) {
          for (const run of entry.state.active) {
            interruptReasons.set(run.runId, "interrupted at shutdown (grace period expired)")
          }
        }
        yield* FiberSet.clear(runs)
        yield* Effect.logInfo("running jobs interrupted")
      })
    )

    return {
      /** Zone of schedules that name none (`WORKER_TIMEZONE`). */
      defaultTimezone: config.timezone,
      /** Registers a job; its requirements are captured now and provided to every run. */
      register,
      /** Starts the jobs' fibers; jobs registered later start at once. */
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
        for (const entry of entries.values()) yield* launch(entry, Option.fromNullable(lasts.get(entry.name)))
      }),
      /** The registered jobs, in registration order. */
      jobs: Effect.sync((): ReadonlyArray<JobInfo> =>
        [...entries.values()].map(({ anchor, description, name, overlap, schedule, spec, timeout, timezone }) => ({
          name,
          schedule,
          timezone,
          description,
          overlap,
          timeout,
          spec,
          anchor
        }))
      ),
      /** Runs a job now, as a manual run, and waits for its outcome (its history record). */
      trigger: (name: string) =>
        Effect.gen(function*() {
          const entry = entries.get(name)
          if (entry === undefined) return yield* Effect.fail(new JobNotFound({ job: name }))
          if (yield* Deferred.isDone(stopping)) return yield* Effect.fail(new SchedulerStopped())
          const runId = randomUUID()
          const now = yield* Clock.currentTimeMillis
          yield* Fiber.await(yield* FiberSet.run(runs, slot(entry, new Date(now), "manual", runId)))
          return yield* store.get(runId)
        })
    } as const
  })
}) {}
