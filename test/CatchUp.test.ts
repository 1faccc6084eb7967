import { describe, expect, it } from "@effect/vitest"
import { Duration, Either } from "effect"
import * as CatchUp from "../src/CatchUp.js"
import * as CronSpec from "../src/CronSpec.js"

const spec = (expression: string) => Either.getOrThrow(CronSpec.parse(expression))
const at = (iso: string) => Date.parse(iso)
const iso = (millis: number) => new Date(millis).toISOString()

describe("CatchUp.plan", () => {
  const hourly = spec("0 * * * *")
  const last = at("2026-01-01T00:00:00Z")
  const now = at("2026-01-01T05:30:00Z") // 01:00 … 05:00 were missed

  it("latest runs the newest missed slot and records the others as missed", () => {
    const plan = CatchUp.plan(hourly, 0, last, now, "latest", Duration.hours(24))
    expect(plan.run.map(iso)).toEqual(["2026-01-01T05:00:00.000Z"])
    expect(plan.record.map(iso)).toEqual([
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T02:00:00.000Z",
      "2026-01-01T03:00:00.000Z",
      "2026-01-01T04:00:00.000Z"
    ])
    expect(plan.missed).toBe(5)
  })

  it("latest runs nothing when the newest missed slot is older than the window", () => {
    const plan = CatchUp.plan(hourly, 0, last, now, "latest", Duration.minutes(20))
    expect(plan.run).toEqual([])
    expect(plan.missed).toBe(5)
  })

  it("skip runs none and records every missed slot", () => {
    const plan = CatchUp.plan(hourly, 0, last, now, "skip", Duration.hours(24))
    expect(plan.run).toEqual([])
    expect(plan.record).toHaveLength(5)
  })

  it("skip still runs the newest slot when it is younger than `late`: late, not missed", () => {
    const young = CatchUp.plan(hourly, 0, last, at("2026-01-01T05:00:00.400Z"), "skip", Duration.hours(24), 1000)
    expect(young.run.map(iso)).toEqual(["2026-01-01T05:00:00.000Z"])
    expect(young.record).toHaveLength(4)
    const older = CatchUp.plan(hourly, 0, last, at("2026-01-01T05:00:01.000Z"), "skip", Duration.hours(24), 1000)
    expect(older.run).toEqual([])
    expect(older.record).toHaveLength(5)
  })

  it("all runs every slot within the window, oldest first, and records the older ones", () => {
    const plan = CatchUp.plan(hourly, 0, last, now, "all", Duration.hours(3))
    expect(plan.run.map(iso)).toEqual([
      "2026-01-01T03:00:00.000Z",
      "2026-01-01T04:00:00.000Z",
      "2026-01-01T05:00:00.000Z"
    ])
    // Slots older than the window are counted, not recorded one by one.
    expect(plan.missed).toBe(5)
  })

  it("all is capped at the newest RUN_LIMIT slots", () => {
    const everySecond = spec("* * * * * *")
    const plan = CatchUp.plan(everySecond, 0, last, last + 3_600_000, "all", Duration.hours(24))
    expect(plan.run).toHaveLength(CatchUp.RUN_LIMIT)
    expect(plan.run.at(-1)).toBe(last + 3_600_000)
    expect(plan.record).toHaveLength(CatchUp.RECORD_LIMIT)
    expect(plan.missed).toBe(3600)
  })

  it("nothing was missed when the last slot is the newest due one (a restart inside a slot)", () => {
    const plan = CatchUp.plan(hourly, 0, at("2026-01-01T05:00:00Z"), now, "latest", Duration.hours(24))
    expect(plan).toEqual({ run: [], record: [], missed: 0 })
  })

  it("@every slots follow the anchor's grid", () => {
    const every = spec("@every 90m")
    const anchor = at("2026-01-01T00:10:00Z")
    const plan = CatchUp.plan(every, anchor, anchor, anchor + 4 * 5_400_000 + 1, "latest", Duration.hours(24))
    expect(plan.run.map(iso)).toEqual([iso(anchor + 4 * 5_400_000)])
    expect(plan.missed).toBe(4)
  })
})
