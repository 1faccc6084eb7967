/**
 * The built-in alerts: rules over what the instances share (the run history, the outbox, the instances alive),
 * evaluated by one instance every `Metrics.REFRESH_INTERVAL` (see `Alerts/Evaluator.ts`). This module is the rules
 * alone, as plain functions of what was read: which alerts hold now, and how that differs from those recorded, so
 * that each alert fires once when it starts and resolves once when it ends.
 *
 * Rule names follow the Prometheus rules of `deploy/prometheus/alerts.yml` where they overlap, so that one team can
 * use either: `consecutive_failures` ↔ CronJobFailing, `overdue` ↔ CronJobOverdue, `missed_slots` ↔
 * CronJobMissedSlots, `run_too_long` ↔ CronJobRunTooLong, `outbox_stale` ↔ CronWorkerOutboxStale, `instance_lost`
 * ↔ CronWorkerInstanceLost.
 */
import { Duration, Option } from "effect"
import type { AlertPlan } from "./Job.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

/** The rules, as the `rule` label of `cron_worker_alert_active` and of the log lines names them. */
export const RULES = [
  "consecutive_failures",
  "overdue",
  "missed_slots",
  "run_too_long",
  "outbox_stale",
  "instance_lost"
] as const

export type Rule = (typeof RULES)[number]

/** An alert that holds: a rule, the job it is about (`""` for the worker's own rules), what was seen. */
export interface Alert {
  readonly rule: Rule
  readonly job: string
  readonly detail: string
}

/** An alert as recorded: since when it fires. */
export interface Recorded extends Alert {
  readonly since: Date
}

/** One job as the evaluator sees it. */
export interface JobInput {
  readonly name: string
  /** Time between its next two fire times (ms); `undefined` for a job with no next fire. */
  readonly interval: number | undefined
  /** Its overrides; `undefined`: the worker's defaults. */
  readonly alerts: AlertPlan | undefined
  readonly lastSuccess: Date | undefined
  readonly consecutiveFailures: number
  /** Slots recorded as missed in the last {@link MISSED_WINDOW}. */
  readonly missed: number
  /** How long its oldest run in flight has lasted (ms); `undefined` for none. */
  readonly longestRun: number | undefined
}

/** What one evaluation reads. */
export interface Input {
  readonly now: number
  /** When this evaluator started: the reference of `overdue` for a job that never succeeded. */
  readonly startedAt: number
  readonly jobs: ReadonlyArray<JobInput>
  readonly outboxOldestPendingAgeSeconds: number
  readonly instancesAlive: number
  /** The most instances seen alive in the last {@link INSTANCE_WINDOW} (this one included). */
  readonly instancesBefore: number
}

/** Shortest overdue limit of a period × factor, as CronJobOverdue's: a job every few seconds does not flap. */
export const OVERDUE_FLOOR = Duration.minutes(10)
/** How recent a missed slot must be to fire `missed_slots` (CronJobMissedSlots' window). */
export const MISSED_WINDOW = Duration.minutes(15)
/** How long a lost instance is remembered (CronWorkerInstanceLost's window): a scale-down resolves after it. */
export const INSTANCE_WINDOW = Duration.minutes(15)

type Defaults = Pick<
  WorkerConfigShape,
  "alertConsecutiveFailures" | "alertOverdueFactor" | "alertOutboxMaxAge" | "alertRunMax"
>

const seconds = (millis: number) => `${Math.round(millis / 1000)} s`

/** The overdue limit of a job (ms), or `undefined` when the rule is off for it. */
const overdueLimit = (job: JobInput, defaults: Defaults): number | undefined => {
  const own = job.alerts?.overdue
  if (own === false) return undefined
  if (Duration.isDuration(own)) return Duration.toMillis(own)
  const factor = own?.factor ?? defaults.alertOverdueFactor
  if (factor === 0 || job.interval === undefined) return undefined
  return Math.max(job.interval * factor, Duration.toMillis(OVERDUE_FLOOR))
}

/** The alerts that hold for `input`, by the job's overrides over the worker's `defaults`. */
export const conditions = (defaults: Defaults, input: Input): Array<Alert> => {
  const out: Array<Alert> = []
  for (const job of input.jobs) {
    const plan = job.alerts
    const failures = plan?.consecutiveFailures ?? defaults.alertConsecutiveFailures
    if (failures !== false && failures > 0 && job.consecutiveFailures >= failures) {
      out.push({
        rule: "consecutive_failures",
        job: job.name,
        detail: `${job.consecutiveFailures} failed runs in a row (limit ${failures})`
      })
    }
    const limit = overdueLimit(job, defaults)
    if (limit !== undefined) {
      const reference = job.lastSuccess?.getTime() ?? input.startedAt
      if (input.now - reference > limit) {
        out.push({
          rule: "overdue",
          job: job.name,
          detail: job.lastSuccess === undefined
            ? `no success since the evaluator started ${seconds(input.now - reference)} ago (limit ${seconds(limit)})`
            : `no success for ${seconds(input.now - reference)} (limit ${seconds(limit)})`
        })
      }
    }
    if (plan?.missedSlots !== false && job.missed > 0) {
      out.push({
        rule: "missed_slots",
        job: job.name,
        detail: `${job.missed} slots missed in the last ${Duration.format(MISSED_WINDOW)}`
      })
    }
    const own = plan?.maxRunDuration
    const maxRun = own === false
      ? undefined
      : own !== undefined
      ? Duration.toMillis(own)
      : Option.getOrUndefined(Option.map(defaults.alertRunMax, Duration.toMillis))
    if (maxRun !== undefined && job.longestRun !== undefined && job.longestRun > maxRun) {
      out.push({
        rule: "run_too_long",
        job: job.name,
        detail: `a run has lasted ${seconds(job.longestRun)} (limit ${seconds(maxRun)})`
      })
    }
  }
  if (Option.isSome(defaults.alertOutboxMaxAge)) {
    const limit = Duration.toSeconds(defaults.alertOutboxMaxAge.value)
    if (input.outboxOldestPendingAgeSeconds > limit) {
      out.push({
        rule: "outbox_stale",
        job: "",
        detail: `oldest pending message is ${Math.round(input.outboxOldestPendingAgeSeconds)} s old (limit ${limit} s)`
      })
    }
  }
  if (input.instancesAlive < input.instancesBefore) {
    out.push({
      rule: "instance_lost",
      job: "",
      detail: `${input.instancesAlive} instances alive, ${input.instancesBefore} in the last ${
        Duration.format(INSTANCE_WINDOW)
      }`
    })
  }
  return out
}

const key = (alert: Pick<Alert, "rule" | "job">) => `${alert.rule}\u0000${alert.job}`

/** What changed: the alerts that hold and were not recorded fire; those recorded that no longer hold resolve. */
export const diff = (
  recorded: ReadonlyArray<Recorded>,
  now: ReadonlyArray<Alert>
): { readonly firing: ReadonlyArray<Alert>; readonly resolved: ReadonlyArray<Recorded> } => {
  const active = new Set(recorded.map(key))
  const holding = new Set(now.map(key))
  return {
    firing: now.filter((alert) => !active.has(key(alert))),
    resolved: recorded.filter((alert) => !holding.has(key(alert)))
  }
}
