/**
 * The run timeouts' watchdog, on `TestClock`: a run past its deadline is
 * interrupted by the watchdog (finalizers run) and `isTimeout` says so; a run
 * that ends first is left alone; an interruption by anyone else is not a
 * timeout; a deadline earlier than the others wakes the watchdog; many at
 * once are kept apart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import * as Deadlines from "../src/Deadlines.js"

const timedOut = (deadlines: Deadlines.Deadlines, exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && deadlines.isTimeout(exit.cause)

describe("Deadlines", () => {
  it.scoped("interrupts a run past its deadline and runs its finalizers; a run that ends first is left alone", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      let finalized = 0
      const slow = yield* Effect.fork(
        deadlines.within(Effect.sleep("10 seconds").pipe(Effect.ensuring(Effect.sync(() => finalized++))), 5000)
      )
      const quick = yield* Effect.fork(deadlines.within(Effect.as(Effect.sleep("2 seconds"), "done"), 5000))
      yield* TestClock.adjust("4999 millis")
      expect(slow.unsafePoll()).toBeNull()
      expect(yield* Fiber.join(quick)).toBe("done")
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(slow)
      expect([timedOut(deadlines, exit), finalized]).toEqual([true, 1])
    }))

  it.scoped("an interruption by another fiber (replace, shutdown) is not a timeout", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const run = yield* Effect.fork(deadlines.within(Effect.never, 5000))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(run)
      const exit = yield* Fiber.await(run)
      expect([Exit.isInterrupted(exit), timedOut(deadlines, exit)]).toEqual([true, false])
    }))

  it.scoped("a deadline earlier than those waiting wakes the watchdog", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const late = yield* Effect.fork(deadlines.within(Effect.never, 60_000))
      yield* TestClock.adjust("1 second")
      const early = yield* Effect.fork(deadlines.within(Effect.never, 1000))
      yield* TestClock.adjust("1 second")
      expect(timedOut(deadlines, yield* Fiber.await(early))).toBe(true)
      expect(late.unsafePoll()).toBeNull()
      yield* TestClock.adjust("58 seconds")
      expect(timedOut(deadlines, yield* Fiber.await(late))).toBe(true)
    }))

  it.scoped("many runs: each is interrupted at its own deadline, those that ended are not", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const expired: Array<number> = []
      // Deadlines 1..200 s in a scrambled order; the even ones end 1 ms before theirs.
      const order = Array.from({ length: 200 }, (_, i) => ((i * 73) % 200) + 1)
      for (const seconds of order) {
        const work = seconds % 2 === 0 ? Effect.sleep(seconds * 1000 - 1) : Effect.never
        yield* Effect.fork(
          deadlines.within(work, seconds * 1000).pipe(
            Effect.onInterrupt(() => Effect.sync(() => expired.push(seconds)))
          )
        )
      }
      for (let s = 1; s <= 200; s++) yield* TestClock.adjust("1 second")
      expect(expired).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 1))
    }))
})
