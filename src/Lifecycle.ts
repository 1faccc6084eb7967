/**
 * The worker process from start to exit: build the services, register and
 * start the jobs, wait for SIGINT or SIGTERM (or an uncaught exception), shut
 * down in order. `ProcessGuard` handles the signals and the watchdog.
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Cause, Deferred, Duration, Effect, Exit, Layer, Option, Ref } from "effect"
import * as Admin from "./Admin.js"
import * as PgAlertHistory from "./AlertHistory/Pg.js"
import * as AlertEvaluator from "./Alerts/Evaluator.js"
import { Control } from "./Control.js"
import * as Database from "./Database.js"
import { EmbeddedDatabaseError } from "./Database/Embedded.js"
import { describe } from "./Execution.js"
import * as Health from "./Health.js"
import * as Http from "./Http.js"
import * as Infrastructure from "./Infrastructure.js"
import type * as Job from "./Job.js"
import type * as Kind from "./Kind.js"
import * as Log from "./Log.js"
import * as SharedMetrics from "./Metrics/Shared.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as ProcessGuard from "./ProcessGuard.js"
import * as Redact from "./Redact.js"
import * as RunContext from "./RunContext.js"
import { JobNotFound, type RegistrationError, Scheduler } from "./Scheduler.js"
import * as Schedules from "./Schedules.js"
import * as ScheduleStore from "./Schedules/Store.js"
import * as Worker from "./Worker.js"
import { WorkerConfig, type WorkerConfigShape } from "./WorkerConfig.js"

/** A worker's own services: provides what its jobs need beyond what the worker gives them. */
export type AppLayer<
  Jobs extends ReadonlyArray<Job.Any>,
  E,
  Kinds extends ReadonlyArray<Kind.Any> = readonly []
> = Layer.Layer<
  Exclude<Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]>, Infrastructure.Provided>,
  E,
  Infrastructure.Provided
>

/**
 * What a command needs of the stack: the worker (`worker`: every part, the default) or one manual run (`run <job>`:
 * no HTTP endpoint, as the running worker may hold `HTTP_PORT`; the outbox relay only flushed when asked).
 */
export type Mode = Infrastructure.Options

/**
 * The whole stack under a worker's jobs, for the configuration read at start-up and a command's {@link Mode}:
 * it provides the scheduler, the outbox relay and every service the jobs and the kinds need. Built in start-up
 * order; closing it is the ordered shutdown (the last layer built closes first).
 */
export type Stack<
  Jobs extends ReadonlyArray<Job.Any>,
  E,
  Kinds extends ReadonlyArray<Kind.Any> = readonly []
> = (
  config: WorkerConfigShape,
  mode: Mode
) => Layer.Layer<
  Scheduler | OutboxRelay.OutboxRelay | Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]>,
  E
>

/**
 * The worker's default stack on the app's `layer`, for `kinds`, in start-up order (read from the bottom): the
 * context of runs, the configuration, the infrastructure (telemetry, the database, the outbox relay, the run store,
 * the publisher, HTTP: `Infrastructure.make`), the app's layer, the scheduler, the schedules created at run time,
 * the alert history, the operations service, and on the HTTP server the admin API, `/metrics`, the alerts and the
 * scheduler attached to the health probes (first to close: readiness fails as shutdown begins). `src/main.ts` shows
 * it layer by layer.
 */
export const stack = <Jobs extends ReadonlyArray<Job.Any>, E, Kinds extends ReadonlyArray<Kind.Any> = readonly []>(
  layer: AppLayer<Jobs, E, Kinds>,
  kinds: Kinds = [] as unknown as Kinds
): Stack<Jobs, E | Infrastructure.StartError, Kinds> =>
(config, mode) =>
  // The jobs' requirements are the app layer's and the worker's (`AppLayer`); on generic jobs the checker cannot tell.
  (mode.http === false
    ? Layer.empty
    : Layer.mergeAll(Admin.layer, SharedMetrics.layer, AlertEvaluator.layer, Health.attach)).pipe(
      Layer.provideMerge(Control.Default),
      Layer.provideMerge(PgAlertHistory.layer),
      Layer.provideMerge(Schedules.layer(kinds)),
      Layer.provideMerge(ScheduleStore.layerPg),
      Layer.provideMerge(Scheduler.Default),
      Layer.provideMerge(layer),
      Layer.provideMerge(Infrastructure.make(mode)),
      Layer.provideMerge(Layer.succeed(WorkerConfig, config)),
      // Every fiber resumes in its own run's context (or none): see RunContext.
      Layer.provideMerge(RunContext.layer)
    ) as Layer.Layer<
      Scheduler | OutboxRelay.OutboxRelay | Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]>,
      E | Infrastructure.StartError
    >

