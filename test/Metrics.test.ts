/**
 * The worker's series: every one of a job from its registration, at zero; runs by outcome, skips by reason (a missed
 * slot counted as missed too), duration and lag in cumulative buckets, runs in flight; the shared values as the last
 * read gave them; HELP texts that say what a series counts; label values escaped; a job taken out takes its series.
 * Through the scheduler (TestClock): a run, a skip for overlap and a pause are counted on the job's series.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { Control } from "../src/Control.js"
import * as Job from "../src/Job.js"
import * as Metrics from "../src/Metrics.js"
import * as Worker from "../src/Worker.js"
import { T0 } from "./utils.js"

/** The value of one series line in `text`, or `undefined`. */
const value = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("Metrics", () => {
  it("every series of a registered job exists at zero, with a HELP that is not the metric's name", () => {
    Metrics.reset()
    Metrics.register("fresh")
    const text = Metrics.render([{ name: "fresh", next: 1_700_000_000_000, interval: 60_000 }])
    for (const status of Metrics.STATUSES) {
      expect(value(text, `cron_worker_runs_total{job="fresh",status="${status}"}`)).toBe(0)
    }
    for (const reason of Metrics.SKIP_REASONS) {
      expect(value(text, `cron_worker_skips_total{job="fresh",reason="${reason}"}`)).toBe(0)
    }
    expect(value(text, `cron_worker_missed_slots_total{job="fresh"}`)).toBe(0)
    expect(value(text, `cron_worker_run_duration_seconds_count{job="fresh"}`)).toBe(0)
    expect(value(text, `cron_worker_run_lag_seconds_bucket{job="fresh",le="+Inf"}`)).toBe(0)
    expect(value(text, `cron_worker_running{job="fresh"}`)).toBe(0)
    expect(value(text, `cron_worker_last_success_timestamp_seconds{job="fresh"}`)).toBe(0)
    expect(value(text, `cron_worker_consecutive_failures{job="fresh"}`)).toBe(0)
    expect(value(text, `cron_worker_next_fire_timestamp_seconds{job="fresh"}`)).toBe(1_700_000_000)
    expect(value(text, `cron_worker_expected_interval_seconds{job="fresh"}`)).toBe(60)
    expect(value(text, "cron_worker_outbox_pending")).toBe(0)
    expect(value(text, "cron_worker_lease_renewals_failed_total")).toBe(0)
    const helps = text.split("\n").filter((l) => l.startsWith("# HELP "))
    expect(helps.length).toBeGreaterThanOrEqual(20)
    for (const help of helps) {
      const [, , name, ...words] = help.split(" ")
      expect(words.join(" "), name).not.toBe(name)
      expect(words.length, name).toBeGreaterThan(3)
    }
  })

  it("counts outcomes, skips by reason (missed too), durations and lag in cumulative buckets, runs in flight", () => {
    Metrics.reset()
    Metrics.unsafeCount("j", "succeeded")
    Metrics.unsafeCount("j", "failed")
    Metrics.unsafeSkip("j", "overlap")
    Metrics.unsafeSkip("j", "missed")
    Metrics.unsafeDuration("j", 300)
    Metrics.unsafeDuration("j", 7_200_000)
    Metrics.unsafeLag("j", 3)
    Metrics.unsafeRunning("j", 1)
    Metrics.unsafeRunning("j", 1)
    Metrics.unsafeRunning("j", -1)
    const text = Metrics.render([])
    expect(value(text, `cron_worker_runs_total{job="j",status="succeeded"}`)).toBe(1)
    expect(value(text, `cron_worker_runs_total{job="j",status="failed"}`)).toBe(1)
    expect(value(text, `cron_worker_runs_total{job="j",status="skipped"}`)).toBe(2)
    expect(value(text, `cron_worker_skips_total{job="j",reason="overlap"}`)).toBe(1)
    expect(value(text, `cron_worker_skips_total{job="j",reason="missed"}`)).toBe(1)
    expect(value(text, `cron_worker_missed_slots_total{job="j"}`)).toBe(1)
    expect(value(text, `cron_worker_run_duration_seconds_bucket{job="j",le="0.25"}`)).toBe(0)
    expect(value(text, `cron_worker_run_duration_seconds_bucket{job="j",le="0.5"}`)).toBe(1)
    expect(value(text, `cron_worker_run_duration_seconds_bucket{job="j",le="3600"}`)).toBe(1)
    expect(value(text, `cron_worker_run_duration_seconds_bucket{job="j",le="7200"}`)).toBe(2)
    expect(value(text, `cron_worker_run_duration_seconds_count{job="j"}`)).toBe(2)
    expect(value(text, `cron_worker_run_duration_seconds_sum{job="j"}`)).toBe(7200.3)
    expect(value(text, `cron_worker_run_lag_seconds_bucket{job="j",le="0.0025"}`)).toBe(0)
    expect(value(text, `cron_worker_run_lag_seconds_bucket{job="j",le="0.005"}`)).toBe(1)
    expect(value(text, `cron_worker_running{job="j"}`)).toBe(1)
  })

  it("label values are escaped; a job taken out takes its series", () => {
    Metrics.reset()
    Metrics.register("we\"ird\\name")
    expect(Metrics.render([])).toContain(`cron_worker_running{job="we\\"ird\\\\name"} 0`)
    Metrics.unregister("we\"ird\\name")
    expect(Metrics.render([])).not.toContain("ird")
  })

  it.effect("through the scheduler: a run, a skip for overlap and a paused slot are counted on the job's series", () =>
    Effect.gen(function*() {
      Metrics.reset()
      yield* TestClock.setTime(T0)
      const slow = Job.make({ name: "slow", schedule: "*/10 * * * * *", run: Effect.sleep(Duration.seconds(15)) })
      yield* Worker.start([slow])
      const text = () => Metrics.render(Metrics.scheduled())
      expect(value(text(), `cron_worker_runs_total{job="slow",status="succeeded"}`)).toBe(0)
      expect(value(text(), `cron_worker_next_fire_timestamp_seconds{job="slow"}`)).toBe((T0 + 10_000) / 1000)
      yield* TestClock.adjust("12 seconds")
      expect(value(text(), `cron_worker_running{job="slow"}`)).toBe(1)
      // The slot of 20 s finds the run of 10 s still going: skipped (overlap).
      yield* TestClock.adjust("10 seconds")
      expect(value(text(), `cron_worker_skips_total{job="slow",reason="overlap"}`)).toBe(1)
      yield* TestClock.adjust("5 seconds")
      expect(value(text(), `cron_worker_runs_total{job="slow",status="succeeded"}`)).toBe(1)
      expect(value(text(), `cron_worker_run_duration_seconds_bucket{job="slow",le="30"}`)).toBe(1)
      const control = yield* Control
      yield* control.pause("slow")
      yield* TestClock.adjust("10 seconds")
      expect(value(text(), `cron_worker_skips_total{job="slow",reason="paused"}`)).toBe(1)
    }).pipe(Effect.provide(Control.Default), Effect.provide(Worker.layerTest({ shutdownTimeout: Duration.zero }))))
})
