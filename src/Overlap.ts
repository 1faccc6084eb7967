/**
 * The overlap policies: what a slot does when the previous run of its job is still running, in this process
 * (`local`) and on other instances sharing the run store (`remote`). One entry per policy, as robfig's
 * `SkipIfStillRunning` / `DelayIfStillRunning` wrappers: a new policy is one more entry in `policies`.
 *
 * A job's state is plain mutable data owned by the scheduler; only `admit` and `release` touch it, each in one
 * synchronous step, so no two fibers can interleave inside a decision.
 */
import { Deferred, Duration, Effect, Exit, Fiber } from "effect"
import type { InFlight } from "./InFlight.js"
import type { Overlap } from "./Job.js"
import type { Others, RunStoreShape, SkipReason } from "./RunStore.js"

/** A run past the overlap check and not yet finished. */
export interface Active {
  readonly runId: string
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Completed when the run starts waiting in the queue: a manual run not waited for is answered then. */
  readonly queued?: Deferred.Deferred<void> | undefined
}

/** One job's bookkeeping. */
export interface State {
  active: ReadonlyArray<Active>
  /** The one slot waiting under `queue`. */
  queued: { readonly gate: Deferred.Deferred<void>; readonly run: Active } | undefined
}

export const empty = (): State => ({ active: [], queued: undefined })

/** What the policies need of the job. */
export interface Job {
  readonly name: string
  readonly overlap: Overlap
  readonly state: State
}

/** What the policies use: the store, this instance, the runs in flight, and how a slot is skipped. */
export interface Context {
  readonly store: RunStoreShape
  readonly instance: string
  readonly inFlight: InFlight
  readonly skip: (job: Job, runId: string, reason: SkipReason, message: string) => Effect.Effect<unknown>
}

/** A policy: `true` when the run may start. */
export interface Policy {
  /** In this process, when runs of the job are active here (`self` is not yet among them). */
  readonly local: (ctx: Context, job: Job, self: Active, nominalAt: Date) => Effect.Effect<boolean>
  /** Across instances, when the store shows live runs of the job elsewhere. */
  readonly remote: (ctx: Context, job: Job, runId: string, nominalAt: Date, others: Others) => Effect.Effect<boolean>
}

/** How often a run waiting for another instance's run checks again. */
const REMOTE_POLL = Duration.seconds(1)

const enter = (state: State, self: Active) => {
  state.active = [...state.active, self]
}

/** Waits until no other instance runs the job (polling), or shutdown begins; `true` if it is free. */
const awaitOthers = (ctx: Context, job: Job) =>
  Effect.gen(function*() {
    for (;;) {
      if ((yield* ctx.store.others(job.name, ctx.instance)).running === 0) return true
      const stop = yield* Effect.raceFirst(
        Effect.as(Effect.sleep(REMOTE_POLL), false),
        Effect.as(Deferred.await(ctx.inFlight.closing), true)
      )
      if (stop) return false
    }
  })

const refuse = (ctx: Context, job: Job, runId: string, reason: SkipReason, message: string) =>
  Effect.as(ctx.skip(job, runId, reason, message), false)

