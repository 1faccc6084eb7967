/**
 * The runs in flight: the fibers of the slots being decided or run, why one was interrupted, the global limit on
 * concurrent runs, and whether new runs may start at all. Closing it is the first step of shutdown: no run starts
 * after it; those running get the grace period, then are interrupted with a reason.
 */
import { Clock, Deferred, Duration, Effect, Fiber, Runtime, type Scope } from "effect"

export interface InFlight {
  /** Starts `effect` on a fiber of its own, with the scheduler's context (not the caller's), tracked until it ends. */
  readonly start: <A>(effect: Effect.Effect<A>) => Fiber.RuntimeFiber<A>
  /** True once shutdown began: no run starts. */
  readonly closed: () => boolean
  /** Completes when shutdown begins. */
  readonly closing: Deferred.Deferred<void>
  /** Takes a slot of the global limit (`WORKER_MAX_CONCURRENT_JOBS`); `false` when all are taken. */
  readonly acquire: () => boolean
  /** Gives back a slot of the global limit. */
  readonly release: () => void
  /** Says why the run `runId` is about to be interrupted (the first reason given is kept). */
  readonly interruptWith: (runId: string, reason: string) => void
  /** Why the run `runId` was interrupted, if a reason was given. */
  readonly reasonOf: (runId: string) => string | undefined
  /** Forgets the reason of a run that ended. */
  readonly forget: (runId: string) => void
  /** Begins shutdown: no new run starts. */
  readonly close: Effect.Effect<void>
  /**
   * Shutdown's end: waits up to `grace` for every fiber to end, then interrupts those left, the runs among them
   * (`running`, by run id) with the reason that the grace period expired.
   */
  readonly drain: (grace: Duration.Duration, running: () => ReadonlyArray<string>) => Effect.Effect<void>
}

/** How often shutdown checks whether the runs have ended. */
const SHUTDOWN_POLL = 50

/** `maxConcurrent` ≤ 0: no limit. */
export const make = (maxConcurrent: number): Effect.Effect<InFlight, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const fibers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const reasons = new Map<string, string>()
    const closing = yield* Deferred.make<void>()
    let closed = false
    let running = 0

    const start = <A>(effect: Effect.Effect<A>): Fiber.RuntimeFiber<A> => {
      const fiber = runFork(effect)
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
      return fiber
    }
    const interruptAll = Effect.suspend(() => Fiber.interruptAll([...fibers]))
    const awaitIdle = awaitIdleOf(fibers)
    // Whatever happens to the scope, nothing it started outlives it.
    yield* Effect.addFinalizer(() => interruptAll)

    return {
      start,
      closed: () => closed,
      closing,
      acquire: () => {
        if (maxConcurrent > 0 && running >= maxConcurrent) return false
        running++
        return true
      },
      release: () => {
        running--
      },
      interruptWith: (runId, reason) => {
        if (!reasons.has(runId)) reasons.set(runId, reason)
      },
      reasonOf: (runId) => reasons.get(runId),
      forget: (runId) => {
        reasons.delete(runId)
      },
      close: Effect.suspend(() => {
        closed = true
        return Deferred.succeed(closing, undefined)
      }),
      drain: (grace, running) =>
        Effect.gen(function*() {
          if (fibers.size > 0) {
            yield* Effect.logInfo("waiting for running jobs").pipe(
              Effect.annotateLogs({ running: fibers.size, shutdown_timeout_seconds: Duration.toSeconds(grace) })
            )
          }
          if (yield* awaitIdle(grace)) return yield* Effect.logInfo("all running jobs completed")
          yield* Effect.logWarning("shutdown timeout reached, interrupting running jobs").pipe(
            Effect.annotateLogs({ running: fibers.size })
          )
          for (const runId of running()) reasons.set(runId, "interrupted at shutdown (grace period expired)")
          yield* interruptAll
          yield* Effect.logInfo("running jobs interrupted")
        })
    }
  })

/** Waits up to `grace` for `fibers` to be none; `true` if they were. */
const awaitIdleOf = (fibers: Set<unknown>) => (grace: Duration.Duration) =>
  Effect.gen(function*() {
    // The monotonic clock: a wall clock stepped meanwhile must not cut the grace short, nor stretch it.
    const monotonic = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1_000_000n))
    const deadline = (yield* monotonic) + Duration.toMillis(grace)
    for (;;) {
      if (fibers.size === 0) return true
      const now = yield* monotonic
      if (now >= deadline) return false
      yield* Effect.sleep(Math.min(SHUTDOWN_POLL, deadline - now))
    }
  })
