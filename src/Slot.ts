/**
 * One slot of one job, from its claim in the run store to its recorded
 * outcome: the overlap policy, the jitter delay, the global concurrency
 * limit, then the run itself (`Execution`). Every claimed slot gets an
 * outcome, whatever interrupts it.
 */
import { randomUUID } from "node:crypto"
import { Clock, Deferred, Duration, Effect, Option, Random } from "effect"
import * as Execution from "./Execution.js"
import type { RunReason } from "./Job.js"
import * as Overlap from "./Overlap.js"
import type { RunStoreShape, SkipReason } from "./RunStore.js"
import type { JobInfo } from "./Scheduler.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

/** A registered job as the scheduler keeps it: what it lists, what it runs, its overlap state. */
export interface Entry extends JobInfo, Execution.Runnable {
  readonly jitter: Option.Option<Duration.Duration>
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
}

export const make = ({ config, instance, interruptReasons, limit, stopping, store }: Dependencies) => {
  const skip = (entry: Entry, runId: string, reason: SkipReason, message: string, fields: Record<string, unknown> = {}) =>
    Effect.gen(function*() {
      yield* Effect.logWarning(message).pipe(Effect.annotateLogs(fields))
      yield* Execution.count(entry.name, "skipped")
      yield* store.finish(runId, { status: "skipped", skipReason: reason, attempt: 0, at: new Date(yield* Clock.currentTimeMillis) })
    })

  /** The overlap policy: `true` when the run may start (and must then be released). */
  const admit = (entry: Entry, runId: string, nominalAt: Date) =>
    Overlap.admit(entry.state, entry.overlap, runId, stopping, (previous) =>
      Effect.gen(function*() {
        for (const run of previous) {
          if (!interruptReasons.has(run.runId)) interruptReasons.set(run.runId, `replaced by the run of ${nominalAt.toISOString()}`)
        }
        yield* Effect.logWarning("job replacing its previous run").pipe(Effect.annotateLogs({ replaced: previous.length }))
      })).pipe(
        Effect.flatMap((refusal) =>
          refusal === undefined
            ? Effect.succeed(true)
            : skip(entry, runId, refusal === "shutdown" ? "shutdown" : "overlap", REFUSALS[refusal]).pipe(Effect.as(false))
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

  /** After the claim: overlap, jitter, the global limit, the run. */
  const admitAndRun = (entry: Entry, runId: string, nominalAt: Date, reason: RunReason) =>
    Effect.gen(function*() {
      if (!(yield* admit(entry, runId, nominalAt))) return
      if (Option.isSome(entry.jitter) && reason === "scheduled") {
        const delay = yield* Random.nextIntBetween(0, Duration.toMillis(entry.jitter.value) + 1)
        yield* Effect.raceFirst(Effect.sleep(delay), Deferred.await(stopping))
      }
      if (yield* Deferred.isDone(stopping)) {
        return yield* skip(entry, runId, "shutdown", "job skipped (shutdown began before it started)")
      }
      const run = Execution.execute(store, entry, { job: entry.name, runId, nominalAt, reason }, () => interruptReasons.get(runId))
      const admitted = limit === undefined ? Option.some(yield* run) : yield* limit.withPermitsIfAvailable(1)(run)
      if (Option.isNone(admitted)) {
        yield* skip(entry, runId, "max_concurrent", "job skipped (max concurrent executions reached)", {
          max_concurrent: config.maxConcurrentJobs
        })
      }
    })

  /**
   * One slot, from claim to recorded outcome. Uninterruptible except while it
   * waits or runs, so that a claimed slot always gets an outcome.
   */
  const slot = (entry: Entry, nominalAt: Date, reason: RunReason, runId: string) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const at = new Date(yield* Clock.currentTimeMillis)
        if (!(yield* store.claim({ runId, job: entry.name, nominalAt, reason, instance, at }))) {
          return yield* Effect.logDebug("slot already claimed")
        }
        yield* restore(admitAndRun(entry, runId, nominalAt, reason)).pipe(
          Effect.onInterrupt(() => recordInterrupted(entry, runId)),
          Effect.ensuring(release(entry, runId))
        )
      })
    ).pipe(
      // The run store failed (the database is down): the slot is lost, and said so.
      Effect.catchAllDefect((defect) =>
        Effect.logError("slot not recorded: the run store failed").pipe(
          Effect.annotateLogs({ run_id: runId, error: Execution.describe(defect) })
        )
      ),
      Effect.annotateLogs({ job: entry.name, nominal_at: nominalAt.toISOString() })
    )

  /** Records a slot that passed while the process was not running it (suspended, overloaded). */
  const recordMissed = (entry: Entry, nominal: number) =>
    Effect.gen(function*() {
      const runId = randomUUID()
      const at = new Date(yield* Clock.currentTimeMillis)
      if (yield* store.claim({ runId, job: entry.name, nominalAt: new Date(nominal), reason: "scheduled", instance, at })) {
        yield* Execution.count(entry.name, "skipped")
        yield* store.finish(runId, { status: "skipped", skipReason: "missed", attempt: 0, at })
      }
    }).pipe(
      Effect.uninterruptible,
      // The job's fiber must outlive a run store that fails.
      Effect.catchAllDefect((defect) =>
        Effect.logError("missed slot not recorded: the run store failed").pipe(
          Effect.annotateLogs({ job: entry.name, nominal_at: new Date(nominal).toISOString(), error: Execution.describe(defect) })
        )
      )
    )

  return { slot, recordMissed }
}
