/**
 * Leases and liveness, on a store shared with other instances: this instance beats every second, from a thread of
 * its own on PostgreSQL (`InstanceBeat.ts`; an instance silent for a few seconds is dead, and its runs are abandoned
 * at once rather than when their leases expire); the
 * leases of its runs are renewed every third of a lease on their own fiber, and runs another instance asked to
 * cancel (or already marked abandoned) are interrupted; every second, the runs of dead instances are reaped as
 * abandoned, and those of jobs that ask for it are re-run once. Nothing to do on a store of one process.
 */
import { Duration, Effect, Fiber, Option, Schedule, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import type { Entry } from "./Entry.js"
import * as Execution from "./Execution.js"
import type { InFlight } from "./InFlight.js"
import * as InstanceBeat from "./InstanceBeat.js"
import * as Metrics from "./Metrics.js"
import type { Active } from "./Overlap.js"
import type { RunRecord, RunStoreShape } from "./RunStore.js"
import type { Claimed, SlotOptions } from "./Slot.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

export interface Options {
  readonly config: WorkerConfigShape
  readonly store: RunStoreShape
  readonly instance: string
  readonly inFlight: InFlight
  /** This instance's live runs (running or queued). */
  readonly live: () => ReadonlyArray<Active>
  /** The jobs of this instance that re-run an abandoned slot (`onAbandoned: "rerun"`). */
  readonly rerunJobs: () => ReadonlyArray<string>
  /** The registered job of that name, whose abandoned slot is re-run. */
  readonly entry: (name: string) => Entry | undefined
  /** Runs a slot (see `Slot.ts`): here, an abandoned one once more. */
  readonly slot: (
    entry: Entry,
    nominal: number,
    reason: "rerun",
    runId: string,
    options?: SlotOptions
  ) => Effect.Effect<Claimed>
  /**
   * Whether, when it closes, this instance tells the others it left (see `RunStore.leave`): a worker whose scheduler
   * ran, its runs ended; not `run <job>`, which may share the instance id of a running worker.
   */
  readonly leaves: () => boolean
}

/** How often this instance beats, and looks for the runs of dead instances and for abandoned runs to re-run. */
const BEAT_INTERVAL = Duration.seconds(1)

/**
 * How long after it was abandoned a run is still re-run (`onAbandoned: "rerun"`) by an instance that runs its job:
 * one that starts, or registers the job, later than that leaves it recorded abandoned.
 */
const RERUN_WINDOW = Duration.minutes(10)

export const start = (
  { config, entry: entryOf, inFlight, instance, leaves, live, rerunJobs, slot, store }: Options
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!store.shared) return
    /**
     * Re-runs one abandoned run of one of {@link Options.rerunJobs}, if its job is still registered here and the
     * scheduler is not shutting down (the store's unique key keeps the slot once across instances).
     */
    const rerun = (record: RunRecord) => {
      const entry = entryOf(record.job)
      if (entry === undefined || inFlight.closed()) return Effect.void
      const runId = randomUUID()
      return Effect.logInfo("re-running an abandoned slot").pipe(
        Effect.annotateLogs({ job: record.job, nominal_at: record.nominalAt.toISOString(), rerun_of: record.runId }),
        Effect.zipRight(Effect.sync(() => {
          inFlight.start(slot(entry, record.nominalAt.getTime(), "rerun", runId, { rerunOf: record.runId }))
        }))
      )
    }
    const third = Duration.times(config.leaseDuration, 1 / 3)
    /**
     * Renews the leases of this instance's live runs, and interrupts those another instance asked to cancel or
     * already marked abandoned (their slot is no longer this instance's). A renewal that takes longer than a third of
     * a lease is given up and logged: the next one starts on time.
     */
    const renewal = Effect.gen(function*() {
      const runs = live()
      const lost = yield* store.renew(runs.map((run) => run.runId), Duration.toSeconds(config.leaseDuration)).pipe(
        Effect.timeoutFail({
          duration: third,
          onTimeout: () => new Error(`no answer within ${Duration.format(third)}`)
        }),
        Effect.orDie
      )
      for (const { error, runId } of lost) {
        const run = runs.find((r) => r.runId === runId)
        if (run === undefined) continue
        inFlight.interruptWith(runId, error)
        yield* Fiber.interruptFork(run.fiber)
      }
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError("lease renewal failed: the run store failed").pipe(
          Effect.zipLeft(Effect.sync(Metrics.leaseRenewalFailed)),
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      ),
      Effect.repeat(Schedule.fixed(third))
    )
    /** Says this instance is alive. */
    const beating = store.beat(instance).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError("heartbeat failed: the run store failed").pipe(
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      ),
      Effect.repeat(Schedule.fixed(BEAT_INTERVAL))
    )
    /** Marks the runs of dead instances (silent: every second; their leases expired: every third of a lease). */
    const reap = (which: Effect.Effect<ReadonlyArray<RunRecord>>, every: Duration.Duration) =>
      Effect.gen(function*() {
        for (const record of yield* which) {
          Metrics.unsafeCount(record.job, "abandoned")
          yield* Effect.logWarning("run abandoned: its worker stopped").pipe(Effect.annotateLogs({
            job: record.job,
            run_id: record.runId,
            nominal_at: record.nominalAt.toISOString(),
            instance: record.instance,
            error: record.error
          }))
        }
      }).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.logError("abandoned runs not reaped: the run store failed").pipe(
            Effect.annotateLogs({ error: Execution.describe(defect) })
          )
        ),
        Effect.repeat(Schedule.spaced(every))
      )
    /**
     * Re-runs the abandoned runs of this instance's `rerun` jobs, whoever reaped them: looked up in the store, so
     * that one reaped before the job was registered here, or by an instance that died right after, is not lost.
     */
    const reruns = Effect.gen(function*() {
      const jobs = rerunJobs()
      if (jobs.length === 0) return
      const since = new Date(Date.now() - Duration.toMillis(RERUN_WINDOW))
      for (const record of yield* store.unrerun(jobs, instance, since)) yield* rerun(record)
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError("abandoned runs not re-run: the run store failed").pipe(
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      ),
      Effect.repeat(Schedule.spaced(BEAT_INTERVAL))
    )
    yield* store.beat(instance).pipe(Effect.catchAllDefect(() => Effect.void))
    // Closed after the beats stop (finalizers run in reverse), so that no beat brings it back.
    yield* Effect.addFinalizer(() =>
      leaves() ? Effect.catchAllDefect(store.leave(instance), () => Effect.void) : Effect.void
    )
    // On PostgreSQL from a thread of its own, so that a busy event loop does not pass for a dead instance.
    if (Option.isSome(config.databaseUrl)) {
      yield* InstanceBeat.start(config.databaseUrl.value, instance, config.serviceName)
    } else {
      yield* Effect.forkScoped(beating)
    }
    yield* Effect.forkScoped(renewal)
    yield* Effect.forkScoped(reap(store.reapDead, BEAT_INTERVAL))
    yield* Effect.forkScoped(reap(store.reap, third))
    yield* Effect.forkScoped(reruns)
  })
