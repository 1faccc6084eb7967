/**
 * A job is a value: a name, a schedule and an `Effect` to run, with options.
 * Its requirements `R` are exactly the services its `run` uses; a worker built
 * from a list of jobs requires the union of them, which the type checker checks.
 */
import { Context, Duration, type Effect, Either, Option, Pipeable, Schema } from "effect"
import * as CronSpec from "./CronSpec.js"
import * as Heartbeat from "./Heartbeat.js"

/** What to do with a slot whose previous run of the same job is still running. */
export type Overlap =
  /** Record the new slot as skipped (the default). */
  | "skip"
  /** Run both. */
  | "allow"
  /** Run the new slot when the previous run ends; at most one waits, further slots are skipped. */
  | "queue"
  /** Interrupt the running one (recorded as interrupted) and start the new one. */
  | "replace"

/** What to do, at start-up, with slots missed while no worker ran (needs the PostgreSQL run store). */
export type CatchUp =
  /** Run the newest missed slot once, if it lies within `catchUpWindow` (the default). */
  | "latest"
  /** Run none. */
  | "skip"
  /** Run every missed slot within `catchUpWindow`, one after another. */
  | "all"

/**
 * What becomes of a run abandoned by its instance (the process died with the run in flight): `record` (the
 * default) leaves it recorded as abandoned; `rerun` runs its slot once more, on another instance, as a new attempt
 * (`reason: rerun`).
 */
export type OnAbandoned = "record" | "rerun"

/** Why a run started. */
export type RunReason = "scheduled" | "manual" | "catch-up" | "rerun" | "backfill"

/** Retry of failed attempts within one slot: exponential backoff with jitter and a cap. */
export interface RetryPolicy {
  /** Attempts in all, the first included (≥ 1). */
  readonly attempts: number
  /** Delay before the second attempt. Default 1 second. */
  readonly initialDelay?: Duration.DurationInput | undefined
  /** Growth of the delay per attempt. Default 2. */
  readonly factor?: number | undefined
  /** Largest delay between attempts. Default 1 minute. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Randomise each delay between 80 % and 120 % of its value. Default true. */
  readonly jitter?: boolean | undefined
}

/** Options of {@link make}. */
export interface JobOptions<E, R> {
  /** Unique name: the key of the run history and of every log line. */
  readonly name: string
  /** Cron expression (see README "Schedules"). */
  readonly schedule: string
  /** The work of one run. Typed failures are recorded as `failed`; defects are recovered and recorded too. */
  readonly run: Effect.Effect<void, E, R>
  /** Human description, shown by `jobs`. */
  readonly description?: string | undefined
  /** Zone of the schedule when it has no `CRON_TZ=` prefix. Default `WORKER_TIMEZONE`. */
  readonly timezone?: string | undefined
  /**
   * Longest a slot may take, attempts and backoff included; on expiry the run
   * is interrupted and recorded as `timed_out`. Default
   * `WORKER_DEFAULT_TIMEOUT_SECONDS`; `0` or `Duration.infinity` for none.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /** Default `skip`. */
  readonly overlap?: Overlap | undefined
  /** Default: no retry. */
  readonly retry?: RetryPolicy | undefined
  /** Start each run after a random delay up to this long, to spread load. Default none. */
  readonly jitter?: Duration.DurationInput | undefined
  /** Default `latest`. */
  readonly catchUp?: CatchUp | undefined
  /** How old a missed slot may be and still be caught up. Default 24 hours. */
  readonly catchUpWindow?: Duration.DurationInput | undefined
  /** Default `record`. */
  readonly onAbandoned?: OnAbandoned | undefined
  /** A dead-man's switch: a URL pinged when each run starts and ends (see README "Heartbeat URL"). Default none. */
  readonly heartbeat?: HeartbeatOptions | undefined
  /** This job's built-in alerts, over the worker's defaults (`ALERT_*`, see README "Alerts"). */
  readonly alerts?: AlertOptions | undefined
}

