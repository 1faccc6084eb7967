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

/** One fiber's stretch on the event loop: its run, what to restore when it pauses, and since when it runs. */
interface Frame {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly previous: RunTag | undefined
  tag: RunTag | undefined
  since: number
}

/** Stretches nest: a fiber may start another one synchronously. */
const frames: Array<Frame> = []

const enter = (fiber: Fiber.RuntimeFiber<unknown, unknown>, tag: RunTag | undefined): void => {
  frames.push({ fiber, previous: storage.getStore(), tag, since: tag === undefined ? 0 : performance.now() })
  storage.enterWith(tag)
}

/** Notes how long `frame`'s run held the loop, when it is over the threshold. */
const measure = (frame: Frame): void => {
  if (frame.tag === undefined) return
  const millis = performance.now() - frame.since
  if (millis > BLOCK_THRESHOLD_MILLIS && (blocked === undefined || millis > blocked.millis)) {
    blocked = { tag: frame.tag, millis }
  }
}

const leave = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void => {
  const top = frames[frames.length - 1]
  if (top === undefined || top.fiber !== fiber) return
  frames.pop()
  measure(top)
  storage.enterWith(top.previous)
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
const includes = (candidate: unknown): boolean =>
  candidate === supervisor ||
  (typeof candidate === "object" && candidate !== null && "left" in candidate && "right" in candidate &&
    (includes(candidate.left) || includes(candidate.right)))

/**
 * `effect` as the code of the run `tag`: while it executes (and in what it forks), `current()` is `tag`, and so
 * it is in the callbacks its code leaves behind.
 */
export const within = <A, E, R>(tag: RunTag, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      live.add(tag)
      const installed = includes(fiber.currentSupervisor)
      const top = frames[frames.length - 1]
      // This stretch began before the fiber was the run's: it becomes the run's now.
      if (installed && top?.fiber === fiber) {
        top.tag = tag
        top.since = performance.now()
        storage.enterWith(tag)
      } else {
        enter(fiber, tag)
      }
      const body = Effect.locally(effect, currentTag, tag)
      return restore(installed ? body : Effect.supervised(body, supervisor)).pipe(
        Effect.ensuring(Effect.sync(() => {
          live.delete(tag)
          const last = frames[frames.length - 1]
          if (last?.fiber !== fiber) return
          if (installed) {
            // The stretch goes on, no longer the run's.
            measure(last)
            last.tag = undefined
            storage.enterWith(undefined)
          } else {
            leave(fiber)
          }
        }))
      )
    })
  )