export const policies: Record<Overlap, Policy> = {
  allow: {
    local: (_, job, self) => Effect.sync(() => (enter(job.state, self), true)),
    remote: () => Effect.succeed(true)
  },
  skip: {
    local: (ctx, job, self) => refuse(ctx, job, self.runId, "overlap", "job skipped (previous run still running)"),
    remote: (ctx, job, runId) =>
      refuse(ctx, job, runId, "overlap", "job skipped (previous run still running on another instance)")
  },
  queue: {
    // One run waits for the active one; a slot that finds one waiting already is skipped.
    local: (ctx, job, self) => {
      const state = job.state
      const full = "job skipped (previous run still running, one already queued)"
      if (state.queued !== undefined) return refuse(ctx, job, self.runId, "overlap", full)
      const gate = Deferred.unsafeMake<void>(self.fiber.id())
      state.queued = { gate, run: self }
      const wait = Effect.zipRight(
        Effect.logInfo("job queued (previous run still running)"),
        Effect.raceFirst(
          Effect.as(Deferred.await(gate), undefined), // `release` made this run active
          Effect.as(Deferred.await(ctx.inFlight.closing), "shutdown" as const)
        )
      )
      // The run store keeps at most one waiting run per job across instances.
      return Effect.flatMap(
        ctx.store.enqueue(self.runId, job.name),
        (may) => {
          if (may && self.queued !== undefined) Deferred.unsafeDone(self.queued, Exit.void)
          return Effect.flatMap(may ? wait : Effect.succeed("full" as const), (refusal) => {
            if (refusal !== undefined && state.queued?.gate === gate) state.queued = undefined
            switch (refusal) {
              case undefined: // The gate opened: this run is active (`release` made it so) and goes.
                return Effect.as(ctx.store.dequeue(self.runId), true)
              case "full":
                return refuse(ctx, job, self.runId, "overlap", full)
              case "shutdown":
                return refuse(ctx, job, self.runId, "shutdown", "job skipped (shutdown began while it was queued)")
            }
          })
        }
      )
    },
    remote: (ctx, job, runId, _, others) =>
      Effect.gen(function*() {
        if (others.queued > 0 || !(yield* ctx.store.enqueue(runId, job.name))) {
          return yield* refuse(ctx, job, runId, "overlap", "job skipped (a run is already queued on another instance)")
        }
        yield* Effect.logInfo("job queued behind a run on another instance")
        if (!(yield* awaitOthers(ctx, job))) {
          return yield* refuse(ctx, job, runId, "shutdown", "job skipped (shutdown began while it was queued)")
        }
        yield* ctx.store.dequeue(runId)
        return true
      })
  },
  replace: {
    // Active at once, while the previous runs wind down: a later slot replaces this one too, so at most one run
    // waits for a run that is slow to stop.
    local: (ctx, job, self, nominalAt) => {
      const previous = job.state.active
      enter(job.state, self)
      for (const run of previous) {
        ctx.inFlight.interruptWith(run.runId, `replaced by the run of ${nominalAt.toISOString()}`)
      }
      return Effect.logWarning("job replacing its previous run").pipe(
        Effect.annotateLogs({ replaced: previous.length }),
        Effect.zipRight(Fiber.interruptAll(previous.map((run) => run.fiber))),
        Effect.as(true)
      )
    },
    remote: (ctx, job, runId, nominalAt) =>
      Effect.gen(function*() {
        const error = `replaced by the run of ${nominalAt.toISOString()} on instance ${ctx.instance}`
        const asked = yield* ctx.store.requestCancel(job.name, ctx.instance, error)
        yield* Effect.logWarning("job replacing its run on another instance").pipe(
          Effect.annotateLogs({ replaced: asked })
        )
        if (!(yield* awaitOthers(ctx, job))) {
          return yield* refuse(ctx, job, runId, "shutdown", "job skipped (shutdown began while it replaced a run)")
        }
        return true
      })
  }
}

/**
 * Whether the run `runId` (the current fiber) may start under its job's policy, in this process. On `true` the
 * run is active and must `release` when it ends; on `false` the slot was recorded as skipped.
 */
export const admit = (
  ctx: Context,
  job: Job,
  runId: string,
  nominalAt: Date,
  queued?: Deferred.Deferred<void>
): Effect.Effect<boolean> =>
  Effect.withFiberRuntime<boolean>((fiber) => {
    const self: Active = { runId, fiber, queued }
    if (job.state.active.length === 0) {
      enter(job.state, self)
      return Effect.succeed(true)
    }
    return policies[job.overlap].local(ctx, job, self, nominalAt)
  })

/** Whether the run may start given the live runs of its job on other instances (`others`). */
export const admitAcrossInstances = (
  ctx: Context,
  job: Job,
  runId: string,
  nominalAt: Date,
  others: Others
): Effect.Effect<boolean> =>
  others.running === 0 && others.queued === 0
    ? Effect.succeed(true)
    : policies[job.overlap].remote(ctx, job, runId, nominalAt, others)

/**
 * The run `runId` is no longer active: its work ended (its outcome may still be on its way to the store). When it
 * was the last active one, the queued run becomes active and starts. Once per run; a second call does nothing.
 */
export const leave = (job: Job, runId: string): void => {
  const state = job.state
  // Called twice per run (its work's end, then its release): the second finds nothing and allocates nothing.
  if (!state.active.some((run) => run.runId === runId)) return
  const active = state.active.filter((run) => run.runId !== runId)
  state.active = active
  const queued = state.queued
  if (active.length > 0 || queued === undefined) return
  state.queued = undefined
  state.active = [queued.run]
  Deferred.unsafeDone(queued.gate, Exit.void)
}

/** Ends the run `runId`: it leaves the job's active runs (if its work's end did not already) and its reason goes. */
export const release = (ctx: Context, job: Job, runId: string): Effect.Effect<void> =>
  Effect.sync(() => {
    ctx.inFlight.forget(runId)
    leave(job, runId)
  })
