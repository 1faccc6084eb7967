/**
 * One run of one slot, once it is claimed and admitted: attempts under the
 * job's retry policy, the timeout over them all, defects recovered, and the
 * outcome classified, logged, traced, counted and recorded.
 */
import { SqlClient } from "@effect/sql"
import {
  Cause,
  type Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberRef,
  HashMap,
  Option,
  Schedule,
  Schema,
  Tracer
} from "effect"
import type { Deadlines } from "./Deadlines.js"
import * as Heartbeat from "./Heartbeat.js"
import { CurrentRun, type RetryPlan, type RunInfo } from "./Job.js"
import * as Metrics from "./Metrics.js"
import * as Redact from "./Redact.js"
import * as RunContext from "./RunContext.js"
import type { Attempt, Outcome, RunStoreShape } from "./RunStore.js"

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
  /** Its heartbeat URL, pinged at start and end (see `Heartbeat.ts`). */
  readonly heartbeat?: Heartbeat.Target | undefined
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
): { status: Outcome["status"]; error?: string; panic?: unknown; failure?: unknown } => {
  if (Exit.isSuccess(exit)) return { status: "succeeded" }
  const cause = exit.cause
  const timeout = timedOut(cause)
  if (Option.isSome(timeout)) return { status: "timed_out", error: timeout.value.message }
  const defects = [...Cause.defects(cause)]
  if (defects.length > 0) return { status: "failed", error: `panic: ${describe(defects[0])}`, panic: defects[0] }
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return { status: "failed", error: describe(failure.value), failure: failure.value }
  return { status: "interrupted", error: "interrupted" }
}

/** The failed attempts a run keeps for its detail, at most: a retry policy of 1000 attempts keeps the last ones. */
export const ATTEMPTS_KEPT = 20

/** The longest stack kept for a run's detail, in characters. */
export const STACK_KEPT = 8192

/** An attempt's error: its failure, or its defect as `panic: …`; an interruption is no error of the attempt's. */
const attemptError = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return describe(failure.value)
  const defects = [...Cause.defects(cause)]
  return defects.length > 0 ? `panic: ${describe(defects[0])}` : undefined
}

/** The stack of what ended a run, when it is an `Error` that has one: masked as log lines are, bounded. */
const stackOf = (error: unknown): string | undefined =>
  error instanceof Error && typeof error.stack === "string" && error.stack !== ""
    ? Redact.scrub(error.stack).slice(0, STACK_KEPT)
    : undefined

/**
 * Runs the slot described by `info` and records its outcome. Never fails; when
 * the fiber is interrupted (shutdown, `replace`), the run is interrupted, its
 * finalizers run, and it is recorded as interrupted with `interruptReason(runId)`.
 * `ended` is called when the job's work has ended, before its outcome is recorded.
 *
 * It must run on a fiber of its own (the slot's): it sets that fiber's span
 * rather than scoping it, which spares a run the work of restoring it.
 */