/** A job's heartbeat URL, in Healthchecks.io's convention: `<url>/start`, `<url>` (success), `<url>/fail`. */
export interface HeartbeatOptions {
  /** The check's ping URL, http or https, such as `https://hc-ping.com/<uuid>`. Never logged whole. */
  readonly url: string
  /** How long one ping may take before it is given up. Default 5 seconds; at most 1 minute. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Per-job overrides of the built-in alert rules. Each rule left out takes the worker's default (`ALERT_*`); `false`
 * turns it off for this job.
 */
export interface AlertOptions {
  /** Fire after this many failed or timed-out runs in a row (≥ 1). Default `ALERT_CONSECUTIVE_FAILURES` (3). */
  readonly consecutiveFailures?: number | false | undefined
  /**
   * Fire when no run succeeded for the job's period × `factor` (at least 10 minutes), or for a fixed duration.
   * Default: `ALERT_OVERDUE_FACTOR` (2) × the period.
   */
  readonly overdue?: { readonly factor: number } | Duration.DurationInput | false | undefined
  /** Fire while a run has lasted longer than this. Default `ALERT_RUN_MAX_SECONDS` (none). */
  readonly maxRunDuration?: Duration.DurationInput | false | undefined
  /** Fire when a slot was missed in the last 15 minutes. Default true. */
  readonly missedSlots?: boolean | undefined
}

/** {@link AlertOptions} checked: `undefined` for the worker's default, `false` for off. */
export interface AlertPlan {
  readonly consecutiveFailures: number | false | undefined
  readonly overdue: { readonly factor: number } | Duration.Duration | false | undefined
  readonly maxRunDuration: Duration.Duration | false | undefined
  readonly missedSlots: boolean
}

const TypeId: unique symbol = Symbol.for("cron-worker/Job")

/** A job: build it with {@link make}. */
export interface Job<out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly schedule: string
  readonly run: Effect.Effect<void, E, R>
  /** The options as given; {@link validate} checks and decodes them. */
  readonly options: Omit<JobOptions<E, R>, "name" | "schedule" | "run">
}

/** Any job: the element type of a worker's job list. */
export type Any = Job<unknown, unknown>

/** The services a list of jobs needs, less what the scheduler provides itself. */
export type Requirements<J> = J extends Job<infer _E, infer R> ? Exclude<R, CurrentRun> : never

/** The typed failures a list of jobs may produce. */
export type Errors<J> = J extends Job<infer E, infer _R> ? E : never

class JobImpl<E, R> implements Job<E, R> {
  readonly [TypeId]: typeof TypeId = TypeId
  readonly name: string
  readonly schedule: string
  readonly run: Effect.Effect<void, E, R>
  readonly options: Omit<JobOptions<E, R>, "name" | "schedule" | "run">
  constructor({ name, run, schedule, ...options }: JobOptions<E, R>) {
    this.name = name
    this.schedule = schedule
    this.run = run
    this.options = options
  }
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
}

/** Builds a job. Nothing is checked here (it never throws): {@link validate} does, at registration and in `check`. */
export const make = <E = never, R = never>(options: JobOptions<E, R>): Job<E, R> => new JobImpl(options)

/** True for values built by {@link make}. */
export const isJob = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/** What a running job can read about its own run: `yield* CurrentRun`. */
export interface RunInfo {
  readonly job: string
  readonly runId: string
  /** The slot's nominal instant: the time the schedule named, not the time the run started. */
  readonly nominalAt: Date
  /** 1 for the first attempt, then 2, 3, … under `retry`. */
  readonly attempt: number
  readonly reason: RunReason
}

/** The current run's context, provided by the scheduler to every run. */
export class CurrentRun extends Context.Tag("cron-worker/CurrentRun")<CurrentRun, RunInfo>() {}

/** A job option that cannot work (a negative timeout, zero attempts, …). */
export class InvalidJobOption extends Schema.TaggedError<InvalidJobOption>()("InvalidJobOption", {
  job: Schema.String,
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `job "${this.job}": invalid option ${this.option}: ${this.reason}`
  }
}

/** Two jobs with one name: names key the run history, so they must be unique. */
export class DuplicateJobName extends Schema.TaggedError<DuplicateJobName>()("DuplicateJobName", {
  job: Schema.String
}) {
  override get message(): string {
    return `job "${this.job}" is registered twice: job names must be unique`
  }
}

/** A {@link RetryPolicy} with its defaults applied. */
export interface RetryPlan {
  readonly attempts: number
  readonly initialDelay: Duration.Duration
  readonly factor: number
  readonly maxDelay: Duration.Duration
  readonly jitter: boolean
}

/** A job's options, checked and decoded: what the scheduler runs it by. */
export interface Plan {
  readonly spec: CronSpec.CronSpec
  /** `undefined`: the worker's default; `None`: no timeout. */
  readonly timeout: Option.Option<Duration.Duration> | undefined
  readonly overlap: Overlap
  readonly retry: RetryPlan | undefined
  readonly jitter: Option.Option<Duration.Duration>
  readonly catchUp: CatchUp
  readonly catchUpWindow: Duration.Duration
  readonly onAbandoned: OnAbandoned
  readonly alerts: AlertPlan
  readonly heartbeat: Heartbeat.Target | undefined
}

