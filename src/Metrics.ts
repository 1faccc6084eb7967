/**
 * The worker's own metrics, by job, in a registry of plain numbers: a run updates a few fields of its job's series
 * (no registry lookup, no effect to run: this is on the path every run takes), and `/metrics` renders them in the
 * Prometheus text format beside Effect's own (`effect_fiber_*`).
 *
 * Two kinds of series. What this process did (runs by outcome, skips by reason, missed slots, duration and lag,
 * runs in flight, lease renewals that failed, the outbox's deliveries) is counted here as it happens; a manual run
 * started through the admin API or by the command line beside a running worker runs in that worker, so it is
 * counted there. What the instances share (the last success and failure of each job, its consecutive failures, the
 * instances alive, the outbox's backlog, the schedules by kind) is read from the database every
 * `REFRESH_INTERVAL` by `refresher`, so every instance reports the same values: aggregate them with `max by (job)`.
 *
 * Every series of a job exists from its registration, at zero; label values are bounded: job names, fixed outcomes
 * and reasons, kind names. A job taken out (a schedule deleted) takes its series with it.
 */
import { Duration, Effect, Schedule } from "effect"
import type { AlertPlan } from "./Job.js"

/** Outcomes of `cron_worker_runs_total`. */
export const STATUSES = ["succeeded", "failed", "timed_out", "interrupted", "skipped", "abandoned"] as const
/** Reasons of `cron_worker_skips_total`. */
export const SKIP_REASONS = [
  "overlap",
  "max_concurrent",
  "missed",
  "paused",
  "shutdown",
  "store_unavailable",
  "unknown_kind",
  "invalid_schedule"
] as const

/** Run durations: 5 ms to 4 hours. */
const DURATION_BUCKETS = [
  0.005,
  0.025,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
  7200,
  14400
]
/** Fire lag: 1 ms to 5 minutes. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

class Histogram {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(readonly buckets: ReadonlyArray<number>) {
    this.counts = new Float64Array(buckets.length)
  }
  observe(value: number) {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        this.counts[i]!++
        return
      }
    }
  }
}

/** One job's series. */
interface JobSeries {
  /** Made at the first count: a job that never ran (most of 100,000 daily schedules, most of the day) costs none. */
  runs: Record<string, number> | undefined
  skips: Record<string, number> | undefined
  missed: number
  running: number
  duration: Histogram | undefined
  lag: Histogram | undefined
}

const zeros = (keys: ReadonlyArray<string>): Record<string, number> => Object.fromEntries(keys.map((key) => [key, 0]))

const series = new Map<string, JobSeries>()

const make = (): JobSeries => ({
  runs: undefined,
  skips: undefined,
  missed: 0,
  running: 0,
  duration: undefined,
  lag: undefined
})

/** Zero histograms, rendered for the jobs whose series have no observation yet. */
const NO_DURATION = new Histogram(DURATION_BUCKETS)
const NO_LAG = new Histogram(LAG_BUCKETS)
const NO_RUNS: Readonly<Record<string, number>> = zeros(STATUSES)
const NO_SKIPS: Readonly<Record<string, number>> = zeros(SKIP_REASONS)

const of = (job: string): JobSeries => {
  let found = series.get(job)
  if (found === undefined) {
    found = make()
    series.set(job, found)
  }
  return found
}

/** A job's series, at zero, from its registration. */
export const register = (job: string): void => void of(job)

/** A job taken out of the scheduler (a schedule deleted): its series go. */
export const unregister = (job: string): void => void series.delete(job)

/** Counts a slot's outcome. */
export const unsafeCount = (job: string, status: string): void => {
  const entry = of(job)
  const runs = entry.runs ??= zeros(STATUSES)
  runs[status] = (runs[status] ?? 0) + 1
}

