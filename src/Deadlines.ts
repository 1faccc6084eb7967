/**
 * Run timeouts without a race per run: one fiber per scheduler keeps the
 * deadlines of the running runs in a heap, sleeps (on the `Clock`, so
 * `TestClock` drives it) until the earliest, and interrupts the fiber of a
 * run whose deadline has passed. A run that ends first removes its deadline.
 *
 * `Effect.timeout` forks two fibers per run and races them: at a thousand
 * runs a second that was the largest single cost of a run (see bench/).
 */
import { Cause, type Clock, Deferred, Effect, Equal, type Fiber, FiberId, HashSet, type Scope } from "effect"
import { Heap, type Timer } from "./Heap.js"

/** A run's deadline in the heap. */
interface Deadline extends Timer {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
}

/** Longest single sleep: Node's timers cannot wait longer than 24.8 days. */
const MAX_SLEEP = 3_600_000

export interface Deadlines {
  /**
   * `effect` on the current fiber with a deadline `millis` from when it
   * starts: past it, the fiber is interrupted (its finalizers run) by the
   * watchdog. For a fiber that records its run's outcome without being
   * spoiled by an interruption that arrives just as the run ends.
   */
  readonly within: <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number) => Effect.Effect<A, E, R>
  /**
   * `within` for a caller already uninterruptible (a run's `execute`): the deadline is set and removed in the
   * caller's uninterruptible region, with no region of its own, and `effect` is as interruptible as the caller makes
   * it (`restore`).
   */
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number) => Effect.Effect<A, E, R>
  /** True when `cause` is an interruption by the watchdog alone: a deadline passed, nothing else stopped the run. */
  readonly isTimeout: (cause: Cause.Cause<unknown>) => boolean
}

/** The clock's monotonic time in milliseconds (the wall clock may step; TestClock drives this too). */
const monotonic = (clock: Clock.Clock) => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)

/** The watchdog, running in the current scope. */
export const make: Effect.Effect<Deadlines, never, Scope.Scope> = Effect.gen(function*() {
  const heap = new Heap<Deadline>()
  const clock = yield* Effect.clock
  /** When the watchdog wakes next (Infinity: it waits for a deadline). */
  let target = Infinity
  let wake = yield* Deferred.make<void>()
  /** The interruptor of timed-out runs: the watchdog's own fiber. */
  let watchdogId: FiberId.FiberId = FiberId.none

  const watchdog = Effect.gen(function*() {
    watchdogId = yield* Effect.fiberId
    for (;;) {
      const now = monotonic(clock)
      for (let first = heap.peek(); first !== undefined && first.at <= now; first = heap.peek()) {
        heap.remove(first)
        first.fiber.unsafeInterruptAsFork(watchdogId)
      }
      wake = yield* Deferred.make<void>()
      const next = heap.peek()
      if (next === undefined) {
        target = Infinity
        yield* Deferred.await(wake)
      } else {
        target = Math.min(next.at, now + MAX_SLEEP)
        yield* Effect.raceFirst(Effect.sleep(target - now), Deferred.await(wake))
      }
    }
  })
  yield* Effect.forkScoped(watchdog)

  // Pushed and its removal set up in one step, uninterruptible: an interruption in between would leave it behind.
  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const deadline: Deadline = { at: monotonic(clock) + millis, fiber, index: -1 }
      heap.push(deadline)
      // Earlier than the watchdog means to wake (rare: deadlines mostly come later than those before).
      if (deadline.at < target) Deferred.unsafeDone(wake, Effect.void)
      return Effect.flatMap(Effect.exit(effect), (exit) => {
        heap.remove(deadline)
        return exit
      })
    })
  const within = <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => guard(restore(effect), millis))
  const isTimeout = (cause: Cause.Cause<unknown>) =>
    Cause.isInterruptedOnly(cause) && HashSet.every(Cause.interruptors(cause), (id) => Equal.equals(id, watchdogId))
  return { within, guard, isTimeout }
})