/** The start-up failures of the infrastructure: a database that cannot be opened, `HTTP_PORT` unusable. */
export const isStartError = (error: unknown): error is Infrastructure.StartError | Http.HttpPortUnavailable =>
  error instanceof Database.DatabaseUnavailable || error instanceof EmbeddedDatabaseError ||
  error instanceof Http.HttpPortUnavailable

/** A start-up failure in one line: the message of ours (it names what and why), else the error described. */
export const describeStartError = (error: unknown): string =>
  isStartError(error) ? Redact.scrub(error.message) : describe(error)

/**
 * The worker's start-up failure, logged once as ERROR `worker failed to
 * start`. Invalid jobs are left to the command line, which prints them as it
 * prints bad configuration.
 */
const logStartFailure = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.tapErrorCause(self, (cause) => {
    const error = Cause.squash(cause)
    return Cause.isInterruptedOnly(cause) || error instanceof Worker.InvalidJobs
      ? Effect.void
      : Effect.logError("worker failed to start").pipe(Effect.annotateLogs({ error: describeStartError(error) }))
  })

const withLogs = (config: WorkerConfigShape, stream: "stdout" | "stderr" = "stdout") =>
  Effect.provide(Log.layer({ service: config.serviceName, format: config.logFormat, level: config.logLevel, stream }))

/**
 * Runs the worker made of `jobs` until a signal, then shuts it down: the
 * scheduler first (running jobs get the grace period), then the rest of
 * `stack` from the top down: the app's services, the outbox relay and AMQP,
 * the database, telemetry. Fails only if
 * start-up fails. After an uncaught exception the same shutdown runs, then the
 * process exits with code 1, so that its supervisor restarts it.
 */
export const run = <
  const Jobs extends ReadonlyArray<Job.Any>,
  E,
  const Kinds extends ReadonlyArray<Kind.Any> = readonly []
>(
  config: WorkerConfigShape,
  jobs: Jobs,
  stack: Stack<Jobs, E, Kinds>,
  kinds: Kinds = [] as unknown as Kinds
): Effect.Effect<void, E | Worker.InvalidJobs | Infrastructure.StartError | Http.HttpPortUnavailable> => {
  let guard: ProcessGuard.Guard | undefined
  return Effect.gen(function*() {
    yield* Effect.logInfo("initializing worker").pipe(
      Effect.annotateLogs({
        timezone: config.timezone,
        max_concurrent_jobs: config.maxConcurrentJobs,
        default_timeout_seconds: Option.match(config.defaultTimeout, { onNone: () => 0, onSome: Duration.toSeconds }),
        shutdown_timeout_seconds: Duration.toSeconds(config.shutdownTimeout)
      })
    )
    const invalid = [...Worker.validate(jobs, config.timezone), ...Worker.validateKinds(kinds)]
    if (invalid.length > 0) return yield* Effect.fail(new Worker.InvalidJobs({ errors: invalid }))
    // HTTP_PORT in use fails start-up before the database starts, not after.
    if (Option.isSome(config.httpPort)) yield* Http.checkPort(config.httpPort.value)
    // Only a worker that started shuts down: a failed start-up is logged as such, once. Runs last, after
    // the services have closed.
    const started = yield* Ref.make(false)
    yield* Effect.addFinalizer((exit) =>
      Effect.flatMap(Ref.get(started), (ok) =>
        ok && (Exit.isSuccess(exit) || Exit.isInterrupted(exit))
          ? Effect.logInfo("worker shutdown completed")
          : Effect.void)
    )
    const shutdown = yield* Deferred.make<ProcessGuard.Trigger>()
    guard = yield* ProcessGuard.install({ config, shutdown, signals: true })
    yield* Effect.gen(function*() {
      // Each job requires part of what the stack provides; the checker has lost which part.
      yield* (Worker.start(jobs, kinds) as Effect.Effect<void, Worker.InvalidJobs, Scheduler>)
      yield* Ref.set(started, true)
      yield* Deferred.await(shutdown)
    }).pipe(Effect.provide(stack(config, {})))
  }).pipe(
    Effect.scoped,
    logStartFailure,
    withLogs(config),
    // Node's state after an uncaught exception (before or during the shutdown) cannot be trusted: exit 1 now
    // that the shutdown is done, whether it ended normally or by the runtime's interruption on a signal.
    Effect.ensuring(
      Effect.suspend(() => guard?.failed ?? Effect.succeed(false)).pipe(
        Effect.flatMap((failed) => failed ? Effect.sync(() => process.exit(1)) : Effect.void)
      )
    )
  )
}

