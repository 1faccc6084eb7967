/**
 * One run of one slot, once it is claimed and admitted: attempts under the
 * job's retry policy, the timeout over them all, defects recovered, and the
 * outcome classified, logged, traced, counted and recorded.
 */
import { SqlClient } from "@effect/sql"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Metric,
  MetricBoundaries,
  MetricKey,
  MetricLabel,
  Option,
  Schedule,
  Schema,
  Tracer
} from "effect"
import type { Deadlines } from "./Deadlines.js"
import { CurrentRun, type RetryPlan, type RunInfo } from "./Job.js"
import * as Redact from "./Redact.js"
import * as RunContext from "./RunContext.js"
import type { Outcome, RunStoreShape } from "./RunStore.js"

/** The job ran past its timeout. */
export class RunTimedOut extends Schema.TaggedError<RunTimedOut>()("RunTimedOut", { after: Schema.DurationFromSelf }) {
  override get message(): string {
    return `timed out after ${Duration.format(this.after)}`
  }
}

/** What a slot needs to run: the job's effect (its services already provided) and its policies. */
export interface Runnable {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, CurrentRun>
  readonly timeout: Option.Option<Duration.Duration>
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  readonly attempts: number
}

/** The retry policy as a schedule: exponential, jittered, capped, `attempts - 1` retries. */
export const retrySchedule = (policy: RetryPlan): Schedule.Schedule<unknown, unknown> => {
  const base = Schedule.exponential(policy.initialDelay, policy.factor)
  const jittered = policy.jitter ? Schedule.jittered(base) : base
  return jittered.pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, policy.maxDelay)),
    Schedule.intersect(Schedule.recurs(policy.attempts - 1))
  )
}

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

/**
 * The counter of each (job, outcome), made once from a key that carries its
 * labels: such a metric finds its series in the registry once and keeps it,
 * where `Metric.tagged` looks the series up again on every update.
 */
const counters = new Map<string, Effect.Effect<void>>()

/** Counts a slot's outcome. */
export const count = (job: string, status: string): Effect.Effect<void> => {
  const key = `${job}\u0000${status}`
  let increment = counters.get(key)
  if (increment === undefined) {
    const labels = [MetricLabel.make("job", job), MetricLabel.make("status", status)]
    increment = Metric.increment(Metric.fromMetricKey(MetricKey.taggedWithLabels(runsTotal, labels)))
    counters.set(key, increment)
  }
  return increment
}

/** A failure as one line, secrets masked: `Name: message` for errors, their JSON otherwise. */
export const describe = (error: unknown): string => Redact.scrub(describeRaw(error))

const describeRaw = (error: unknown): string => {
  if (error instanceof Error) {
    const name = "_tag" in error && typeof error._tag === "string" ? error._tag : error.name
    const own = error.message === "" ? name : `${name}: ${error.message}`
    // A wrapper's message often hides the cause ("Failed to acquire connection" over ECONNREFUSED): show it.
    const cause = error.cause instanceof Error && error.cause.message !== "" && !own.includes(error.cause.message)
      ? ` (cause: ${describeRaw(error.cause)})`
      : ""
    return own + cause
  }
  if (typeof error === "string") return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}

/** The outcome of a run's exit; `timedOut` says whether the deadline watchdog alone interrupted it. */
const classify = (
  exit: Exit.Exit<void, unknown>,
  timedOut: (cause: Cause.Cause<unknown>) => Option.Option<RunTimedOut>
): { status: Outcome["status"]; error?: string; panic?: unknown } => {
  if (Exit.isSuccess(exit)) return { status: "succeeded" }
  const cause = exit.cause
  const timeout = timedOut(cause)
  if (Option.isSome(timeout)) return { status: "timed_out", error: timeout.value.message }
  const defects = [...Cause.defects(cause)]
  if (defects.length > 0) return { status: "failed", error: `panic: ${describe(defects[0])}`, panic: defects[0] }
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return { status: "failed", error: describe(failure.value) }
  return { status: "interrupted", error: "interrupted" }
}

/**
 * Runs the slot described by `info` and records its outcome. Never fails; when
 * the fiber is interrupted (shutdown, `replace`), the run is interrupted, its
 * finalizers run, and it is recorded as interrupted with `interruptReason()`.
 */
