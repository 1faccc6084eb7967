import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, Option } from "effect"
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

  it("names the operator as user@host", () => {
    expect(Control.operator()).toMatch(/^.+@.+$/)
  })
})