/**
 * Runs one job now as a manual run on `stack` in `run` mode (no HTTP, the
 * outbox relay in flush-only mode, its loops not started), then, when RabbitMQ is configured and
 * `deliver` is not `false`, delivers what is pending before returning.
 * Returns the run's record.
 */
export const runOnce = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  config: WorkerConfigShape,
  jobs: Jobs,
  stack: Stack<Jobs, E>,
  name: string,
  options: { readonly deliver?: boolean; readonly overlap?: Job.Overlap | undefined } = {}
) =>
  Effect.gen(function*() {
    const job = jobs.find((j) => j.name === name)
    if (job === undefined) return yield* Effect.fail(new JobNotFound({ job: name }))
    const invalid = Worker.validate([job], config.timezone)
    if (invalid.length > 0) return yield* Effect.fail(new Worker.InvalidJobs({ errors: invalid }))
    const shutdown = yield* Deferred.make<ProcessGuard.Trigger>()
    yield* ProcessGuard.install({ config, shutdown, signals: false, stream: "stderr" })
    // An uncaught exception (logged by the guard) interrupts the run, which is recorded as interrupted.
    const aborted = Effect.flatMap(
      Deferred.await(shutdown),
      () => Effect.dieMessage("an uncaught exception interrupted the run")
    )
    return yield* Effect.gen(function*() {
      const scheduler = yield* Scheduler
      yield* (scheduler.register(job) as Effect.Effect<void, RegistrationError, Scheduler>)
      const record = yield* Effect.raceFirst(scheduler.trigger(name, { overlap: options.overlap }), aborted)
      const relay = yield* OutboxRelay.OutboxRelay
      if (relay.enabled && options.deliver !== false) {
        const left = yield* relay.flush(DELIVERY_TIMEOUT)
        yield* (left.pending > 0
          ? Effect.logWarning("outbox not delivered before exit: messages wait for the worker")
          : Effect.logInfo("outbox flushed"))
          .pipe(Effect.annotateLogs({ ...left }))
      }
      return record
      // No HTTP endpoint: the running worker may hold HTTP_PORT. No background relay: only the flush above.
    }).pipe(Effect.provide(stack(config, { http: false, relay: "flush" })))
    // Its stdout is for its result line: logs go to stderr.
  }).pipe(Effect.scoped, withLogs(config, "stderr"))

/** How long `run <job>` waits for the broker to take what the job published. */
const DELIVERY_TIMEOUT = Duration.seconds(30)

/**
 * A tool command (`migrate`, `seed-demo`, `outbox`, …) on the database; its
 * logs go to stderr, its output to stdout. A start-up failure is the
 * command's to report.
 */
export const withDatabase = <A, E, R>(
  config: WorkerConfigShape,
  effect: Effect.Effect<A, E, R>,
  database: Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, Infrastructure.StartError, WorkerConfig> =
    Database.layer
) =>
  effect.pipe(
    Effect.provide(database),
    Effect.provide(Layer.succeed(WorkerConfig, config)),
    withLogs(config, "stderr")
  ) as Effect.Effect<
    A,
    E | Infrastructure.StartError,
    Exclude<R, SqlClient.SqlClient | PgClient.PgClient | WorkerConfig>
  >
