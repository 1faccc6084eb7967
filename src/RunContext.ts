/**
 * Which run the code executing now belongs to, outside Effect too. Every fiber, each time it resumes, enters the
 * `AsyncLocalStorage` context of its run (a fiber-local value, inherited by what a run forks), or none: the timers,
 * promises and callbacks a run's code creates carry its job and run, so an error thrown in a detached callback, or
 * a rejection nobody handled, can be traced to its job, and a fiber a run wakes up does not take the run's context
 * along. The same hook measures how long a run's fiber holds the event loop without a pause.
 *
 * `layer` installs the hook for every fiber of what it is provided to (the worker does); without it, a run still
 * installs it for its own fibers.
 */
import { Effect, type Fiber, FiberRef, type Layer, Supervisor } from "effect"
import { AsyncLocalStorage } from "node:async_hooks"
import { performance } from "node:perf_hooks"

/** What names a run in the process's own log lines. */
export interface RunTag {
  readonly job: string
  readonly runId: string
  readonly nominalAt: Date
}

const storage = new AsyncLocalStorage<RunTag | undefined>()

/** The run whose code is executing, or whose timer, promise or callback this is; `undefined` outside runs. */
export const current = (): RunTag | undefined => storage.getStore()

/** The run a fiber works for: set by `within`, inherited by the fibers it forks. */
const currentTag = FiberRef.unsafeMake<RunTag | undefined>(undefined)

const live = new Set<RunTag>()

/** The runs in flight in this process. */
export const running = (): ReadonlyArray<RunTag> => [...live]

/** A run's fiber that holds the event loop longer than this without a pause is reported. */
export const BLOCK_THRESHOLD_MILLIS = 1000

let blocked: { readonly tag: RunTag; readonly millis: number } | undefined

/** The longest stretch (over the threshold) a run's fiber held the event loop since the last call. */
export const takeBlocked = (): { readonly tag: RunTag; readonly millis: number } | undefined => {
  const longest = blocked
  blocked = undefined
  return longest
}

/**
 * The fibers' stretches on the event loop, as a stack (a fiber may start another one synchronously): each one's
 * fiber, the context to restore when it pauses, its run, and since when it runs. Parallel arrays reused from one
 * stretch to the next: this runs at every resume of every fiber, and allocates nothing.
 */
const stackFibers: Array<Fiber.RuntimeFiber<unknown, unknown> | undefined> = []
const stackPrevious: Array<RunTag | undefined> = []
const stackTags: Array<RunTag | undefined> = []
const stackSince: Array<number> = []
let depth = 0

const enter = (fiber: Fiber.RuntimeFiber<unknown, unknown>, tag: RunTag | undefined): void => {
  const previous = storage.getStore()
  stackFibers[depth] = fiber
  stackPrevious[depth] = previous
  stackTags[depth] = tag
  stackSince[depth] = tag === undefined ? 0 : performance.now()
  depth++
  if (previous !== tag) storage.enterWith(tag)
}

/** Notes how long the run of the stretch at `index` held the loop, when it is over the threshold. */
const measure = (index: number): void => {
  const tag = stackTags[index]
  if (tag === undefined) return
  const millis = performance.now() - stackSince[index]!
  if (millis > BLOCK_THRESHOLD_MILLIS && (blocked === undefined || millis > blocked.millis)) {
    blocked = { tag, millis }
  }
}

const leave = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void => {
  const top = depth - 1
  if (top < 0 || stackFibers[top] !== fiber) return
  depth = top
  measure(top)
  const previous = stackPrevious[top]
  stackFibers[top] = undefined
  stackPrevious[top] = undefined
  stackTags[top] = undefined
  if (storage.getStore() !== previous) storage.enterWith(previous)
}

/** Enters each resuming fiber's run context (or none), and restores the one before when it pauses. */
class ContextSupervisor extends Supervisor.AbstractSupervisor<void> {
  readonly value = Effect.void
  override onResume<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    enter(fiber, fiber.getFiberRef(currentTag))
  }
  override onSuspend<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    leave(fiber)
  }
}

const supervisor = new ContextSupervisor()

/** Every fiber of what this is provided to resumes in its own run's context, or in none. */
export const layer: Layer.Layer<never> = Supervisor.addSupervisor(supervisor)

/** Whether `candidate` is, or combines, the context supervisor. */
const includesUncached = (candidate: unknown): boolean =>
  candidate === supervisor ||
  (typeof candidate === "object" && candidate !== null && "left" in candidate && "right" in candidate &&
    (includesUncached(candidate.left) || includesUncached(candidate.right)))

const included = new WeakMap<object, boolean>()
const includes = (candidate: object): boolean => {
  let result = included.get(candidate)
  if (result === undefined) {
    result = includesUncached(candidate)
    included.set(candidate, result)
  }
  return result
}

/**
 * `effect` as the code of the run `tag`: while it executes (and in what it forks), `current()` is `tag`, and so
 * it is in the callbacks its code leaves behind.
 */
export const within = <A, E, R>(tag: RunTag, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) => guard(tag, restore(effect)))

/**
 * `within` for a caller already uninterruptible (a run's `execute`): the run's context is entered and left in the
 * caller's uninterruptible region, with no region of its own, and `effect` is as interruptible as the caller makes
 * it (`restore`).
 */
export const guard = <A, E, R>(tag: RunTag, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => {
    live.add(tag)
    const installed = includes(fiber.currentSupervisor)
    const top = depth - 1
    // This stretch began before the fiber was the run's: it becomes the run's now.
    if (installed && top >= 0 && stackFibers[top] === fiber) {
      stackTags[top] = tag
      stackSince[top] = performance.now()
      storage.enterWith(tag)
    } else {
      enter(fiber, tag)
    }
    // Set for the run's stretch (and inherited by what it forks), as `Effect.locally` would, in one step each way.
    const previous = fiber.getFiberRef(currentTag)
    const body = FiberRef.set(currentTag, tag).pipe(
      Effect.zipRight(Effect.exit(installed ? effect : Effect.supervised(effect, supervisor))),
      Effect.zipLeft(FiberRef.set(currentTag, previous))
    )
    return Effect.flatMap(body, (exit) => {
      live.delete(tag)
      const last = depth - 1
      if (last < 0 || stackFibers[last] !== fiber) return exit
      if (installed) {
        // The stretch goes on, no longer the run's.
        measure(last)
        stackTags[last] = undefined
        storage.enterWith(undefined)
      } else {
        leave(fiber)
      }
      return exit
    })
  })