export const execute = (
  store: RunStoreShape,
  deadlines: Deadlines,
  runnable: Runnable,
  info: Omit<RunInfo, "attempt">,
  interruptReason: () => string | undefined
): Effect.Effect<void> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      yield* Metric.update(runLag, Math.max(0, started - info.nominalAt.getTime()) / 1000)
      yield* Effect.annotateCurrentSpan({ "run.lag_ms": started - info.nominalAt.getTime() })
      yield* Effect.logInfo("job started")
      let attempt = 0
      const once = Effect.suspend(() => {
        attempt++
        return runnable.run.pipe(
          Effect.provideService(CurrentRun, { ...info, attempt }),
          Effect.tapError((error) =>
            attempt < runnable.attempts
              ? Effect.logWarning("job attempt failed, retrying").pipe(
                Effect.annotateLogs({ attempt, error: describe(error) })
              )
              : Effect.void
          )
        )
      })
      const retried = runnable.retry === undefined ? once : Effect.retry(once, runnable.retry)
      const bounded = Option.match(runnable.timeout, {
        onNone: () => retried,
        onSome: (after) => deadlines.within(retried, Duration.toMillis(after))
      })
      const exit = yield* Effect.exit(restore(RunContext.within(info, bounded)))
      const finished = yield* Clock.currentTimeMillis
      // Interrupted by the watchdog alone: timed out (a replace or shutdown first is an interruption, with its reason).
      const result = classify(exit, (cause) =>
        deadlines.isTimeout(cause)
          ? Option.map(runnable.timeout, (after) => new RunTimedOut({ after }))
          : Option.none())
      const error = result.status === "interrupted" ? interruptReason() ?? result.error : result.error
      const annotations = { duration_ms: finished - started, attempt, status: result.status }
      yield* Effect.annotateCurrentSpan({ "run.outcome": result.status, "run.attempt": attempt })
      switch (result.status) {
        case "succeeded":
          yield* Effect.logInfo("job completed successfully").pipe(Effect.annotateLogs(annotations))
          break
        case "interrupted":
          yield* Effect.logWarning("job interrupted").pipe(Effect.annotateLogs({ ...annotations, error }))
          break
        default:
          if (result.panic !== undefined) {
            const stack = result.panic instanceof Error && result.panic.stack
              ? result.panic.stack
              : Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty)
            yield* Effect.logError("job panic recovered").pipe(
              Effect.annotateLogs({ ...annotations, error, panic: describe(result.panic), stack })
            )
          } else {
            yield* Effect.logError("job failed").pipe(Effect.annotateLogs({ ...annotations, error }))
          }
      }
      yield* Metric.update(runDuration, (finished - started) / 1000)
      yield* count(runnable.name, result.status)
      if (!(yield* store.finish(info.runId, { status: result.status, attempt, at: new Date(finished), error }))) {
        // Another instance marked the run abandoned (this worker stopped renewing its lease for too long).
        yield* Effect.logWarning("run outcome not recorded: the run had already been marked abandoned").pipe(
          Effect.annotateLogs({ status: result.status })
        )
      }
    })
  ).pipe(
    Effect.annotateLogs({
      job: info.job,
      run_id: info.runId,
      nominal_at: info.nominalAt.toISOString(),
      reason: info.reason
    }),
    Effect.withSpan(`job ${info.job}`, {
      root: true,
      kind: "internal",
      // The span's place in the source is always here: no stack trace per run.
      captureStackTrace: false,
      attributes: {
        "job.name": info.job,
        "run.id": info.runId,
        "run.nominal_at": info.nominalAt.toISOString(),
        "run.reason": info.reason
      }
    })
  )

/**
 * The job's effect with the services captured at registration. Of the context
 * of whoever forks the run it takes only `CurrentRun` and the run's span: not
 * its services, not its open SQL transaction.
 */
export const provideContext = <R>(
  run: Effect.Effect<void, unknown, R>,
  context: Context.Context<Exclude<R, CurrentRun>>
): Effect.Effect<void, unknown, CurrentRun> => {
  const captured = Context.omit(Tracer.ParentSpan, CurrentRun, SqlClient.TransactionConnection)(context)
  const fromRun = Context.pick(CurrentRun, Tracer.ParentSpan)
  return Effect.mapInputContext(
    run,
    // The run's part holds CurrentRun; the captured one the rest of R. The checker cannot see through the Exclude.
    (ambient: Context.Context<CurrentRun>) => Context.merge(captured, fromRun(ambient)) as Context.Context<R>
  )
}
