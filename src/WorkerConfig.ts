/**
 * The worker's configuration, read from the environment (and from a `.env`
 * file in the working directory, when there is one). Every variable has a
 * default; a bad value stops start-up with one line that names the variable,
 * the value and what was expected.
 */
import { Cause, Config, ConfigError, Context, Duration, Effect, Either, Layer, LogLevel, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { parseEnv } from "node:util"
import * as Redact from "./Redact.js"
import * as TimeZone from "./TimeZone.js"

export type LogFormat = "json" | "pretty"

export interface WorkerConfigShape {
  /** `SERVICE_NAME_WORKER`: the `service` field of every log line and span. Default `financial-worker`. */
  readonly serviceName: string
  /** `WORKER_DEFAULT_TIMEOUT_SECONDS`: timeout of jobs that set none. Default 300 s; 0 = none. */
  readonly defaultTimeout: Option.Option<Duration.Duration>
  /** `WORKER_MAX_CONCURRENT_JOBS`: runs in flight across all jobs. Default 10; 0 = no limit. */
  readonly maxConcurrentJobs: number
  /** `WORKER_SHUTDOWN_TIMEOUT_SECONDS`: how long shutdown waits for running jobs before interrupting them. Default 30 s. */
  readonly shutdownTimeout: Duration.Duration
  /** `WORKER_TIMEZONE`: zone of schedules that name none. Default `UTC`. */
  readonly timezone: string
  /** `LOG_LEVEL`: `debug`, `info`, `warn` or `error`. Default `info`. */
  readonly logLevel: LogLevel.LogLevel
  /** `LOG_FORMAT`: `json` (one object per line) or `pretty` (for a terminal). Default `json`. */
  readonly logFormat: LogFormat
}

/** The worker's configuration, as a service. */
export class WorkerConfig extends Context.Tag("cron-worker/WorkerConfig")<WorkerConfig, WorkerConfigShape>() {}

/** Everything `WorkerConfig` reads, with defaults: `.env.example` and the README list the same. */
export const defaults: WorkerConfigShape = {
  serviceName: "financial-worker",
  defaultTimeout: Option.some(Duration.seconds(300)),
  maxConcurrentJobs: 10,
  shutdownTimeout: Duration.seconds(30),
  timezone: "UTC",
  logLevel: LogLevel.Info,
  logFormat: "json"
}

/**
 * One variable: read as text, empty treated as unset, then checked by `parse`,
 * which returns the value or says what was expected.
 */
const variable = <A>(
  name: string,
  description: string,
  fallback: A,
  parse: (raw: string) => Either.Either<A, string>
): Config.Config<A> =>
  Config.string(name).pipe(
    Config.option,
    Config.mapOrFail((raw) => {
      const text = Option.getOrElse(raw, () => "").trim()
      if (text === "") return Either.right(fallback)
      return Either.mapLeft(parse(text), (expected) => ConfigError.InvalidData([], `${name}=${JSON.stringify(text)}: expected ${expected}`))
    }),
    Config.withDescription(description)
  )

const wholeNumber = (min: number, max: number, expected: string) => (raw: string) =>
  /^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max ? Either.right(Number(raw)) : Either.left(expected)

/** Timers beyond 2^31 - 1 ms (about 24.8 days) never fire: timeouts stay below. */
const MAX_TIMEOUT_SECONDS = 24 * 86_400
const MAX_SHUTDOWN_SECONDS = 86_400

const LEVELS: Record<string, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

/** The configuration, read from the environment through Effect's `ConfigProvider`. */
export const config: Config.Config<WorkerConfigShape> = Config.all({
  serviceName: variable("SERVICE_NAME_WORKER", "Service name in logs and spans", defaults.serviceName, Either.right),
  defaultTimeout: variable(
    "WORKER_DEFAULT_TIMEOUT_SECONDS",
    "Default job timeout in seconds; 0 = none",
    defaults.defaultTimeout,
    (raw) =>
      Either.map(
        wholeNumber(0, MAX_TIMEOUT_SECONDS, `a whole number of seconds from 0 to ${MAX_TIMEOUT_SECONDS} (0 = no timeout)`)(raw),
        (seconds) => (seconds === 0 ? Option.none() : Option.some(Duration.seconds(seconds)))
      )
  ),
  maxConcurrentJobs: variable(
    "WORKER_MAX_CONCURRENT_JOBS",
    "Runs in flight across all jobs; 0 = no limit",
    defaults.maxConcurrentJobs,
    wholeNumber(0, Number.MAX_SAFE_INTEGER, "a whole number ≥ 0 (0 = no limit)")
  ),
  shutdownTimeout: variable(
    "WORKER_SHUTDOWN_TIMEOUT_SECONDS",
    "Grace period for running jobs at shutdown, in seconds",
    defaults.shutdownTimeout,
    (raw) =>
      Either.map(
        wholeNumber(0, MAX_SHUTDOWN_SECONDS, `a whole number of seconds from 0 to ${MAX_SHUTDOWN_SECONDS}`)(raw),
        Duration.seconds
      )
  ),
  timezone: variable(
    "WORKER_TIMEZONE",
    "Default time zone of schedules (IANA name)",
    defaults.timezone,
    (raw) => {
      const zone = TimeZone.make(raw)
      return zone === undefined ? Either.left("an IANA time zone such as UTC or America/New_York") : Either.right(zone.name)
    }
  ),
  logLevel: variable("LOG_LEVEL", "debug, info, warn or error", defaults.logLevel, (raw) => {
    const level = LEVELS[raw.toLowerCase()]
    return level === undefined ? Either.left("one of debug, info, warn, error") : Either.right(level)
  }),
  logFormat: variable("LOG_FORMAT", "json or pretty", defaults.logFormat, (raw): Either.Either<LogFormat, string> => {
    const format = raw.toLowerCase()
    return format === "json" || format === "pretty" ? Either.right(format) : Either.left("json or pretty")
  })
})

/** `WorkerConfig` from the environment. Fails with a `ConfigError` naming the bad variable. */
export const layer: Layer.Layer<WorkerConfig, ConfigError.ConfigError> = Layer.effect(WorkerConfig, config)

/** `WorkerConfig` with the defaults overridden by `overrides`: for tests. */
export const layerWith = (overrides: Partial<WorkerConfigShape> = {}): Layer.Layer<WorkerConfig> =>
  Layer.succeed(WorkerConfig, { ...defaults, ...overrides })

/**
 * Reads `.env` from the working directory into `process.env` when it exists.
 * Variables already in the environment win.
 */
export const loadDotEnv = (path = ".env"): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!existsSync(path)) return
    const values = parseEnv(readFileSync(path, "utf8"))
    for (const [key, value] of Object.entries(values)) {
      if (process.env[key] === undefined) process.env[key] = value
    }
  })

/** The lines that describe a configuration failure, one per bad variable. */
export const describeError = (error: ConfigError.ConfigError): Array<string> => {
  const lines: Array<string> = []
  const walk = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "And":
      case "Or":
        walk(e.left)
        walk(e.right)
        break
      case "InvalidData":
      case "MissingData":
      case "SourceUnavailable":
      case "Unsupported":
        lines.push(Redact.scrub(`invalid configuration: ${e.message}`))
    }
  }
  walk(error)
  return [...new Set(lines)]
}

/** `describeError`, for a cause that may hold a `ConfigError`. */
export const describeCause = (cause: Cause.Cause<unknown>): Option.Option<Array<string>> =>
  Option.map(
    Cause.failureOption(cause).pipe(Option.filter(ConfigError.isConfigError)),
    describeError
  )