/** Counts a skipped slot, with its reason (and as `missed` when it was missed). */
export const unsafeSkip = (job: string, reason: string): void => {
  const entry = of(job)
  const runs = entry.runs ??= zeros(STATUSES)
  const skips = entry.skips ??= zeros(SKIP_REASONS)
  runs.skipped = (runs.skipped ?? 0) + 1
  skips[reason] = (skips[reason] ?? 0) + 1
  if (reason === "missed" || reason === "store_unavailable") entry.missed++
}

/** Notes how late a run started after its nominal instant. */
export const unsafeLag = (job: string, millis: number): void =>
  (of(job).lag ??= new Histogram(LAG_BUCKETS)).observe(Math.max(0, millis) / 1000)

/** Notes how long a finished run took. */
export const unsafeDuration = (job: string, millis: number): void =>
  (of(job).duration ??= new Histogram(DURATION_BUCKETS)).observe(millis / 1000)

/** A run of `job` began (`+1`) or ended (`-1`) in this process. */
export const unsafeRunning = (job: string, delta: 1 | -1): void => {
  const entry = of(job)
  entry.running = Math.max(0, entry.running + delta)
}

/** Process-wide counters. */
const totals = { leaseRenewalsFailed: 0, outboxDelivered: 0, outboxFailed: 0, outboxUnroutable: 0 }

/** A lease renewal that failed (the database did not answer in time). */
export const leaseRenewalFailed = (): void => void totals.leaseRenewalsFailed++

/** Messages the relay delivered, gave up on, or the broker could not route. */
export const outbox = (what: "delivered" | "failed" | "unroutable", count = 1): void => {
  if (what === "delivered") totals.outboxDelivered += count
  else if (what === "failed") totals.outboxFailed += count
  else totals.outboxUnroutable += count
}

/** What the instances share, per job, as the history says. */
export interface JobStats {
  readonly job: string
  readonly lastSuccess: Date | undefined
  readonly lastFailure: Date | undefined
  /** Failed or timed-out runs since the last success (the newest 100 looked at). */
  readonly consecutiveFailures: number
}

/** What the instances share: the history's view of each job, the instances, the outbox, the schedules. */
export interface Shared {
  readonly jobs: ReadonlyMap<string, JobStats>
  readonly instancesAlive: number
  readonly outboxPending: number
  readonly outboxOldestPendingAgeSeconds: number
  readonly schedulesByKind: ReadonlyMap<string, number>
  /** The alerts recorded in the database: active, or resolved (their gauge reads 0). */
  readonly alerts: ReadonlyArray<AlertState>
}

/** One alert of `cron_worker_alert_active`: a rule, the job it is about (`""`: the worker), whether it fires. */
export interface AlertState {
  readonly rule: string
  readonly job: string
  readonly active: boolean
}

/** The alerts as the last shared read found them. */
export const alerts = (): ReadonlyArray<AlertState> => shared.alerts

let shared: Shared = {
  jobs: new Map(),
  instancesAlive: 0,
  outboxPending: 0,
  outboxOldestPendingAgeSeconds: 0,
  schedulesByKind: new Map(),
  alerts: []
}

/** How often the shared values are read from the database. */
export const REFRESH_INTERVAL = Duration.seconds(15)

/**
 * Reads the shared values with `read` now and then every `REFRESH_INTERVAL`, for as long as it runs (a fiber of
 * the worker's scope). A read that fails keeps the values of the last one (the database is down: `/readyz` says so).
 */
export const refresher = <E, R>(read: Effect.Effect<Shared, E, R>): Effect.Effect<never, never, R> =>
  Effect.repeat(
    Effect.catchAllCause(
      Effect.flatMap(read, (values) => Effect.sync(() => (shared = values))),
      () => Effect.void
    ),
    Schedule.spaced(REFRESH_INTERVAL)
  ).pipe(Effect.zipRight(Effect.never))

/** A job as the scheduler has it, for the series it knows of (`next fire`, `expected interval`). */
export interface Scheduled {
  readonly name: string
  /** Its next fire time (epoch ms), `Infinity` for none. */
  readonly next: number
  /** The time between its next two fire times (ms), `undefined` for none. */
  readonly interval: number | undefined
  /** Its built-in alert overrides (none: the worker's defaults). */
  readonly alerts?: AlertPlan | undefined
}

