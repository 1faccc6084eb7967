/**
 * The run timeouts' watchdog, on `TestClock`: a run past its deadline is
 * interrupted (finalizers run) and told so; a run that ends first is not; a
 * deadline earlier than the others wakes the watchdog; many at once are kept
 * apart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import * as Deadlines from "../src/Deadlines.js"

describe("Deadlines", () => {
  it.scoped("interrupts a run past its deadline, runs its finalizers and calls onExpire; a run that ends first is left alone", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const expired: Array<string> = []
      let finalized = 0
      const slow = yield* Effect.fork(
        deadlines.within(Effect.sleep("10 seconds").pipe(Effect.ensuring(Effect.sync(() => finalized++))), 5000, () => expired.push("slow"))
      )
      const quick = yield* Effect.fork(deadlines.within(Effect.as(Effect.sleep("2 seconds"), "done"), 5000, () => expired.push("quick")))
      yield* TestClock.adjust("4999 millis")
      expect(expired).toEqual([])
      expect(yield* Fiber.join(quick)).toBe("done")
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(slow)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect([expired, finalized]).toEqual([["slow"], 1])
    }))

  it.scoped("a deadline earlier than those waiting wakes the watchdog", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const expired: Array<string> = []
      const late = yield* Effect.fork(deadlines.within(Effect.never, 60_000, () => expired.push("late")))
      yield* TestClock.adjust("1 second")
      const early = yield* Effect.fork(deadlines.within(Effect.never, 1000, () => expired.push("early")))
      yield* TestClock.adjust("1 second")
      expect(expired).toEqual(["early"])
      expect(Exit.isInterrupted(yield* Fiber.await(early))).toBe(true)
      yield* TestClock.adjust("58 seconds")
      expect(expired).toEqual(["early", "late"])
      expect(Exit.isInterrupted(yield* Fiber.await(late))).toBe(true)
    }))

  it.scoped("many runs: each is interrupted at its own deadline, those that ended are not", () =>
    Effect.gen(function*() {
      const deadlines = yield* Deadlines.make
      const expired: Array<number> = []
      // Deadlines 1..200 s in a scrambled order; the even ones end 1 ms before theirs.
      const order = Array.from({ length: 200 }, (_, i) => ((i * 73) % 200) + 1)
      for (const seconds of order) {
        const work = seconds % 2 === 0 ? Effect.sleep(seconds * 1000 - 1) : Effect.never
        yield* Effect.fork(deadlines.within(work, seconds * 1000, () => expired.push(seconds)))
      }
      for (let s = 1; s <= 200; s++) yield* TestClock.adjust("1 second")
      expect(expired).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 1))
    }))
})
