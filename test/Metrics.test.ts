/**
 * The outcome counter: one Prometheus series per (job, status), counted on
 * the labels `job` and `status`, the same series however often it is counted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricState } from "effect"
import * as Metrics from "../src/Metrics.js"

const count = (job: string, status: string) => Effect.sync(() => Metrics.unsafeCount(job, status))

const series = (job: string) =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs
      .filter((pair) =>
        pair.metricKey.name === "cron_worker_runs_total" &&
        pair.metricKey.tags.some((tag) => tag.key === "job" && tag.value === job)
      )
      .map((pair) => ({
        tags: pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`),
        count: MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : NaN
      }))
      .sort((a, b) => a.tags.join().localeCompare(b.tags.join())))

describe("Metrics.unsafeCount", () => {
  it.effect("counts each (job, status) in its own series, labelled job and status", () =>
    Effect.gen(function*() {
      yield* count("counted-job", "succeeded")
      yield* count("counted-job", "succeeded")
      yield* count("counted-job", "skipped")
      yield* count("other-job", "succeeded")
      expect(yield* series("counted-job")).toEqual([
        { tags: ["job=counted-job", "status=skipped"], count: 1 },
        { tags: ["job=counted-job", "status=succeeded"], count: 2 }
      ])
    }))
})