/** Longest timer the runtime honours (2^31 - 1 ms, about 24.8 days): longer timeouts would never fire. */
const LONGEST_TIMER = Duration.days(24)

/** A finite, non-negative duration of at most `LONGEST_TIMER`, or the reason it is not. */
/** The default `catchUpWindow`. */
const DEFAULT_CATCH_UP_WINDOW = Duration.hours(24)

const boundedDuration = (input: unknown): Either.Either<Duration.Duration, string> => {
  const negative = (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "string" && input.trim().startsWith("-"))
  const decoded = negative ? Option.none() : Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) {
    return Either.left(
      `must be a duration such as "30 seconds" or 5000 (ms), got ${JSON.stringify(input) ?? String(input)}`
    )
  }
  if (Duration.greaterThan(decoded.value, LONGEST_TIMER)) return Either.left("must be at most 24 days")
  return Either.right(decoded.value)
}

/**
 * Checks a job's name and options and parses its schedule in its zone (the
 * job's `timezone`, else `defaultTimezone`). The scheduler registers only jobs
 * that pass; `check` and `jobs` use the same function.
 */
export const validate = (
  job: Any,
  defaultTimezone: string
): Either.Either<Plan, InvalidJobOption | CronSpec.InvalidCronExpression> => {
  // Plain returns, not `Either.gen`: 100,000 jobs are validated at start-up.
  const invalid = (option: string, reason: string) =>
    Either.left(new InvalidJobOption({ job: job.name, option, reason }))
  const o = job.options
  if (!/^[\w.:@/-]{1,200}$/.test(job.name)) {
    return invalid("name", `must be 1–200 letters, digits or _ . : @ / -, got "${job.name}"`)
  }
  const overlap = o.overlap ?? "skip"
  if (!["skip", "allow", "queue", "replace"].includes(overlap)) {
    return invalid("overlap", `must be skip, allow, queue or replace, got "${overlap}"`)
  }
  const catchUp = o.catchUp ?? "latest"
  if (!["latest", "skip", "all"].includes(catchUp)) {
    return invalid("catchUp", `must be latest, skip or all, got "${catchUp}"`)
  }
  const onAbandoned = o.onAbandoned ?? "record"
  if (!["record", "rerun"].includes(onAbandoned)) {
    return invalid("onAbandoned", `must be record or rerun, got "${onAbandoned}"`)
  }
  let timeout: Plan["timeout"] = undefined
  if (o.timeout !== undefined) {
    if (Option.exists(Duration.decodeUnknown(o.timeout), (d) => !Duration.isFinite(d))) timeout = Option.none()
    else {
      const bounded = boundedDuration(o.timeout)
      if (Either.isLeft(bounded)) return invalid("timeout", bounded.left)
      timeout = Option.liftPredicate(bounded.right, (d) => !Duration.isZero(d))
    }
  }
  let jitter: Plan["jitter"] = Option.none()
  if (o.jitter !== undefined) {
    const bounded = boundedDuration(o.jitter)
    if (Either.isLeft(bounded)) return invalid("jitter", bounded.left)
    jitter = Option.some(bounded.right)
  }
  let catchUpWindow = DEFAULT_CATCH_UP_WINDOW
  if (o.catchUpWindow !== undefined) {
    const bounded = boundedDuration(o.catchUpWindow)
    if (Either.isLeft(bounded)) return invalid("catchUpWindow", bounded.left)
    catchUpWindow = bounded.right
  }
  let retry: Plan["retry"] = undefined
  if (o.retry !== undefined) {
    const { attempts, factor = 2, jitter: jittered = true } = o.retry
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
      return invalid("retry.attempts", `must be a whole number from 1 to 1000, got ${attempts}`)
    }
    if (!(factor >= 1 && factor < Infinity)) return invalid("retry.factor", `must be a number ≥ 1, got ${factor}`)
    const initialDelay = boundedDuration(o.retry.initialDelay ?? Duration.seconds(1))
    if (Either.isLeft(initialDelay)) return invalid("retry.initialDelay", initialDelay.left)
    const maxDelay = boundedDuration(o.retry.maxDelay ?? Duration.minutes(1))
    if (Either.isLeft(maxDelay)) return invalid("retry.maxDelay", maxDelay.left)
    retry = { attempts, factor, initialDelay: initialDelay.right, maxDelay: maxDelay.right, jitter: jittered }
  }
  const alerts = validateAlerts(o.alerts)
  if (Either.isLeft(alerts)) return invalid(alerts.left[0], alerts.left[1])
  let heartbeat: Plan["heartbeat"] = undefined
  if (o.heartbeat !== undefined) {
    if (typeof o.heartbeat !== "object" || o.heartbeat === null) {
      return invalid("heartbeat", "must be an object such as { url: \"https://hc-ping.com/<uuid>\" }")
    }
    const { timeout: pingTimeout = Heartbeat.DEFAULT_TIMEOUT, url } = o.heartbeat
    const parsed = typeof url === "string" && URL.canParse(url) ? new URL(url) : undefined
    if (parsed === undefined || !["http:", "https:"].includes(parsed.protocol)) {
      // The value is not shown: a heartbeat URL is a key.
      return invalid("heartbeat.url", "must be an http or https URL such as https://hc-ping.com/<uuid>")
    }
    const bounded = positiveDuration(pingTimeout)
    if (Either.isLeft(bounded)) return invalid("heartbeat.timeout", bounded.left)
    if (Duration.greaterThan(bounded.right, Duration.minutes(1))) {
      return invalid("heartbeat.timeout", "must be at most 1 minute")
    }
    heartbeat = { url, timeout: bounded.right }
  }
  const spec = CronSpec.parse(job.schedule, { timezone: o.timezone ?? defaultTimezone })
  if (Either.isLeft(spec)) {
    const error = spec.left
    return Either.left(
      new CronSpec.InvalidCronExpression({ expression: error.expression, reason: error.reason, job: job.name })
    )
  }
  return Either.right({
    spec: spec.right,
    timeout,
    overlap,
    retry,
    jitter,
    catchUp,
    catchUpWindow,
    onAbandoned,
    alerts: alerts.right,
    heartbeat
  })
}

