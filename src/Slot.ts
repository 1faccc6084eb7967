/**
 * One slot of one job, from its claim in the run store to its recorded
 * outcome: the overlap policy, the jitter delay, the global concurrency
 * limit, then the run itself (`Execution`). Every claimed slot gets an
 * outcome, whatever interrupts it.
 */
import { Clock, Deferred, Duration, Effect, Option, Random } from "effect"
import { randomUUID } from "node:crypto"
import type { Deadlines } from "./Deadlines.js"
import * as Execution from "./Execution.js"
import type { CatchUp, RunReason } from "./Job.js"
import * as Overlap from "./Overlap.js"
import type { Others, RunStoreShape, SkipReason } from "./RunStore.js"
import type { JobInfo } from "./Scheduler.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

/** A registered job as the scheduler keeps it: what it lists, what it runs, its overlap state. */
export interface Entry extends JobInfo, Execution.Runnable {
  readonly jitter: Option.Option<Duration.Duration>
  readonly catchUp: CatchUp
  readonly catchUpWindow: Duration.Duration
  readonly state: Overlap.State
}

const REFUSALS: Record<Overlap.Refusal, string> = {
  overlap: "job skipped (previous run still running)",
  overlap_queue_full: "job skipped (previous run still running, one already queued)",
  shutdown: "job skipped (shutdown began while it was queued)"
}

/** What slots share: the scheduler's store, limit and shutdown signal. */
export interface Dependencies {
  readonly config: WorkerConfigShape
  readonly store: RunStoreShape
  /** `host:pid`, recorded with every run. */
  readonly instance: string
  /** The global limit; `undefined` for none. */
  readonly limit: Effect.Semaphore | undefined
  /** Completed when shutdown begins: no run starts after it. */
  readonly stopping: Deferred.Deferred<void>
  /** Why a run was interrupted (replaced, shutdown), by run id. */
  readonly interruptReasons: Map<string, string>
  /** The runs' timeouts. */
  readonly deadlines: Deadlines
}

/** How often a run waiting for another instance's run checks again. */
const REMOTE_POLL = Duration.seconds(1)

