/**
 * One slot of one job, from its claim in the run store to its recorded outcome: the overlap policy, the jitter
 * delay, the global concurrency limit, then the run itself (`Execution`). Every claimed slot gets an outcome,
 * whatever interrupts it. Written as flat chains with no work the common case does not need: this is what every
 * run of every job goes through.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, FiberRef, HashMap, Option, Random } from "effect"
import { randomUUID } from "node:crypto"
import type { Deadlines } from "./Deadlines.js"
import type { Entry } from "./Entry.js"
import * as Execution from "./Execution.js"
import type { InFlight } from "./InFlight.js"
import type { RunReason } from "./Job.js"
import * as Metrics from "./Metrics.js"
import * as Overlap from "./Overlap.js"
import type { MissedReason, Others, RunStoreShape, SkipReason } from "./RunStore.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

/** What slots share: the scheduler's store, the runs in flight, the deadlines. */
export interface Dependencies {
  readonly config: WorkerConfigShape
  readonly store: RunStoreShape
  /** `host:pid`, recorded with every run. */
  readonly instance: string
  readonly inFlight: InFlight
  /** The runs' timeouts. */
  readonly deadlines: Deadlines
  readonly clock: Clock.Clock
  /** Called with a slot the store failed to take (unreachable): it is recorded once the store answers again. */
  readonly onStoreFailure: (entry: Entry, nominal: number) => void
}

/** What a slot may be given beyond its job, instant, reason and run id. */
export interface SlotOptions {
  /**
   * Completed once this instance has decided whether the slot runs (claimed and past the local overlap check); with
   * `answerWhenQueued`, also once the run waits in the queue.
   */
  readonly decided?: Deferred.Deferred<void> | undefined
  /** Complete `decided` when the run starts waiting in the queue (a manual run not waited for). */
  readonly answerWhenQueued?: boolean | undefined
  /** For a `rerun`: the abandoned run it runs again. */
  readonly rerunOf?: string | undefined
  /** For a `backfill`: its id (see `Claim.backfillId`). */
  readonly backfillId?: string | undefined
}

/**
 * What came of a slot on this instance: `claimed` here (whatever came of the run, even an outcome the store then
 * failed to write), `taken` by another instance (or not tried: shutdown began), or `unrecorded`: the store failed
 * before it took the claim, and `onStoreFailure` has the slot.
 */
export type Claimed = "claimed" | "taken" | "unrecorded"

const ran = Effect.succeed<Claimed>("claimed")
const taken = Effect.succeed<Claimed>("taken")

const put = (annotations: HashMap.HashMap<string, unknown>, key: string, value: unknown) =>
  HashMap.set(annotations, key, value)