/** A job's alert options, checked: the plan, or the option at fault and why. */
const validateAlerts = (
  o: AlertOptions | undefined
): Either.Either<AlertPlan, readonly [option: string, reason: string]> => {
  if (o === undefined) {
    return Either.right({
      consecutiveFailures: undefined,
      overdue: undefined,
      maxRunDuration: undefined,
      missedSlots: true
    })
  }
  if (typeof o !== "object" || o === null) {
    return Either.left(["alerts", "must be an object such as { overdue: false }"])
  }
  const { consecutiveFailures, maxRunDuration, missedSlots = true, overdue } = o
  if (
    consecutiveFailures !== undefined && consecutiveFailures !== false &&
    !(Number.isInteger(consecutiveFailures) && consecutiveFailures >= 1 && consecutiveFailures <= 100)
  ) {
    return Either.left([
      "alerts.consecutiveFailures",
      `must be a whole number from 1 to 100 or false, got ${JSON.stringify(consecutiveFailures)}`
    ])
  }
  let overduePlan: AlertPlan["overdue"] = overdue === false ? false : undefined
  if (typeof overdue === "object" && overdue !== null && "factor" in overdue) {
    if (!(typeof overdue.factor === "number" && overdue.factor >= 1 && overdue.factor <= 1000)) {
      return Either.left(["alerts.overdue.factor", `must be a number from 1 to 1000, got ${overdue.factor}`])
    }
    overduePlan = { factor: overdue.factor }
  } else if (overdue !== undefined && overdue !== false) {
    const bounded = positiveDuration(overdue)
    if (Either.isLeft(bounded)) return Either.left(["alerts.overdue", bounded.left])
    overduePlan = bounded.right
  }
  let maxRun: AlertPlan["maxRunDuration"] = maxRunDuration === false ? false : undefined
  if (maxRunDuration !== undefined && maxRunDuration !== false) {
    const bounded = positiveDuration(maxRunDuration)
    if (Either.isLeft(bounded)) return Either.left(["alerts.maxRunDuration", bounded.left])
    maxRun = bounded.right
  }
  if (typeof missedSlots !== "boolean") {
    return Either.left(["alerts.missedSlots", `must be true or false, got ${JSON.stringify(missedSlots)}`])
  }
  return Either.right({ consecutiveFailures, overdue: overduePlan, maxRunDuration: maxRun, missedSlots })
}

/** A duration above zero (an alert limit of zero would fire at once), or the reason it is not. */
const positiveDuration = (input: unknown): Either.Either<Duration.Duration, string> =>
  Either.flatMap(
    boundedDuration(input),
    (d) => Duration.isZero(d) ? Either.left("must be longer than zero (false turns the rule off)") : Either.right(d)
  )
