/**
 * The worker process from start to exit: build the services, register and
 * start the jobs, wait for SIGINT or SIGTERM, shut down in order. A second
 * signal exits at once; a watchdog exits non-zero when shutdown hangs.
 */
import { Cause, Deferred, Duration, Effect, Exit, Layer, LogLevel, Option } from "effect"
import { describe } from "./Execution.js"
import type * as Job from "./Job.js"
import * as Log from "./Log.js"
import * as RunStore from "./RunStore.js"
import { Scheduler } from "./Scheduler.js"
import * as Worker from "./Worker.js"
import { WorkerConfig, type WorkerConfigShape } from "./WorkerConfig.js"

/** Time the watchdog allows past the shutdown grace period for interrupting jobs and closing services. */
export const WATCHDOG_MARGIN = Duration.seconds(5)

/** Exit code of a second signal: 128 + the signal's number, as shells report it. */
const signalExitCode = (signal: NodeJS.Signals) => (signal === "SIGINT" ? 130 : 143)

/**
 * Installs SIGINT/SIGTERM handlers for the scope's lifetime. The first signal
 * logs and completes `received`; a second one exits at once; the watchdog
 * exits with code 1 if the process is still alive `shutdownTimeout +
 * WATCHDOG_MARGIN` after the first.
 */
const handleSignals = (config: WorkerConfigShape, received: Deferred.Deferred<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const write = Log.writer({ service: config.serviceName, format: config.logFormat, level: config.logLevel })
      let watchdog: NodeJS.Timeout | undefined
      const onSignal = (signal: NodeJS.Signals) => {
        if (watchdog !== undefined) {
          write(LogLevel.Warning, "second signal received, exiting immediately", { signal })
          process.exit(signalExitCode(signal))
        }
        write(LogLevel.Info, "shutdown signal received, initiating graceful shutdown...", { signal })
        const deadline = Duration.sum(config.shutdownTimeout, WATCHDOG_MARGIN)
        watchdog = setTimeout(() => {
          write(LogLevel.Error, "shutdown did not finish in time, forcing exit", { waited_seconds: Duration.toSeconds(deadline) })
          process.exit(1)
        }, Duration.toMillis(deadline))
        watchdog.unref()
        Deferred.unsafeDone(received, Exit.void)
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      return { onSignal, stop: () => clearTimeout(watchdog) }
    }),
    ({ onSignal, stop }) =>
      Effect.sync(() => {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
        stop()
      })
  )

/**
 * Runs the worker made of `jobs` until a signal, then shuts it down: the
 * scheduler first (running jobs get the grace period), then the services of
 * `layer`, then the run store. Fails only if start-up fails.
 */
export const run = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  config: WorkerConfigShape,
  jobs: Jobs,
  layer: Layer.Layer<Job.Requirements<Jobs[number]>, E, WorkerConfig>
): Effect.Effect<void, E | Worker.InvalidJobs> => {
  const configLayer = Layer.succeed(WorkerConfig, config)
  const services = Scheduler.Default.pipe(
    Layer.provideMerge(Layer.merge(layer, RunStore.layerMemory())),
    Layer.provide(configLayer)
  )
  return Effect.gen(function*() {
    yield* Effect.logInfo("initializing worker").pipe(
      Effect.annotateLogs({
        timezone: config.timezone,
        max_concurrent_jobs: config.maxConcurrentJobs,
        default_timeout_seconds: Option.match(config.defaultTimeout, { onNone: () => 0, onSome: Duration.toSeconds }),
        shutdown_timeout_seconds: Duration.toSeconds(config.shutdownTimeout)
      })
    )
    const invalid = Worker.validate(jobs, config.timezone)
    if (invalid.length > 0) return yield* Effect.fail(new Worker.InvalidJobs({ errors: invalid }))
    const received = yield* Deferred.make<void>()
    yield* handleSignals(config, received)
    yield* Effect.gen(function*() {
      yield* Worker.start(jobs)
      yield* Deferred.await(received)
    }).pipe(Effect.provide(services))
  }).pipe(
    Effect.scoped,
    Effect.onExit((exit) =>
      Exit.isSuccess(exit) || Exit.isInterrupted(exit) ? Effect.logInfo("worker shutdown completed") : Effect.void
    ),
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError("worker failed to start").pipe(Effect.annotateLogs({ error: describe(Cause.squash(cause)) }))
    ),
    Effect.provide(Log.layer({ service: config.serviceName, format: config.logFormat, level: config.logLevel }))
  )
}
