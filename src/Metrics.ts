/**
 * Every metric the engine keeps, in one place. A series is made once per set of labels and kept: updating it is
 * then a plain call (`unsafeUpdate`) with no lookup in the registry and no effect to run, which matters on a path
 * taken thousands of times a second.
 */
import { Metric, MetricBoundaries, MetricKey, MetricLabel } from "effect"

const runsTotal = MetricKey.counter("cron_worker_runs_total", {
  description: "Slots by job and outcome (succeeded, failed, timed_out, interrupted, skipped)",
  incremental: true
})
const runDuration = Metric.histogram(
  "cron_worker_run_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 4, count: 10 }),
  "Duration of finished runs"
)
const runLag = Metric.histogram(
  "cron_worker_run_lag_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 10 }),
  "Actual start minus nominal instant"
)

const none: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * The counter of each (job, outcome), made once from a key that carries its labels: such a metric finds its series
 * in the registry once and keeps it, where `Metric.tagged` looks the series up again on every update.
 */
const counters = new Map<string, { readonly unsafeUpdate: (input: number, tags: typeof none) => void }>()

/** Counts a slot's outcome at once. */
export const unsafeCount = (job: string, status: string): void => {
  const key = `${job}\u0000${status}`
  let counter = counters.get(key)
  if (counter === undefined) {
    const labels = [MetricLabel.make("job", job), MetricLabel.make("status", status)]
    counter = Metric.fromMetricKey(MetricKey.taggedWithLabels(runsTotal, labels))
    counters.set(key, counter)
  }
  counter.unsafeUpdate(1, none)
}

/** Notes how late a run started after its nominal instant. */
export const unsafeLag = (millis: number): void => runLag.unsafeUpdate(Math.max(0, millis) / 1000, none)

/** Notes how long a finished run took. */
export const unsafeDuration = (millis: number): void => runDuration.unsafeUpdate(millis / 1000, none)
