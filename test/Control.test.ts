import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, Option, TestClock } from "effect"
import * as Control from "../src/Control.js"
import * as RunStore from "../src/RunStore.js"
import { captureLogs } from "./utils.js"

describe("pausing a job (Control.pauseIn, resumeIn)", () => {
  it.effect("stores who paused it; pausing it again changes nothing and returns the pause in force", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      const first = yield* Control.pauseIn(store, "j", { reason: "db maintenance", by: "ana@host" })
      const again = yield* Control.pauseIn(store, "j", { reason: "other", by: "bo@host" })
      expect(first).toEqual(Option.none())
      expect(Option.map(again, ({ by, job, reason }) => ({ by, job, reason }))).toEqual(
        Option.some({ by: "ana@host", job: "j", reason: "db maintenance" })
      )
      expect((yield* store.pauses).map(({ by, reason }) => [by, reason])).toEqual([["ana@host", "db maintenance"]])
      expect(yield* Control.resumeIn(store, "j", "bo@host")).toBe(true)
      expect(yield* Control.resumeIn(store, "j", "bo@host")).toBe(false)
      // The audit trail is written even when the minimum level is above INFO; once per change.
      expect(logs.entries.map(({ fields, level, msg }) => [level, msg, fields])).toEqual([
        ["INFO", "job paused", { job: "j", reason: "db maintenance", by: "ana@host" }],
        ["INFO", "job resumed", { job: "j", by: "bo@host" }]
      ])
    }).pipe(Effect.provide(logs.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  })

  it.effect(`a reason over ${Control.MAX_PAUSE_REASON} characters is refused (typed error), nothing paused`, () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      const error = yield* Effect.flip(Control.pauseIn(store, "j", { reason: "é".repeat(501) }))
      expect(error).toMatchObject({ _tag: "PauseReasonTooLong", job: "j", length: 501 })
      expect(error.message).toContain("the limit is 500")
      expect(yield* store.pauses).toEqual([])
      expect(yield* Control.pauseIn(store, "j", { reason: "é".repeat(500) })).toEqual(Option.none())
    }))

  it.effect("a pause with `until` ends by itself: slots before it are paused, from it on they run", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      const until = new Date(10_000)
      expect(yield* Control.pauseIn(store, "j", { reason: "deploy", until })).toEqual(Option.none())
      const claim = (nominal: number) =>
        store.claim({
          runId: `run-${nominal}`,
          job: "j",
          nominalAt: new Date(nominal),
          reason: "scheduled",
          instance: "i",
          at: new Date(nominal),
          leaseSeconds: 30
        })
      expect((yield* claim(9_000))._tag).toBe("Paused")
      expect((yield* claim(10_000))._tag).toBe("Claimed")
      expect((yield* store.pauses).map((p) => p.until)).toEqual([until])
      yield* TestClock.adjust("10 seconds")
      // Ended: no longer listed, not "resumed" by hand, and a new pause takes its place.
      expect(yield* store.pauses).toEqual([])
      expect(yield* Control.pauseIn(store, "j", { reason: "again" })).toEqual(Option.none())
      expect((yield* store.pauses).map((p) => p.reason)).toEqual(["again"])
      const past = yield* Effect.flip(Control.pauseIn(store, "k", { until: new Date(5_000) }))
      expect(past).toMatchObject({ _tag: "PauseEndsInPast", job: "k" })
      expect(past.message).toContain("not in the future")
    }))

  it("names the operator as user@host", () => {
    expect(Control.operator()).toMatch(/^.+@.+$/)
  })
})