export const execute = (
  store: RunStoreShape,
  deadlines: Deadlines,
  clock: Clock.Clock,
  runnable: Runnable,
  info: Omit<RunInfo, "attempt">,
  interruptReason: (runId: string) => string | undefined,
  ended?: () => void
): Effect.Effect<void> => {
  let attempt = 0
  const failed: Array<Attempt> = []
  /** The run's span, set before the first attempt: the parent of the job's own spans. */
  let parent: Tracer.Span | undefined
  const parts = provided.get(runnable.run)
  const once = Effect.suspend(() => {
    attempt++
    const current = attempt
    const run = Effect.tapErrorCause(
      // The job's services, its `CurrentRun` and the run's span, provided in one step (see `provideContext`); for
      // the first attempt, set with the run's context (see below).
      parts === undefined || parent === undefined
        ? Effect.provideService(runnable.run, CurrentRun, { ...info, attempt })
        : attempt === 1
        ? parts.run
        : Effect.provide(parts.run, runContext(parts.captured, { ...info, attempt }, parent)),
      (cause) =>
        Effect.sync(() => {
          const error = attemptError(cause)
          if (error === undefined) return
          failed.push({ attempt: current, at: new Date(clock.unsafeCurrentTimeMillis()), error })
          if (failed.length > ATTEMPTS_KEPT) failed.shift()
        })
    )
    return attempt < runnable.attempts
      ? Effect.tapError(run, (error) =>
        Effect.logWarning("job attempt failed, retrying").pipe(
          Effect.annotateLogs({ attempt, error: describe(error) })
        ))
      : run
  })
  const retried = runnable.retry === undefined ? once : Effect.retry(once, runnable.retry)
  const timeout = Option.isNone(runnable.timeout) ? undefined : Duration.toMillis(runnable.timeout.value)
  const nominal = info.nominalAt.getTime()
  /**
   * The attempts with the services of the first one (the job's, its `CurrentRun`, the run's span) set on the run's
   * fiber, and the fiber's own set back after: the work of `Effect.provide`, with no region of its own (the caller
   * is uninterruptible).
   */
  const withServices = (attempts: Effect.Effect<void, unknown>, span: Tracer.Span): Effect.Effect<void, unknown> =>
    parts === undefined ? attempts : Effect.flatMap(
      FiberRef.getAndSet(FiberRef.currentContext, runContext(parts.captured, { ...info, attempt: 1 }, span)),
      (ambient) =>
        Effect.flatMap(
          Effect.exit(attempts),
          (exit) => Effect.zipRight(FiberRef.set(FiberRef.currentContext, ambient), exit)
        )
    )
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.tracer, (tracer) => {
      const started = clock.unsafeCurrentTimeMillis()
      const span = tracer.span(
        `job ${info.job}`,
        Option.none(),
        Context.empty(),
        [],
        clock.unsafeCurrentTimeNanos(),
        "internal"
      )
      parent = span
      span.attribute("job.name", info.job)
      span.attribute("run.id", info.runId)
      span.attribute("run.nominal_at", info.nominalAt.toISOString())
      span.attribute("run.reason", info.reason)
      span.attribute("run.lag_ms", started - nominal)
      Metrics.unsafeLag(info.job, started - nominal)
      Metrics.unsafeRunning(info.job, 1)
      return FiberRef.update(FiberRef.currentContext, (context) => Context.add(context, Tracer.ParentSpan, span)).pipe(
        Effect.zipRight(Effect.logInfo("job started")),
        Effect.zipRight(Effect.sync(() => Heartbeat.unsafePing(info.job, runnable.heartbeat, "start", info.runId))),
        // The run's context and deadline are entered and left here, uninterruptible; only the attempts are not.
        Effect.zipRight(Effect.exit(RunContext.guard(
          info,
          timeout === undefined ? withServices(restore(retried), span) : deadlines.guard(
            withServices(restore(retried), span),
            timeout
          )
        ))),
        Effect.flatMap((exit) => {
          const finished = clock.unsafeCurrentTimeMillis()
          // The work is over: the next run of the job need not wait for this one's outcome to reach the store.
          ended?.()
          // The span ends whatever comes of the record (a store that fails): uninterruptible here, so the exit
          // captured is all an `ensuring` would add.
          return Effect.flatMap(
            Effect.exit(recordOutcome(store, deadlines, runnable, info, interruptReason, exit, started, finished, {
              attempt,
              failed
            }, span)),
            (recorded) => {
              span.end(clock.unsafeCurrentTimeNanos(), exit)
              return recorded
            }
          )
        })
      )
    })
  )
}

