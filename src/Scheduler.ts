/**
 * The scheduler: register jobs, start them, list them, trigger one. A job waiting for its next slot is an entry in
 * one clock (a heap of timers over all jobs, with one fiber sleeping towards the earliest), not a fiber of its own:
 * at rest a job costs its entry and nothing else. When slots fall due, the clock starts one fiber per slot (see
 * `Slot`: claim, overlap, limit, run) and re-arms the job. Closing the scope is the shutdown: no new runs, running
 * ones get the grace period, then are interrupted.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as CatchUp from "./CatchUp.js"
import * as Deadlines from "./Deadlines.js"
import * as Entry from "./Entry.js"
import * as Heartbeat from "./Heartbeat.js"
import * as InFlight from "./InFlight.js"
import { type CurrentRun, type Job, validate as validateJob } from "./Job.js"
import * as JobClock from "./JobClock.js"
import * as Leases from "./Leases.js"
import * as Metrics from "./Metrics.js"
import * as Operators from "./Operators.js"
import * as Partition from "./Partition.js"
import { RunStore } from "./RunStore.js"
import { WorkerConfig } from "./WorkerConfig.js"

export { LATE_MILLIS, MISSED_RECORD_DELAY } from "./CatchUp.js"
export type { JobInfo, RegistrationError } from "./Entry.js"
export { JobNotFound, SchedulerStopped } from "./Operators.js"
export type { BackfillStarted, TriggerOptions } from "./Operators.js"

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
    const { runner, slot } = yield* CatchUp.make({ config, store, instance, inFlight, deadlines, clock })
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
        else Partition.deferBehind(partition, entry, (at) => entry.spec.next(at, entry.anchor), after, now)
        jobClock.arm(waiting, now)
      }
    })
    const entries = Entry.makeRegistry(jobClock)
    /** Which jobs this instance claims as their slots fall due; set once its heartbeat is in (below). */
    let partition: Partition.Partition<Entry.Entry> = Partition.whole

    /** Catches up with `waitings` (see `CatchUp.launch`) and puts each in the clock unless replaced or taken out. */
    const launch = (waitings: Iterable<Entry.Waiting>, lasts: ReadonlyMap<string, Date>) =>
      CatchUp.launch(runner, clock, waitings, lasts, (waiting, now) => {
        if (entries.get(waiting.entry.name) === waiting) jobClock.arm(waiting, now)
      })

    yield* Leases.start({
      config,
      store,
      instance,
      inFlight,
      live: entries.live,
      // Only a started scheduler re-runs: not `run <job>` or a scheduler still being composed.
      rerunJobs: () => started ? entries.rerunJobs() : [],
      leaves: () => started,
      entry: (name) => entries.get(name)?.entry,
      slot
    })

    partition = yield* Partition.make<Entry.Entry>({
      store,
      instance,
      enabled: config.claimPartition,
      clock,
      closed: inFlight.closed,
      takeOver: (entry, nominal) => inFlight.start(slot(entry, nominal, "scheduled", randomUUID())),
      missed: (entry, nominal) => inFlight.start(runner.recordLater(entry, [nominal], "missed"))
    })

    // `/metrics` lists every job with its next fire time and period, read from the clock's entries when scraped.
    Metrics.setScheduled(() => entries.scheduled(clock))
    yield* Effect.addFinalizer(() => Effect.sync(() => Metrics.setScheduled(undefined)))

    /** Validates `jobs` (none is registered when one is invalid) and registers them, in one step for them all. */
    const registerAll = Effect.fn("Scheduler.registerAll")(function*<E, R>(jobs: ReadonlyArray<Job<E, R>>) {
      const context = yield* Effect.context<Exclude<R, CurrentRun>>()
      const now = yield* Clock.currentTimeMillis
      const plans = yield* Entry.plans(jobs, entries.has, config.timezone)
      const added: Array<Entry.Waiting> = []
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!
        const plan = plans[i]!
        // `@every` keeps the grid of its first registration ever: across restarts and instances.
        const anchor = plan.spec.kind === "every" ? (yield* store.anchor(job.name, new Date(now))).getTime() : now
        added.push(entries.add(Entry.make(job, plan, context, anchor, config.defaultTimeout), now))
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
      options: Entry.Version<R>
    ) {
      const context = options.context ?? (yield* Effect.context<Exclude<R, CurrentRun>>())
      const plan = yield* validateJob(job, config.timezone)
      const now = yield* Clock.currentTimeMillis
      const old = entries.get(job.name)
      const bounded = { ...plan, spec: plan.spec.within(options.start, options.end) }
      const entry = Entry.make(job, bounded, context, options.anchor, config.defaultTimeout, {
        version: options.version,
        state: old?.entry.state,
        skipAs: options.skipAs
      })
      const waiting = entries.add(entry, now)
      if (!started) return
      if (options.catchUp && options.skipAs === undefined) {
        yield* launch([waiting], options.lastSlots ?? (yield* store.lastSlots([job.name])))
      } else jobClock.arm(waiting, now)
    })

    /**
     * Takes a job out of the clock: no slot of it starts after this; its runs (running or queued) go on to their end,
     * their leases renewed. `false` when no job has that name.
     */
    const unregister = (name: string) => Effect.sync(() => entries.remove(name))

    /** Registers one job; see `registerAll`. */
    const register = <E, R>(job: Job<E, R>): Effect.Effect<void, Entry.RegistrationError, Exclude<R, CurrentRun>> =>
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
        yield* inFlight.drain(config.shutdownTimeout, entries.running)
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
            jobs_count: entries.size(),
            default_timeout_seconds: Option.match(config.defaultTimeout, {
              onNone: () => 0,
              onSome: Duration.toSeconds
            }),
            max_concurrent: config.maxConcurrentJobs,
            timezone: config.timezone
          })
        )
        yield* launch(entries.waitings(), yield* store.lastSlots(entries.names()))
      }),
      /** Started, shutting down, its clock alive: for the health probes (`Health.ts`). */
      status: Effect.map(jobClock.running, (clockRunning) => ({ started, stopping: inFlight.closed(), clockRunning })),
      /** The registered jobs, in registration order. */
      jobs: Effect.sync((): ReadonlyArray<Entry.JobInfo> =>
        [...entries.waitings()].map(({ entry }) => Entry.info(entry))
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
