/**
 * The overlap policy of one job: which of its runs are active, which one waits
 * under `queue`, and whether a new slot may start. The state is plain mutable
 * data owned by the scheduler; only `admit` and `release` touch it, each in one
 * synchronous step, so no two fibers can interleave inside a decision.
 */
import { Deferred, Effect, Fiber } from "effect"
import type { Overlap } from "./Job.js"

/** A run past the overlap check and not yet finished. */
export interface Active {
  readonly runId: string
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
}

/** One job's bookkeeping. */
export interface State {
  active: ReadonlyArray<Active>
  /** The one slot waiting under `queue`. */
  queued: { readonly gate: Deferred.Deferred<void>; readonly run: Active } | undefined
}

export const empty = (): State => ({ active: [], queued: undefined })

/** Why a slot may not start. */
export type Refusal = "overlap" | "overlap_queue_full" | "shutdown"

/**
 * Decides whether the run `runId` (the current fiber) may start under
 * `policy`. `replace` interrupts the active runs, after `onReplace` names them,
 * and waits until they have stopped.
 * `queue` waits until the active run ends, or until `stopping` completes;
 * `onQueue` first says whether the run may wait (the run store keeps at most
 * one waiting run per job across instances), `onDequeue` runs when it may go.
 * On `undefined` the run is active and must `release` when it ends.
 */
export const admit = (
  state: State,
  policy: Overlap,
  runId: string,
  stopping: Deferred.Deferred<void>,
  onReplace: (previous: ReadonlyArray<Active>) => Effect.Effect<void>,
  onQueue: Effect.Effect<boolean>,
  onDequeue: Effect.Effect<void>
): Effect.Effect<Refusal | undefined> =>
  Effect.withFiberRuntime<Refusal | undefined>((fiber) => {
    const self: Active = { runId, fiber }
    const enter = Effect.sync(() => {
      state.active = [...state.active, self]
      return undefined
    })
    if (state.active.length === 0 || policy === "allow") return enter
    switch (policy) {
      case "skip":
        return Effect.succeed("overlap")
      case "replace": {
        // Active at once, while the previous runs wind down: a later slot replaces this one too,
        // so at most one run waits for a run that is slow to stop.
        const previous = state.active
        state.active = [...previous, self]
        return onReplace(previous).pipe(
          Effect.zipRight(Fiber.interruptAll(previous.map((run) => run.fiber))),
          Effect.as(undefined)
        )
      }
      case "queue": {
        if (state.queued !== undefined) return Effect.succeed("overlap_queue_full")
        const gate = Deferred.unsafeMake<void>(fiber.id())
        state.queued = { gate, run: self }
        const wait = Effect.logInfo("job queued (previous run still running)").pipe(Effect.zipRight(Effect.raceFirst(
          Effect.as(Deferred.await(gate), undefined), // `release` made this run active
          Effect.as(Deferred.await(stopping), "shutdown" as const)
        )))
        return Effect.flatMap(onQueue, (may): Effect.Effect<Refusal | undefined> =>
          may ? wait : Effect.succeed("overlap_queue_full")).pipe(
            Effect.tap((refusal) => {
              if (refusal !== undefined && state.queued?.gate === gate) {
                state.queued = undefined
              }
              // The gate opened: this run is active (`release` made it so) and goes.
              return refusal === undefined ? onDequeue : Effect.void
            })
          )
      }
    }
  })

/** Ends the run `runId`; when it was the last active one, the queued run becomes active and starts. */
export const release = (state: State, runId: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    state.active = state.active.filter((run) => run.runId !== runId)
    const queued = state.queued
    if (state.active.length > 0 || queued === undefined) return Effect.void
    state.queued = undefined
    state.active = [queued.run]
    return Deferred.succeed(queued.gate, undefined)
  })
