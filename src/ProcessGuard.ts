/**
 * The process around the worker, for as long as it runs: signals (the first starts the graceful shutdown, a
 * second exits at once), the shutdown watchdog, errors thrown outside any fiber, and event-loop stalls.
 *
 * The watchdog has a thread of its own: a job stuck in synchronous code blocks the main thread's timers, and with
 * them the main thread's watchdog (which exits with code 1), so the thread, 2 s later, kills the process (SIGKILL).
 */
import { Deferred, Duration, Effect, Exit, LogLevel, type Scope } from "effect"
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import { describe } from "./Execution.js"
import * as Log from "./Log.js"
import * as RunContext from "./RunContext.js"
import type { WorkerConfigShape } from "./WorkerConfig.js"

/**
 * Time the watchdog allows past the shutdown grace period for interrupting jobs and closing services: more than
 * their bounded close times together (AMQP 2 s, the pool 1 s, the embedded database 5 s, telemetry 5 s).
 */
export const WATCHDOG_MARGIN = Duration.seconds(15)

/** How long after the main thread's watchdog the thread steps in: the main thread had its chance. */
const THREAD_DELAY_MILLIS = 2_000
/** How often the stall detector looks at the event loop. */
const STALL_TICK_MILLIS = 500
/** A turn of the event loop later than this is reported. */
export const STALL_THRESHOLD_MILLIS = 1_000

/** Why shutdown began. */
export type Trigger =
  | { readonly _tag: "Signal"; readonly signal: NodeJS.Signals }
  | { readonly _tag: "Fatal"; readonly error: string }

export interface Options {
  readonly config: WorkerConfigShape
  /** Completed with the trigger when shutdown must begin. */
  readonly shutdown: Deferred.Deferred<Trigger>
  /** Handle SIGINT and SIGTERM (the worker); `false` leaves them to the runtime (commands that run one job). */
  readonly signals: boolean
  /** Where the guard's own lines go. Default stdout. */
  readonly stream?: "stdout" | "stderr" | undefined
}

/** Exit code of a second signal: 128 + the signal's number, as shells report it. */
const signalExitCode = (signal: NodeJS.Signals) => (signal === "SIGINT" ? 130 : 143)

/**
 * The thread: at `delayMillis` (the main thread's watchdog should have exited by then, so its event loop is
 * blocked), writes `line` and kills the process. (Stopping the blocked code through the inspector's
 * `Runtime.terminateExecution` instead, so that the main thread could exit with code 1, aborts Node 20 when async
 * hooks are on, as `RunContext` needs.)
 */
const WATCHDOG_THREAD = `
const { workerData } = require("node:worker_threads")
const fs = require("node:fs")
setTimeout(() => {
  const line = workerData.line.replace(workerData.placeholder, new Date().toISOString())
  try { fs.writeSync(workerData.fd, line) } catch {}
  process.kill(process.pid, "SIGKILL")
}, workerData.delayMillis)
`

/** Fields naming the run behind the code executing now, when it is known. */
const runFields = (tag: RunContext.RunTag | undefined): Record<string, unknown> =>
  tag === undefined ? {} : { job: tag.job, run_id: tag.runId, nominal_at: tag.nominalAt.toISOString() }

const stackOf = (error: unknown) => (error instanceof Error && error.stack !== undefined ? error.stack : undefined)

/** The guards of a process, once installed. */
export interface Guard {
  /** Whether an uncaught exception happened (even during a shutdown a signal began): the process must exit 1. */
  readonly failed: Effect.Effect<boolean>
}

/** Installs the guards for the scope's lifetime. */
export const install = (options: Options): Effect.Effect<Guard, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => setUp(options)), ({ tearDown }) => Effect.sync(tearDown)),
    ({ failed }) => ({ failed: Effect.sync(failed) })
  )

const setUp = (
  { config, shutdown, signals, stream }: Options
): { readonly tearDown: () => void; readonly failed: () => boolean } => {
  const format = config.logFormat
  const write = Log.writer({ service: config.serviceName, format, level: config.logLevel, stream })
  let began = false
  let failed = false
  let watchdog: NodeJS.Timeout | undefined
  let thread: Worker | undefined

  /** The main thread's watchdog, and the thread that takes over if the main thread is blocked. */
  const armWatchdog = () => {
    const deadline = Duration.toMillis(Duration.sum(config.shutdownTimeout, WATCHDOG_MARGIN))
    const waited = { waited_seconds: deadline / 1000 }
    watchdog = setTimeout(() => {
      write(LogLevel.Error, "shutdown did not finish in time, forcing exit", waited)
      process.exit(1)
    }, deadline)
    watchdog.unref()
    const placeholder = new Date(0).toISOString()
    const entry: Log.Entry = {
      time: new Date(0),
      level: "ERROR",
      service: config.serviceName,
      msg: "shutdown did not finish in time and the event loop is blocked: killing the process",
      fields: waited
    }
    const line = (format === "json" ? Log.formatJson(entry) : Log.formatPretty(entry)) + "\n"
    const workerData = {
      fd: stream === "stderr" ? 2 : 1,
      line,
      placeholder,
      delayMillis: deadline + THREAD_DELAY_MILLIS
    }
    thread = new Worker(WATCHDOG_THREAD, { eval: true, workerData })
    thread.unref()
  }

  const begin = (trigger: Trigger) => {
    began = true
    armWatchdog()
    Deferred.unsafeDone(shutdown, Exit.succeed(trigger))
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (began) {
      write(LogLevel.Warning, "second signal received, exiting immediately", { signal })
      process.exit(signalExitCode(signal))
    }
    write(LogLevel.Info, "shutdown signal received, initiating graceful shutdown...", { signal })
    begin({ _tag: "Signal", signal })
  }

  const onRejection = (reason: unknown) => {
    write(LogLevel.Error, "unhandled promise rejection", {
      ...runFields(RunContext.current()),
      error: describe(reason),
      stack: stackOf(reason)
    })
  }

  /** Node's state cannot be trusted after an uncaught exception: shut down in order, then exit 1. */
  const onException = (error: unknown) => {
    failed = true
    const fields = { ...runFields(RunContext.current()), error: describe(error), stack: stackOf(error) }
    write(LogLevel.Error, began ? "uncaught exception" : "uncaught exception: shutting down", fields)
    if (!began) begin({ _tag: "Fatal", error: describe(error) })
  }

  let last = performance.now()
  const stalls = setInterval(() => {
    const now = performance.now()
    const late = now - last - STALL_TICK_MILLIS
    last = now
    const block = RunContext.takeBlocked()
    if (block === undefined && late <= STALL_THRESHOLD_MILLIS) return
    const runs = RunContext.running()
    const named = block?.tag ?? (runs.length === 1 ? runs[0] : undefined)
    write(LogLevel.Warning, "event loop blocked", {
      blocked_ms: Math.round(Math.max(late, block?.millis ?? 0)),
      ...runFields(named),
      ...(named === undefined && runs.length > 0 ? { running: runs.map((run) => run.job) } : {})
    })
  }, STALL_TICK_MILLIS)
  stalls.unref()

  if (signals) {
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
  }
  process.on("unhandledRejection", onRejection)
  process.on("uncaughtException", onException)
  const tearDown = () => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    process.off("unhandledRejection", onRejection)
    process.off("uncaughtException", onException)
    clearInterval(stalls)
    clearTimeout(watchdog)
    void thread?.terminate()
  }
  return { tearDown, failed: () => failed }
}
