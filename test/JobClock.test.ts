/**
 * The one clock over every job: it sleeps towards the earliest slot, hands the jobs due to `onDue`, and counts its
 * next sleep from the time as it is after that hand-over (the runs start in it), so that a long hand-over does not
 * make it wake late for the next slot.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either } from "effect"
import * as CronSpec from "../src/CronSpec.js"
import * as JobClock from "../src/JobClock.js"

/**
 * A clock whose time moves only when the code under test sleeps (to the end of the sleep) or `spend`s it; after
 * `limit` sleeps it sleeps for ever. `sleeps` holds each sleep asked for, in milliseconds.
 */
const fakeClock = (limit: number) => {
  let now = 0
  const sleeps: Array<number> = []
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: (duration) =>
      Effect.suspend(() => {
        if (sleeps.length >= limit) return Effect.never
        const millis = Duration.toMillis(duration)
        sleeps.push(millis)
        now += millis
        return Effect.void
      })
  }
  return { clock, sleeps, spend: (millis: number) => void (now += millis) }
}

const everySecond = Either.getOrThrow(CronSpec.parse("* * * * * *"))

describe("JobClock", () => {
  it.scoped("a hand-over that takes 300 ms: the clock sleeps the 700 ms left to the next slot, and wakes on it", () => {
    const { clock, sleeps, spend } = fakeClock(4)
    return Effect.gen(function*() {
      const handed: Array<number> = []
      const jobClock = yield* JobClock.make<{ spec: CronSpec.CronSpec; anchor: number }>(clock, (waiting, now) => {
        handed.push(now)
        // The runs started in the hand-over take 300 ms of the loop.
        spend(300)
        jobClock.arm(waiting, now)
      })
      jobClock.arm(jobClock.waiting({ spec: everySecond, anchor: 0 }, 0), 0)
      yield* Effect.yieldNow().pipe(Effect.repeatN(50))
      expect(handed).toEqual([1000, 2000, 3000, 4000])
      expect(sleeps).toEqual([1000, 700, 700, 700])
    }).pipe(Effect.withClock(clock))
  })
})