/** A run's end: classified, logged, counted and recorded. */
const recordOutcome = (
  store: RunStoreShape,
  deadlines: Deadlines,
  runnable: Runnable,
  info: Omit<RunInfo, "attempt">,
  interruptReason: (runId: string) => string | undefined,
  exit: Exit.Exit<void, unknown>,
  started: number,
  finished: number,
  attempts: { readonly attempt: number; readonly failed: ReadonlyArray<Attempt> },
  span: Tracer.Span
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const attempt = attempts.attempt
    // Interrupted by the watchdog alone: timed out (a replace or shutdown first is an interruption, with its reason).
    const result = classify(exit, (cause) =>
      deadlines.isTimeout(cause)
        ? Option.map(runnable.timeout, (after) => new RunTimedOut({ after }))
        : Option.none())
    const error = result.status === "interrupted" ? interruptReason(info.runId) ?? result.error : result.error
    Metrics.unsafeDuration(runnable.name, finished - started)
    Metrics.unsafeRunning(runnable.name, -1)
    Metrics.unsafeCount(runnable.name, result.status)
    const fields: Record<string, unknown> = { duration_ms: finished - started, attempt, status: result.status }
    let log: Effect.Effect<void>
    switch (result.status) {
      case "succeeded":
        log = Effect.logInfo("job completed successfully")
        break
      case "interrupted":
        fields.error = error
        log = Effect.logWarning("job interrupted")
        break
      default:
        fields.error = error
        if (result.panic !== undefined) {
          fields.panic = describe(result.panic)
          fields.stack = result.panic instanceof Error && result.panic.stack
            ? result.panic.stack
            : Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty)
          log = Effect.logError("job panic recovered")
        } else {
          log = Effect.logError("job failed")
        }
    }
    // The slot's own fiber, whose run is over: its annotations are set, not scoped.
    const annotate = FiberRef.update(FiberRef.currentLogAnnotations, (annotations) => {
      let out = annotations
      for (const key in fields) out = HashMap.set(out, key, fields[key])
      return out
    })
    if (result.status === "succeeded") Heartbeat.unsafePing(runnable.name, runnable.heartbeat, "success", info.runId)
    else if (result.status !== "interrupted") {
      Heartbeat.unsafePing(runnable.name, runnable.heartbeat, "fail", info.runId, error)
    }
    span.attribute("run.outcome", result.status)
    span.attribute("run.attempt", attempt)
    return Effect.zipRight(annotate, log).pipe(
      Effect.zipRight(store.finish(info.runId, {
        status: result.status,
        attempt,
        at: new Date(finished),
        error,
        attempts: attempts.failed.length === 0 ? undefined : attempts.failed,
        stack: stackOf(result.panic ?? result.failure),
        traceId: span.traceId
      })),
      Effect.flatMap((recorded) =>
        recorded
          ? Effect.void
          // Another instance marked the run abandoned (this worker stopped renewing its lease for too long).
          : Effect.logWarning("run outcome not recorded: the run had already been marked abandoned")
      )
    )
  })

/**
 * The captured part of each registration's context, made once per context: the jobs registered together, and every
 * schedule created at run time, share one (a copy per job cost about 50 bytes per service, per job).
 */
const captures = new WeakMap<Context.Context<never>, Context.Context<never>>()

/**
 * The job's effect with the services captured at registration. Of the context
 * of whoever forks the run it takes only `CurrentRun` and the run's span: not
 * its services, not its open SQL transaction.
 */
export const provideContext = <R>(
  run: Effect.Effect<void, unknown, R>,
  context: Context.Context<Exclude<R, CurrentRun>>
): Effect.Effect<void, unknown, CurrentRun> => {
  let captured = captures.get(context)
  if (captured === undefined) {
    captured = Context.omit(Tracer.ParentSpan, CurrentRun, SqlClient.TransactionConnection)(context)
    captures.set(context, captured)
  }
  const fromRun = Context.pick(CurrentRun, Tracer.ParentSpan)
  const result = Effect.mapInputContext(
    run,
    // The run's part holds CurrentRun; the captured one the rest of R. The checker cannot see through the Exclude.
    (ambient: Context.Context<CurrentRun>) => Context.merge(captured, fromRun(ambient)) as Context.Context<R>
  )
  provided.set(result, { run: run as Effect.Effect<void, unknown>, captured })
  return result
}

/**
 * The parts of each effect `provideContext` made: `execute` provides the run's whole context in one step, not the
 * run's part around the captured part (two context swaps per attempt, each a copy of the fiber's refs).
 */
const provided = new WeakMap<
  Effect.Effect<void, unknown, CurrentRun>,
  { readonly run: Effect.Effect<void, unknown>; readonly captured: Context.Context<never> }
>()

const CURRENT_RUN_KEY = CurrentRun.key
const PARENT_SPAN_KEY = Tracer.ParentSpan.key

/** What `provideContext`'s effect would see: the captured services, with `CurrentRun` and the run's span. */
const runContext = (captured: Context.Context<never>, run: RunInfo, span: Tracer.Span): Context.Context<never> => {
  const map = new Map(captured.unsafeMap)
  map.set(CURRENT_RUN_KEY, run)
  map.set(PARENT_SPAN_KEY, span)
  return Context.unsafeMake(map)
}