export const make = ({ config, deadlines, instance, interruptReasons, limit, stopping, store }: Dependencies) => {
  const leaseSeconds = Duration.toSeconds(config.leaseDuration)
  const skip = (
    entry: Entry,
    runId: string,
    reason: SkipReason,
    message: string,
    fields: Record<string, unknown> = {}
  ) =>
    Effect.gen(function*() {
      yield* Effect.logWarning(message).pipe(Effect.annotateLogs(fields))
      yield* Execution.count(entry.name, "skipped")
      yield* store.finish(runId, {
        status: "skipped",
        skipReason: reason,
        attempt: 0,
        at: new Date(yield* Clock.currentTimeMillis)
      })
    })

  /** The overlap policy: `true` when the run may start (and must then be released). */
  const admit = (entry: Entry, runId: string, nominalAt: Date) =>
    Overlap.admit(
      entry.state,
      entry.overlap,
      runId,
      stopping,
      (previous) =>
        Effect.gen(function*() {
          for (const run of previous) {
            if (!interruptReasons.has(run.runId)) {
              interruptReasons.set(run.runId, `replaced by the run of ${nominalAt.toISOString()}`)
            }
          }
          yield* Effect.logWarning("job replacing its previous run").pipe(
            Effect.annotateLogs({ replaced: previous.length })
          )
        }),
      store.enqueue(runId, entry.name),
      store.dequeue(runId)
    ).pipe(
      Effect.flatMap((refusal) =>
        refusal === undefined
          ? Effect.succeed(true)
          : skip(entry, runId, refusal === "shutdown" ? "shutdown" : "overlap", REFUSALS[refusal]).pipe(
            Effect.as(false)
          )
      )
    )

  const release = (entry: Entry, runId: string) =>
    Effect.zipRight(Effect.sync(() => interruptReasons.delete(runId)), Overlap.release(entry.state, runId))

  /** A run stopped before `execute` recorded anything (queued, in its jitter delay, being replaced). */
  const recordInterrupted = (entry: Entry, runId: string) =>
    Effect.gen(function*() {
      const error = interruptReasons.get(runId) ?? "interrupted"
      const at = new Date(yield* Clock.currentTimeMillis)
      if (!(yield* store.finish(runId, { status: "interrupted", attempt: 0, at, error }))) return
      yield* Execution.count(entry.name, "interrupted")
      yield* Effect.logWarning("job interrupted").pipe(Effect.annotateLogs({ run_id: runId, error }))
    })

  /** Waits until no other instance runs the job (polling), or shutdown begins; `true` if it is free. */
  const awaitOthers = (entry: Entry) =>
    Effect.gen(function*() {
      for (;;) {
        if ((yield* store.others(entry.name, instance)).running === 0) return true
        const stop = yield* Effect.raceFirst(
          Effect.as(Effect.sleep(REMOTE_POLL), false),
          Effect.as(Deferred.await(stopping), true)
        )
        if (stop) return false
      }
    })

  /**
   * The overlap policy against runs of other instances (the local ones were
   * handled by `admit`): `true` when the run may start.
   */
  const admitAcrossInstances = (entry: Entry, runId: string, nominalAt: Date, others: Others) =>
    Effect.gen(function*() {
      if (entry.overlap === "allow" || (others.running === 0 && others.queued === 0)) return true
      switch (entry.overlap) {
        case "skip":
          yield* skip(entry, runId, "overlap", "job skipped (previous run still running on another instance)")
          return false
        case "queue": {
          if (others.queued > 0 || !(yield* store.enqueue(runId, entry.name))) {
            yield* skip(entry, runId, "overlap", "job skipped (a run is already queued on another instance)")
            return false
          }
          yield* Effect.logInfo("job queued behind a run on another instance")
          if (!(yield* awaitOthers(entry))) {
            yield* skip(entry, runId, "shutdown", "job skipped (shutdown began while it was queued)")
            return false
          }
          yield* store.dequeue(runId)
          return true
        }
        case "replace": {
          const error = `replaced by the run of ${nominalAt.toISOString()} on instance ${instance}`
          const asked = yield* store.requestCancel(entry.name, instance, error)
          yield* Effect.logWarning("job replacing its run on another instance").pipe(
            Effect.annotateLogs({ replaced: asked })
          )
          if (!(yield* awaitOthers(entry))) {
            yield* skip(entry, runId, "shutdown", "job skipped (shutdown began while it replaced a run)")
            return false
          }
          return true
        }
      }
    })

  /** After the claim: overlap, jitter, the global limit, the run. */
  const admitAndRun = (
    entry: Entry,
    runId: string,
    nominalAt: Date,
    reason: RunReason,
    others: Others,
    decided: Deferred.Deferred<void> | undefined
  ) =>
    Effect.gen(function*() {
      const waited = entry.overlap === "queue" && entry.state.active.length > 0
      const local = yield* admit(entry, runId, nominalAt)
      if (decided !== undefined) yield* Deferred.succeed(decided, undefined)
      if (!local) return
      // After a wait here, what the claim saw of the other instances is stale.
      const now = waited && store.shared ? yield* store.others(entry.name, instance) : others
      if (!(yield* admitAcrossInstances(entry, runId, nominalAt, now))) return
      if (Option.isSome(entry.jitter) && reason === "scheduled") {
        const delay = yield* Random.nextIntBetween(0, Duration.toMillis(entry.jitter.value) + 1)
        yield* Effect.raceFirst(Effect.sleep(delay), Deferred.await(stopping))
      }
      if (yield* Deferred.isDone(stopping)) {
        return yield* skip(entry, runId, "shutdown", "job skipped (shutdown began before it started)")
      }
      const run = Execution.execute(store, deadlines, entry, { job: entry.name, runId, nominalAt, reason }, () =>
        interruptReasons.get(runId))
      const admitted = limit === undefined ? Option.some(yield* run) : yield* limit.withPermitsIfAvailable(1)(run)
      if (Option.isNone(admitted)) {
        yield* skip(entry, runId, "max_concurrent", "job skipped (max concurrent executions reached)", {
          max_concurrent: config.maxConcurrentJobs
        })
      }
    })

  /**
   * One slot, from claim to recorded outcome. Uninterruptible except while it
   * waits or runs, so that a claimed slot always gets an outcome. `true` when
   * this instance claimed the slot (whatever came of it).
   */
  const slot = (
    entry: Entry,
    nominalAt: Date,
    reason: RunReason,
    runId: string,
    /** Completed once this instance has decided whether the slot runs (claimed and past the local overlap check). */
    decided?: Deferred.Deferred<void>
  ) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const at = new Date(yield* Clock.currentTimeMillis)
        const claim = yield* store.claim({ runId, job: entry.name, nominalAt, reason, instance, at, leaseSeconds })
        if (claim._tag === "Taken") return yield* Effect.as(Effect.logDebug("slot already claimed"), false)
        if (claim._tag === "Paused") {
          yield* Execution.count(entry.name, "skipped")
          yield* Effect.logInfo("job skipped (paused)").pipe(
            Effect.annotateLogs({ run_id: runId })
          )
          return true
        }
        yield* restore(admitAndRun(entry, runId, nominalAt, reason, claim.others, decided)).pipe(
          Effect.onInterrupt(() => recordInterrupted(entry, runId)),
          Effect.ensuring(release(entry, runId))
        )
        return true
      })
    ).pipe(
      // The run store failed (the database is down): the slot is lost, and said so.
      Effect.catchAllDefect((defect) =>
        Effect.as(
          Effect.logError("slot not recorded: the run store failed").pipe(
            Effect.annotateLogs({ run_id: runId, error: Execution.describe(defect) })
          ),
          false
        )
      ),
      // Taken, paused, failed or interrupted before the overlap check: decided all the same.
      Effect.ensuring(decided === undefined ? Effect.void : Deferred.succeed(decided, undefined)),
      Effect.annotateLogs({ job: entry.name, nominal_at: nominalAt.toISOString() })
    )

  /** Records a slot that passed while the process was not running it (suspended, overloaded). */
  const recordMissed = (entry: Entry, nominal: number) =>
    Effect.gen(function*() {
      const runId = randomUUID()
      const at = new Date(yield* Clock.currentTimeMillis)
      const claim = yield* store.claim({
        runId,
        job: entry.name,
        nominalAt: new Date(nominal),
        reason: "scheduled",
        instance,
        at,
        leaseSeconds,
        missed: true
      })
      if (claim._tag !== "Taken") yield* Execution.count(entry.name, "skipped")
    }).pipe(
      Effect.uninterruptible,
      // The job's fiber must outlive a run store that fails.
      Effect.catchAllDefect((defect) =>
        Effect.logError("missed slot not recorded: the run store failed").pipe(
          Effect.annotateLogs({
            job: entry.name,
            nominal_at: new Date(nominal).toISOString(),
            error: Execution.describe(defect)
          })
        )
      )
    )

  return { slot, recordMissed }
}
