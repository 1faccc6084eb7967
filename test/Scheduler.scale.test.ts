/**
 * One clock for every job: 100,000 rare jobs hold one pending sleep between them, and every one still fires when
 * its slot comes (TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import * as Job from "../src/Job.js"
import * as Worker from "../src/Worker.js"
import { schedulerLayer, T0 } from "./utils.js"

const JOBS = Number(process.env.SCALE_JOBS ?? "100000")

describe("Scheduler at scale", () => {
  it.effect("100,000 daily jobs wait on one timer, and each fires once at its own slot", () =>
    Effect.gen(function*() {
      const fired = new Uint8Array(JOBS)
      const late: Array<number> = []
      const jobs = Array.from({ length: JOBS }, (_, i) => {
        const second = (i % 24) * 3600 + (i % 7) * 60
        return Job.make({
          name: `rare-${i}`,
          schedule: `${second % 60} ${Math.floor(second / 60) % 60} ${Math.floor(second / 3600)} * * *`,
          run: Effect.flatMap(Job.CurrentRun, (run) =>
            Effect.sync(() => {
              fired[i]!++
              if (run.nominalAt.getTime() !== T0 + 86_400_000 + second * 1000) late.push(i)
            }))
        })
      })
      yield* TestClock.setTime(T0 + 86_400_000 - 500)
      yield* Worker.start(jobs)
      // The clock's one sleep (and nothing per job), once its fiber has had its turn.
      let sleeps = 0
      for (let turn = 0; turn < 100 && sleeps === 0; turn++) {
        yield* Effect.yieldNow()
        sleeps = (yield* TestClock.sleeps()).length
      }
      expect(sleeps).toBe(1)
      yield* TestClock.adjust(Duration.days(1))
      expect(fired.every((count) => count === 1)).toBe(true)
      expect(late).toEqual([])
    }).pipe(Effect.provide(schedulerLayer({ shutdownTimeout: Duration.zero, maxConcurrentJobs: 0 }))), 180_000)
})
