/**
 * Which run the code executing now belongs to, outside Effect too. A run's fiber enters its run's context each
 * time it resumes (Node's `AsyncLocalStorage`), so the timers, promises and callbacks its code creates carry it:
 * an error thrown in a detached callback, or a rejection nobody handled, can be traced to its job. The same hook
 * measures how long a run's fiber holds the event loop without a pause.
 */
import { Effect, type Fiber, Supervisor } from "effect"
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

/** One fiber's stretch on the event loop: what to restore when it pauses, and since when it runs. */
interface Frame {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly previous: RunTag | undefined
  readonly since: number
}

/** Stretches nest: a fiber may start another one synchronously. */
const frames: Array<Frame> = []

const enter = (fiber: Fiber.RuntimeFiber<unknown, unknown>, tag: RunTag): void => {
  frames.push({ fiber, previous: storage.getStore(), since: performance.now() })
  storage.enterWith(tag)
}

const leave = (fiber: Fiber.RuntimeFiber<unknown, unknown>, tag: RunTag): void => {
  const top = frames[frames.length - 1]
  if (top === undefined || top.fiber !== fiber) return
  frames.pop()
  const millis = performance.now() - top.since
  if (millis > BLOCK_THRESHOLD_MILLIS && (blocked === undefined || millis > blocked.millis)) blocked = { tag, millis }
  storage.enterWith(top.previous)
}

/** Tells the run's context in and out each time one of its fibers resumes and pauses. */
class RunSupervisor extends Supervisor.AbstractSupervisor<void> {
  readonly value = Effect.void
  constructor(readonly tag: RunTag) {
    super()
  }
  override onResume<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    enter(fiber, this.tag)
  }
  override onSuspend<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
    leave(fiber, this.tag)
  }
}

/**
 * `effect` as the code of the run `tag`: while it executes (and in what it forks), `current()` is `tag`, and so
 * it is in the callbacks its code leaves behind.
 */
export const within = <A, E, R>(tag: RunTag, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      live.add(tag)
      enter(fiber, tag)
      return restore(Effect.supervised(effect, new RunSupervisor(tag))).pipe(
        Effect.ensuring(Effect.sync(() => {
          leave(fiber, tag)
          live.delete(tag)
        }))
      )
    })
  )