export const make = ({ clock, config, deadlines, inFlight, instance, onStoreFailure, store }: Dependencies) => {
  const leaseSeconds = Duration.toSeconds(config.leaseDuration)
  const skip = (
    entry: { readonly name: string },
    runId: string,
    reason: SkipReason,
    message: string,
    fields?: Record<string, unknown>
  ) =>
    Effect.zipRight(
      fields === undefined ? Effect.logWarning(message) : Effect.annotateLogs(Effect.logWarning(message), fields),
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        Metrics.unsafeSkip(entry.name, reason)
        return store.finish(runId, { status: "skipped", skipReason: reason, attempt: 0, at: new Date(at) })
      })
    )
  const ctx: Overlap.Context = { store, instance, inFlight, skip }

  /** Jitter, a last look at shutdown, the global limit, the run. */
  const run = (entry: Entry, runId: string, nominalAt: Date, reason: RunReason): Effect.Effect<void> => {
    const go = Effect.suspend(() => {
      if (inFlight.closed()) return skip(entry, runId, "shutdown", "job skipped (shutdown began before it started)")
      if (!inFlight.acquire()) {
        return skip(entry, runId, "max_concurrent", "job skipped (max concurrent executions reached)", {
          max_concurrent: config.maxConcurrentJobs
        })
      }
      // The permit and the job's overlap state are given back when the work ends, not once the outcome is
      // recorded: a store slow to take outcomes (a busy database) must not make the next slots skip (overlap,
      // max_concurrent), which would give it more to write.
      let held = true
      const ended = () => {
        if (!held) return
        held = false
        inFlight.release()
        Overlap.leave(entry, runId)
      }
      return Effect.ensuring(
        Execution.execute(
          store,
          deadlines,
          clock,
          entry,
          { job: entry.name, runId, nominalAt, reason },
          inFlight.reasonOf,
          ended
        ),
        Effect.sync(ended)
      )
    })
    if (Option.isNone(entry.jitter) || reason !== "scheduled") return go
    const jitter = Duration.toMillis(entry.jitter.value)
    return Effect.zipRight(
      Effect.flatMap(
        Random.nextIntBetween(0, jitter + 1),
        (delay) => Effect.raceFirst(Effect.sleep(delay), Deferred.await(inFlight.closing))
      ),
      go
    )
  }

  /** After the claim: the overlap policy (here, then across instances), then `run`. */
  const admitAndRun = (
    entry: Entry,
    runId: string,
    nominalAt: Date,
    reason: RunReason,
    others: Others,
    decided: Deferred.Deferred<void> | undefined,
    answerWhenQueued: boolean | undefined
  ): Effect.Effect<void> => {
    const waited = entry.state.active.length > 0
    const queued = answerWhenQueued ? decided : undefined
    return Effect.flatMap(Overlap.admit(ctx, entry, runId, nominalAt, queued), (local) => {
      if (decided !== undefined) Deferred.unsafeDone(decided, Exit.void)
      if (!local) return Effect.void
      const go = run(entry, runId, nominalAt, reason)
      if (!store.shared) return go
      // After a wait here, what the claim saw of the other instances is stale.
      const now = waited && entry.overlap === "queue" ? store.others(entry.name, instance) : Effect.succeed(others)
      return Effect.flatMap(
        Effect.flatMap(now, (seen) => Overlap.admitAcrossInstances(ctx, entry, runId, nominalAt, seen)),
        (may) => (may ? go : Effect.void)
      )
    })
  }

  /** A run stopped before `execute` recorded anything (queued, in its jitter delay, being replaced). */
  const recordInterrupted = (entry: Entry, runId: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const error = inFlight.reasonOf(runId) ?? "interrupted"
      return Effect.flatMap(
        store.finish(runId, { status: "interrupted", attempt: 0, at: new Date(now), error }),
        (recorded) => {
          if (!recorded) return Effect.void
          Metrics.unsafeCount(entry.name, "interrupted")
          return Effect.annotateLogs(Effect.logWarning("job interrupted"), "error", error)
        }
      )
    })

  /**
   * One slot, from claim to recorded outcome. Uninterruptible except while it waits or runs, so that a claimed slot
   * always gets an outcome. What came of the slot here (see `Claimed`). Runs on a fiber of its
   * own (`InFlight.start`): it sets that fiber's log annotations and span.
   */
  const slot = (
    entry: Entry,
    nominal: number,
    reason: RunReason,
    runId: string,
    options: SlotOptions = {}
  ): Effect.Effect<Claimed> => {
    const { answerWhenQueued, backfillId, decided, rerunOf } = options
    const nominalAt = new Date(nominal)
    /** Set once the store took the claim: a failure after it leaves the slot its row (see `catchAllDefect`). */
    let inStore = false
    const claimed = Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() =>
        Effect.flatMap(
          store.claim({
            runId,
            job: entry.name,
            nominalAt,
            reason,
            instance,
            at: new Date(clock.unsafeCurrentTimeMillis()),
            leaseSeconds,
            rerunOf,
            scheduleVersion: entry.scheduleVersion,
            backfillId
          }),
          (claim): Effect.Effect<Claimed> => {
            if (claim._tag === "Taken") return Effect.zipRight(Effect.logDebug("slot already claimed"), taken)
            inStore = true
            if (claim._tag === "Paused") {
              Metrics.unsafeSkip(entry.name, "paused")
              return Effect.zipRight(Effect.logInfo("job skipped (paused)"), ran)
            }
            // Uninterruptible here: the exit captured, then what `onInterrupt` and `ensuring` would do, in one step.
            const run = restore(admitAndRun(entry, runId, nominalAt, reason, claim.others, decided, answerWhenQueued))
            return Effect.flatMap(Effect.exit(run), (exit): Effect.Effect<Claimed> => {
              const release = Overlap.release(ctx, entry, runId)
              if (Exit.isSuccess(exit)) return Effect.zipRight(release, ran)
              if (!Exit.isInterrupted(exit)) return Effect.zipRight(release, Exit.failCause(exit.cause))
              return Effect.flatMap(Effect.exit(recordInterrupted(entry, runId)), (recorded) =>
                Effect.zipRight(
                  release,
                  Exit.failCause(Exit.isSuccess(recorded) ? exit.cause : Cause.sequential(exit.cause, recorded.cause))
                ))
            })
          }
        )
      )
    ).pipe(
      Effect.catchAllDefect((defect): Effect.Effect<Claimed> => {
        const error = { error: Execution.describe(defect) }
        // The store failed after it took the claim (an overlap check, the outcome): the slot has its row, which the
        // lease reaper marks abandoned if no outcome reaches it.
        if (inStore) {
          return Effect.zipRight(
            Effect.annotateLogs(Effect.logError("run outcome not recorded: the run store failed"), error),
            ran
          )
        }
        // The run store failed before (the database is down): the slot is recorded once it answers again.
        if (reason !== "manual" && reason !== "backfill") onStoreFailure(entry, nominal)
        return Effect.as(
          Effect.annotateLogs(Effect.logError("slot not recorded: the run store failed"), error),
          "unrecorded" as const
        )
      })
    )
    // On the slot's own fiber: its annotations are set, not scoped (nothing to restore after).
    const annotate = FiberRef.update(
      FiberRef.currentLogAnnotations,
      (annotations) =>
        put(
          put(put(put(annotations, "job", entry.name), "nominal_at", nominalAt.toISOString()), "run_id", runId),
          "reason",
          reason
        )
    )
    return Effect.zipRight(
      annotate,
      // Taken, paused, failed or interrupted before the overlap check: decided all the same.
      decided === undefined ? claimed : Effect.ensuring(claimed, Deferred.succeed(decided, undefined))
    )
  }

  /** Records a slot that passed unrun: the process was not running it (suspended, overloaded), or the store failed. */
  const recordMissed = (entry: Entry, nominal: number, missed: MissedReason) =>
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
        missed,
        scheduleVersion: entry.scheduleVersion
      })
      if (claim._tag !== "Taken") Metrics.unsafeSkip(entry.name, claim._tag === "Paused" ? "paused" : missed)
    }).pipe(
      Effect.uninterruptible,
      // The job must outlive a run store that fails; the slot is recorded once it answers again.
      Effect.catchAllDefect((defect) =>
        Effect.logError("missed slot not recorded: the run store failed").pipe(
          Effect.zipLeft(Effect.sync(() => onStoreFailure(entry, nominal))),
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