/** Where `render` finds the jobs in the scheduler: set by the scheduler while it runs. */
let scheduledSource: (() => ReadonlyArray<Scheduled>) | undefined

/** The scheduler says where its jobs are (`undefined`: it has stopped). */
export const setScheduled = (source: (() => ReadonlyArray<Scheduled>) | undefined): void => {
  scheduledSource = source
}

/** The jobs in the scheduler now: none when no scheduler runs in this process. */
export const scheduled = (): ReadonlyArray<Scheduled> => scheduledSource?.() ?? []

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const num = (value: number) => (Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "-Inf")

/**
 * The worker's series in the Prometheus text format: every family with its HELP (what it counts, its unit) and
 * TYPE, then one line per series. `scheduled`: the jobs in the scheduler now (their series exist even before they
 * ran); `alerts`: the alert gauges (`rule`, `job`, 1 or 0).
 */
export const render = (
  scheduled: ReadonlyArray<Scheduled>,
  alerts: ReadonlyArray<AlertState> = []
): string => {
  for (const job of scheduled) register(job.name)
  const out: Array<string> = []
  const family = (name: string, type: string, help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  const jobs = [...series.entries()]
  const job = (name: string) => `job="${escapeLabel(name)}"`

  family("cron_worker_runs_total", "counter", "Slots of each job by outcome in this process (runs and skips).")
  for (const [name, s] of jobs) {
    const runs = s.runs ?? NO_RUNS
    for (const status of Object.keys(runs)) {
      out.push(`cron_worker_runs_total{${job(name)},status="${status}"} ${runs[status]}`)
    }
  }
  family("cron_worker_skips_total", "counter", "Slots of each job skipped in this process, by reason.")
  for (const [name, s] of jobs) {
    const skips = s.skips ?? NO_SKIPS
    for (const reason of Object.keys(skips)) {
      out.push(`cron_worker_skips_total{${job(name)},reason="${reason}"} ${skips[reason]}`)
    }
  }
  family(
    "cron_worker_missed_slots_total",
    "counter",
    "Slots of each job that passed unrun (worker down, process behind, database unreachable), recorded here."
  )
  for (const [name, s] of jobs) out.push(`cron_worker_missed_slots_total{${job(name)}} ${s.missed}`)
  const histogram = (metric: string, help: string, pick: (s: JobSeries) => Histogram) => {
    family(metric, "histogram", help)
    for (const [name, s] of jobs) {
      const h = pick(s)
      let cumulative = 0
      h.buckets.forEach((le, i) => {
        cumulative += h.counts[i]!
        out.push(`${metric}_bucket{${job(name)},le="${le}"} ${cumulative}`)
      })
      out.push(
        `${metric}_bucket{${job(name)},le="+Inf"} ${h.count}`,
        `${metric}_sum{${job(name)}} ${h.sum}`,
        `${metric}_count{${job(name)}} ${h.count}`
      )
    }
  }
  histogram(
    "cron_worker_run_duration_seconds",
    "Duration of each job's finished runs, in seconds.",
    (s) => s.duration ?? NO_DURATION
  )
  histogram(
    "cron_worker_run_lag_seconds",
    "Fire lag of each job's runs: actual start minus the slot's nominal instant, in seconds.",
    (s) => s.lag ?? NO_LAG
  )
  family("cron_worker_running", "gauge", "Runs of each job in flight in this process.")
  for (const [name, s] of jobs) out.push(`cron_worker_running{${job(name)}} ${s.running}`)

  const known = new Set(jobs.map(([name]) => name))
  const stats = [...known].map((name) => [name, shared.jobs.get(name)] as const)
  const seconds = (date: Date | undefined) => (date === undefined ? 0 : date.getTime() / 1000)
  family(
    "cron_worker_last_success_timestamp_seconds",
    "gauge",
    "When each job's last successful run ended, Unix seconds, from the shared history (0: never)."
  )
  for (const [name, s] of stats) {
    out.push(`cron_worker_last_success_timestamp_seconds{${job(name)}} ${seconds(s?.lastSuccess)}`)
  }
  family(
    "cron_worker_last_failure_timestamp_seconds",
    "gauge",
    "When each job's last failed or timed-out run ended, Unix seconds, from the shared history (0: never)."
  )
  for (const [name, s] of stats) {
    out.push(`cron_worker_last_failure_timestamp_seconds{${job(name)}} ${seconds(s?.lastFailure)}`)
  }
  family(
    "cron_worker_consecutive_failures",
    "gauge",
    "Failed or timed-out runs of each job since its last success, from the shared history."
  )
  for (const [name, s] of stats) {
    out.push(`cron_worker_consecutive_failures{${job(name)}} ${s?.consecutiveFailures ?? 0}`)
  }
  family("cron_worker_next_fire_timestamp_seconds", "gauge", "Each job's next fire time, Unix seconds (0: none).")
  for (const s of scheduled) {
    out.push(`cron_worker_next_fire_timestamp_seconds{${job(s.name)}} ${Number.isFinite(s.next) ? s.next / 1000 : 0}`)
  }
  family(
    "cron_worker_expected_interval_seconds",
    "gauge",
    "Time between each job's next two fire times, in seconds: the period an overdue alert scales (0: none)."
  )
  for (const s of scheduled) {
    out.push(
      `cron_worker_expected_interval_seconds{${job(s.name)}} ${s.interval === undefined ? 0 : s.interval / 1000}`
    )
  }

  family("cron_worker_lease_renewals_failed_total", "counter", "Lease renewals of this process's runs that failed.")
  out.push(`cron_worker_lease_renewals_failed_total ${totals.leaseRenewalsFailed}`)
  family("cron_worker_instances_alive", "gauge", "Worker instances beating in the shared database.")
  out.push(`cron_worker_instances_alive ${shared.instancesAlive}`)
  family("cron_worker_outbox_pending", "gauge", "Messages waiting in the outbox (pending or being sent).")
  out.push(`cron_worker_outbox_pending ${shared.outboxPending}`)
  family("cron_worker_outbox_oldest_pending_age_seconds", "gauge", "Age of the oldest message waiting, in seconds.")
  out.push(`cron_worker_outbox_oldest_pending_age_seconds ${num(shared.outboxOldestPendingAgeSeconds)}`)
  family("cron_worker_outbox_delivered_total", "counter", "Messages this process's relay delivered to the broker.")
  out.push(`cron_worker_outbox_delivered_total ${totals.outboxDelivered}`)
  family("cron_worker_outbox_failed_total", "counter", "Messages this process's relay gave up on (marked failed).")
  out.push(`cron_worker_outbox_failed_total ${totals.outboxFailed}`)
  family("cron_worker_outbox_unroutable_total", "counter", "Messages the broker returned as unroutable to this relay.")
  out.push(`cron_worker_outbox_unroutable_total ${totals.outboxUnroutable}`)
  family("cron_worker_schedules", "gauge", "Schedules created at run time, by job kind.")
  for (const [kind, count] of shared.schedulesByKind) {
    out.push(`cron_worker_schedules{kind="${escapeLabel(kind)}"} ${count}`)
  }
  family("cron_worker_alert_active", "gauge", "1 while an alert rule fires for a job, else 0.")
  for (const alert of alerts) {
    out.push(
      `cron_worker_alert_active{rule="${escapeLabel(alert.rule)}",${job(alert.job)}} ${alert.active ? 1 : 0}`
    )
  }
  return out.join("\n") + "\n"
}

/** For tests: every job's series back to nothing. */
export const reset = (): void => {
  series.clear()
  Object.assign(totals, { leaseRenewalsFailed: 0, outboxDelivered: 0, outboxFailed: 0, outboxUnroutable: 0 })
}
