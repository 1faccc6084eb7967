/**
 * One clock for every job: a heap of the jobs' next slots and one fiber that sleeps towards the earliest (an hour
 * at most: long timers are unreliable, and the wall clock moves), then hands every job whose slot has come to
 * `onDue`. A job waiting for its slot is an entry here, with no fiber or timer of its own.
 */
import { type Clock, Deferred, Duration, Effect, Fiber, Option, type Scope } from "effect"
import type * as CronSpec from "./CronSpec.js"
import { Heap, type Timer } from "./Heap.js"

/** Longest single sleep of the clock. */
const MAX_SLEEP = Duration.toMillis(Duration.hours(1))

/** What the clock needs of a job: its schedule. */
export interface Scheduled {
  readonly spec: CronSpec.CronSpec
  /** The anchor of `@every` schedules. */
  readonly anchor: number
}

/** A job in the clock: due `at`, its first slot after `after`. */
export interface Waiting<A extends Scheduled> extends Timer {
  readonly entry: A
  after: number
}

export interface JobClock<A extends Scheduled> {
  /** A job's place in the clock, not yet in it. */
  readonly waiting: (entry: A, after: number) => Waiting<A>
  /** Puts the job in the clock, due at its first slot after `after` (never again: left out). */
  readonly arm: (waiting: Waiting<A>, after: number) => void
  /** Takes the job out of the clock (a schedule deleted or replaced by a new version). */
  readonly disarm: (waiting: Waiting<A>) => void
  /** Stops the clock: no job is handed over after it. */
  readonly stop: Effect.Effect<void>
  /** Whether the clock's fiber is alive (for the liveness probe: if it died, no slot would fire again). */
  readonly running: Effect.Effect<boolean>
}

/** The clock, on a fiber of the current scope; `onDue(waiting, now)` gets each job whose slot has come. */
export const make = <A extends Scheduled>(
  clock: Clock.Clock,
  onDue: (waiting: Waiting<A>, now: number) => void
): Effect.Effect<JobClock<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const heap = new Heap<Waiting<A>>()
    /** When the clock means to wake next: an earlier job wakes it. */
    let target = Infinity
    let wake = yield* Deferred.make<void>()
    const arm = (waiting: Waiting<A>, after: number) => {
      const due = waiting.entry.spec.next(after, waiting.entry.anchor)
      waiting.after = after
      if (due === Infinity) return
      waiting.at = due
      heap.push(waiting)
      if (due < target) Deferred.unsafeDone(wake, Effect.void)
    }
    const ticking = Effect.gen(function*() {
      for (;;) {
        const now = clock.unsafeCurrentTimeMillis()
        for (let waiting = heap.popDue(now); waiting !== undefined; waiting = heap.popDue(now)) onDue(waiting, now)
        wake = yield* Deferred.make<void>()
        const next = heap.peek()
        target = next === undefined ? Infinity : next.at
        if (next === undefined) {
          yield* Deferred.await(wake)
          continue
        }
        // From the clock as it is after the hand-over, which takes time (the runs start in it): not from `now`,
        // which would wake the clock that much late for the next slot.
        const left = next.at - clock.unsafeCurrentTimeMillis()
        if (left > 0) yield* Effect.raceFirst(Effect.sleep(Math.min(left, MAX_SLEEP)), Deferred.await(wake))
        // Behind (the hand-over took past the next slot): a turn of the event loop first, for the timers and I/O of
        // everything else (leases, the database, HTTP), which a yield to Effect's scheduler (microtasks) starves.
        else yield* Effect.sleep(0)
      }
    })
    const ticker = yield* Effect.forkScoped(Effect.interruptible(ticking))
    return {
      waiting: (entry, after) => ({ entry, after, at: Infinity, index: -1 }),
      arm,
      disarm: (waiting) => heap.remove(waiting),
      stop: Fiber.interrupt(ticker),
      running: Effect.map(Fiber.poll(ticker), Option.isNone)
    }
  })
