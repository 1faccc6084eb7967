/**
 * The worker's configuration, read from the environment (and from a `.env`
 * file in the working directory, when there is one). Every variable has a
 * default; a bad value stops start-up with one line that names the variable,
 * the value (never a secret's) and what was expected.
 */
import { Config, ConfigError, Context, Duration, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { parseEnv } from "node:util"
import * as Redact from "./Redact.js"
import * as TimeZone from "./TimeZone.js"

export type LogFormat = "json" | "pretty"

export interface WorkerConfigShape {
  /**
   * `SERVICE_NAME_WORKER`, else `OTEL_SERVICE_NAME`: the `service` of every log line and span. Default: the
   * `serviceName` given to {@link makeConfig} (`Cli.main` passes its own, else the entry script's package name),
   * else `cron-worker`.
   */
  readonly serviceName: string
  /** `WORKER_DEFAULT_TIMEOUT_SECONDS`: timeout of jobs that set none. Default 300 s; 0 = none. */
  readonly defaultTimeout: Option.Option<Duration.Duration>
  /** `WORKER_MAX_CONCURRENT_JOBS`: runs in flight across all jobs. Default 10; 0 = no limit. */
  readonly maxConcurrentJobs: number
  /**
   * `WORKER_SHUTDOWN_TIMEOUT_SECONDS`: how long shutdown waits for running jobs before interrupting them. Default 30
   * s.
   */
  readonly shutdownTimeout: Duration.Duration
  /** `WORKER_TIMEZONE`: zone of schedules that name none. Default `UTC`. */
  readonly timezone: string
  /** `LOG_LEVEL`: `debug`, `info`, `warn` or `error`. Default `info`. */
  readonly logLevel: LogLevel.LogLevel
  /** `LOG_FORMAT`: `json` (one object per line) or `pretty` (for a terminal). Default `json`. */
  readonly logFormat: LogFormat
  /** `DATABASE_URL`: PostgreSQL. Unset: the embedded database (PGlite) in `embeddedDataDir`. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  /** `DATABASE_POOL_SIZE`: connections to PostgreSQL. Default 10. */
  readonly databasePoolSize: number
  /** `DATABASE_CONNECT_TIMEOUT_SECONDS`: how long a connection attempt may take. Default 5 s. */
  readonly databaseConnectTimeout: Duration.Duration
  /** `PGLITE_DATA_DIR`: where the embedded database keeps its data. Default `./.data/pglite`. */
  readonly embeddedDataDir: string
  /** `RABBITMQ_URL`: the broker. Unset: published messages wait in the outbox. */
  readonly rabbitmqUrl: Option.Option<Redacted.Redacted<string>>
  /** `RABBITMQ_EXCHANGE`: the exchange the example jobs publish to (topic, durable). Default `financial.events`. */
  readonly rabbitmqExchange: string
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP collector for spans. Unset: spans are not exported. */
  readonly otlpEndpoint: Option.Option<string>
  /**
   * `OTEL_TRACES_URL`: a trace viewer a browser opens (Jaeger's UI, `http://localhost:16686`), so that the admin API
   * can link a run to its trace: `<url>/trace/<traceId>`, or the URL with `{traceId}` replaced when it has that
   * placeholder. Shown to every reader of the API, so it may not carry credentials. Unset: no links.
   */
  readonly tracesUrl: Option.Option<string>
  /** `HTTP_PORT`: port of `/health` and `/metrics`. Unset: no HTTP server. */
  readonly httpPort: Option.Option<number>
  /** `ADMIN_TOKEN`: bearer token of the admin API with full access. See {@link WorkerConfigShape.adminTokenFile}. */
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  /** `VIEWER_TOKEN`: bearer token of the admin API that may only read. */
  readonly viewerToken: Option.Option<Redacted.Redacted<string>>
  /**
   * `ADMIN_TOKEN_FILE`: with neither token set, the worker makes an admin token at its first start and keeps it in
   * this file (mode 0600), where a local command line reads it. Default `./.data/admin-token`.
   */
  readonly adminTokenFile: string
  /** `WORKER_INSTANCE_ID`: this instance's name in the run history. Default `<hostname>:<pid>`. */
  readonly instanceId: Option.Option<string>
  /** `WORKER_LEASE_SECONDS`: how long a run stays alive for other instances without renewal. Default 30 s. */
  readonly leaseDuration: Duration.Duration
  /**
   * `WORKER_CLAIM_PARTITION`: instances sharing a database split the jobs, each claiming its share's slots first
   * (see `Partition.ts`). Default true; false: every instance claims every slot.
   */
  readonly claimPartition: boolean
  /** `WORKER_HISTORY_RETENTION_DAYS`: finished runs older than this are deleted. Default 30; 0 = keep. */
  readonly historyRetentionDays: number
  /** `CLEANUP_RETENTION_DAYS`: soft-deleted categories older than this are deleted. Default 90. */
  readonly cleanupRetentionDays: number
  /** `CLEANUP_BATCH_SIZE`: rows deleted per transaction by the clean-up. Default 500. */
  readonly cleanupBatchSize: number
  /** `ALERT_CONSECUTIVE_FAILURES`: failed runs in a row that fire `consecutive_failures`. Default 3; 0 = off. */
  readonly alertConsecutiveFailures: number
  /**
   * `ALERT_OVERDUE_FACTOR`: `overdue` fires when a job has not succeeded for its period × this (at least 10
   * minutes). Default 2; 0 = off.
   */
  readonly alertOverdueFactor: number
  /** `ALERT_OUTBOX_MAX_AGE_SECONDS`: age of the oldest pending message that fires `outbox_stale`. Default 600 s. */
  readonly alertOutboxMaxAge: Option.Option<Duration.Duration>
  /** `ALERT_RUN_MAX_SECONDS`: a run longer than this fires `run_too_long`. Default none (jobs may set their own). */
  readonly alertRunMax: Option.Option<Duration.Duration>
  /**
   * `ALERT_WEBHOOK_URL`: where each alert's firing and resolution is POSTed as JSON (from a queue in the database,
   * retried until the receiver takes it). Unset: no webhook. A secret: it may carry a token.
   */
  readonly alertWebhookUrl: Option.Option<Redacted.Redacted<string>>
  /** `ALERT_WEBHOOK_SECRET`: key of the body's HMAC-SHA256 in `X-Cron-Worker-Signature`. Unset: unsigned. */
  readonly alertWebhookSecret: Option.Option<Redacted.Redacted<string>>
}

/** The worker's configuration, as a service. */
export class WorkerConfig extends Context.Tag("cron-worker/WorkerConfig")<WorkerConfig, WorkerConfigShape>() {}

/** Every default: `.env.example` and the README list the same. */
export const defaults: WorkerConfigShape = {
  serviceName: "cron-worker",
  defaultTimeout: Option.some(Duration.seconds(300)),
  maxConcurrentJobs: 10,
  shutdownTimeout: Duration.seconds(30),
  timezone: "UTC",
  logLevel: LogLevel.Info,
  logFormat: "json",
  databaseUrl: Option.none(),
  databasePoolSize: 10,
  databaseConnectTimeout: Duration.seconds(5),
  embeddedDataDir: "./.data/pglite",
  rabbitmqUrl: Option.none(),
  rabbitmqExchange: "financial.events",
  otlpEndpoint: Option.none(),
  tracesUrl: Option.none(),
  httpPort: Option.none(),
  adminToken: Option.none(),
  viewerToken: Option.none(),
  adminTokenFile: "./.data/admin-token",
  instanceId: Option.none(),
  leaseDuration: Duration.seconds(30),
  claimPartition: true,
  historyRetentionDays: 30,
  cleanupRetentionDays: 90,
  cleanupBatchSize: 500,
  alertConsecutiveFailures: 3,
  alertOverdueFactor: 2,
  alertOutboxMaxAge: Option.some(Duration.seconds(600)),
  alertRunMax: Option.none(),
  alertWebhookUrl: Option.none(),
  alertWebhookSecret: Option.none()
}

type Parse<A> = (raw: string) => Either.Either<A, string>

/**
 * One variable: read as text, empty treated as unset, then checked by `parse`,
 * which returns the value or says what was expected. A `secret`'s value is
 * registered with `Redact` and never printed; `secret` as a function: the value
 * is only left out of the error when it says so (a URL with credentials in it).
 */
const variable = <A>(
  name: string,
  description: string,
  fallback: A,
  parse: Parse<A>,
  secret: boolean | ((raw: string) => boolean) = false
): Config.Config<A> =>
  Config.string(name).pipe(
    Config.option,
    Config.mapOrFail((raw) => {
      const text = Option.getOrElse(raw, () => "").trim()
      if (text === "") return Either.right(fallback)
      if (secret === true) Redact.register(text)
      const hidden = typeof secret === "function" ? secret(text) : secret
      const shown = hidden ? " (value hidden)" : `=${JSON.stringify(text)}`
      return Either.mapLeft(parse(text), (expected) =>
        ConfigError.InvalidData([], `${name}${shown}: expected ${expected}`))
    }),
    Config.withDescription(description)
  )

const wholeNumber = (min: number, max: number, expected: string): Parse<number> => (raw) =>
  /^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max ? Either.right(Number(raw)) : Either.left(expected)

const seconds = (min: number, max: number, suffix = ""): Parse<Duration.Duration> => (raw) =>
  Either.map(wholeNumber(min, max, `a whole number of seconds from ${min} to ${max}${suffix}`)(raw), Duration.seconds)

/** A URL with one of `protocols`; its password (if any) is registered as a secret. */
const url = (protocols: ReadonlyArray<string>, example: string): Parse<string> => (raw) => {
  const parsed = URL.canParse(raw) ? new URL(raw) : undefined
  if (parsed === undefined || !protocols.includes(parsed.protocol)) return Either.left(`a URL such as ${example}`)
  if (parsed.password !== "") {
    Redact.register(parsed.password)
    try {
      Redact.register(decodeURIComponent(parsed.password))
    } catch {
      return Either.left(`a URL such as ${example}, with special characters in the password percent-encoded`)
    }
  }
  return Either.right(raw)
}

/** Text that may hold credentials (`user:password@`): an error leaves it out. */
const mayHoldCredentials = (raw: string) => raw.includes("@")

/** The address of a trace viewer: http(s), without credentials (every reader of the admin API is shown it). */
const tracesUrl: Parse<Option.Option<string>> = (raw) => {
  const parsed = URL.canParse(raw) ? new URL(raw) : undefined
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    return Either.left("a URL such as http://localhost:16686 or https://traces.example.com/trace/{traceId}")
  }
  if (parsed.username !== "" || parsed.password !== "") {
    return Either.left("a URL without credentials (user:password@): it is shown to every reader of the admin API")
  }
  return Either.right(Option.some(raw))
}

/** An API token: long enough not to be guessed, printable, no spaces. */
const token: Parse<string> = (raw) =>
  /^[\x21-\x7e]{16,512}$/.test(raw) ? Either.right(raw) : Either.left("16 to 512 printable characters, no spaces")

const some = <A>(parse: Parse<A>): Parse<Option.Option<A>> => (raw) => Either.map(parse(raw), Option.some)
const secret = (parse: Parse<string>): Parse<Option.Option<Redacted.Redacted<string>>> => (raw) =>
  Either.map(parse(raw), (value) => Option.some(Redacted.make(value)))

/** Seconds where 0 means none. */
const optionalSeconds: Parse<Option.Option<Duration.Duration>> = (raw) =>
  Either.map(
    seconds(0, 365 * 86_400, " (0 = off)")(raw),
    Option.liftPredicate((d) => !Duration.isZero(d))
  )

/** Timers beyond 2^31 - 1 ms (about 24.8 days) never fire: timeouts stay below. */
const MAX_TIMEOUT_SECONDS = 24 * 86_400

const LEVELS: Record<string, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

/** `SERVICE_NAME_WORKER`, else `OTEL_SERVICE_NAME` (OpenTelemetry's own variable), else `fallback`. */
const serviceName = (fallback: string): Config.Config<string> =>
  Config.all([
    variable("SERVICE_NAME_WORKER", "Service name in logs and spans", Option.none<string>(), some(Either.right)),
    variable("OTEL_SERVICE_NAME", "Service name when SERVICE_NAME_WORKER is unset", fallback, Either.right)
  ]).pipe(Config.map(([own, otel]) => Option.getOrElse(own, () => otel)))

/** Defaults a worker's entry point chooses for itself. */
export interface ConfigDefaults {
  /** The service name when neither variable sets one. Default `cron-worker`. */
  readonly serviceName?: string | undefined
}

/**
 * The configuration, read from the environment through Effect's
 * `ConfigProvider`, with the entry point's own `defaults`.
 */
export const makeConfig = (options: ConfigDefaults = {}): Config.Config<WorkerConfigShape> =>
  Config.all({
    serviceName: serviceName(options.serviceName ?? defaults.serviceName),
    defaultTimeout: variable(
      "WORKER_DEFAULT_TIMEOUT_SECONDS",
      "Default job timeout in seconds; 0 = none",
      defaults.defaultTimeout,
      (raw) =>
        Either.map(
          seconds(0, MAX_TIMEOUT_SECONDS, " (0 = no timeout)")(raw),
          Option.liftPredicate((d) => !Duration.isZero(d))
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
      seconds(0, 86_400)
    ),
    timezone: variable("WORKER_TIMEZONE", "Default time zone of schedules (IANA name)", defaults.timezone, (raw) => {
      const zone = TimeZone.make(raw)
      return zone === undefined
        ? Either.left("an IANA time zone such as UTC or America/New_York")
        : Either.right(zone.name)
    }),
    logLevel: variable("LOG_LEVEL", "debug, info, warn or error", defaults.logLevel, (raw) => {
      const level = LEVELS[raw.toLowerCase()]
      return level === undefined ? Either.left("one of debug, info, warn, error") : Either.right(level)
    }),
    logFormat: variable("LOG_FORMAT", "json or pretty", defaults.logFormat, (raw): Either.Either<LogFormat, string> => {
      const format = raw.toLowerCase()
      return format === "json" || format === "pretty" ? Either.right(format) : Either.left("json or pretty")
    }),
    databaseUrl: variable(
      "DATABASE_URL",
      "PostgreSQL URL; unset = embedded PGlite",
      defaults.databaseUrl,
      secret(url(["postgres:", "postgresql:"], "postgres://user@host:5432/database")),
      true
    ),
    databasePoolSize: variable(
      "DATABASE_POOL_SIZE",
      "Connections to PostgreSQL",
      defaults.databasePoolSize,
      wholeNumber(1, 1000, "a whole number from 1 to 1000")
    ),
    databaseConnectTimeout: variable(
      "DATABASE_CONNECT_TIMEOUT_SECONDS",
      "Time allowed to connect to PostgreSQL",
      defaults.databaseConnectTimeout,
      seconds(1, 600)
    ),
    embeddedDataDir: variable(
      "PGLITE_DATA_DIR",
      "Data directory of the embedded database",
      defaults.embeddedDataDir,
      Either.right
    ),
    rabbitmqUrl: variable(
      "RABBITMQ_URL",
      "RabbitMQ URL; unset = messages wait in the outbox",
      defaults.rabbitmqUrl,
      secret(url(["amqp:", "amqps:"], "amqp://user@host:5672")),
      true
    ),
    rabbitmqExchange: variable(
      "RABBITMQ_EXCHANGE",
      "Exchange of the example jobs",
      defaults.rabbitmqExchange,
      (raw) => /^[\w.:-]{1,255}$/.test(raw) ? Either.right(raw) : Either.left("1–255 letters, digits or _ . : -")
    ),
    otlpEndpoint: variable(
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "OTLP/HTTP collector; unset = spans not exported",
      defaults.otlpEndpoint,
      some(url(["http:", "https:"], "http://localhost:4318"))
    ),
    tracesUrl: variable(
      "OTEL_TRACES_URL",
      "Trace viewer the admin API links runs to (<url>/trace/<traceId>, or {traceId} replaced); unset = no links",
      defaults.tracesUrl,
      tracesUrl,
      mayHoldCredentials
    ),
    httpPort: variable(
      "HTTP_PORT",
      "Port of /health and /metrics; unset = none",
      defaults.httpPort,
      some(wholeNumber(1, 65_535, "a port from 1 to 65535"))
    ),
    adminToken: variable("ADMIN_TOKEN", "Admin API token, full access", defaults.adminToken, secret(token), true),
    viewerToken: variable("VIEWER_TOKEN", "Admin API token, read only", defaults.viewerToken, secret(token), true),
    adminTokenFile: variable(
      "ADMIN_TOKEN_FILE",
      "Where the generated admin token is kept when no token is set",
      defaults.adminTokenFile,
      Either.right
    ),
    instanceId: variable(
      "WORKER_INSTANCE_ID",
      "Name of this instance in the run history",
      defaults.instanceId,
      (raw) =>
        /^[\w.:@/-]{1,200}$/.test(raw)
          ? Either.right(Option.some(raw))
          : Either.left("1–200 letters, digits or _ . : @ / -")
    ),
    leaseDuration: variable(
      "WORKER_LEASE_SECONDS",
      "How long a run stays alive for other instances without renewal",
      defaults.leaseDuration,
      seconds(3, 3600)
    ),
    claimPartition: variable(
      "WORKER_CLAIM_PARTITION",
      "Instances split the jobs, each claiming its share first",
      defaults.claimPartition,
      (raw) =>
        raw === "true" ? Either.right(true) : raw === "false" ? Either.right(false) : Either.left("true or false")
    ),
    historyRetentionDays: variable(
      "WORKER_HISTORY_RETENTION_DAYS",
      "Days of run history kept; 0 = all",
      defaults.historyRetentionDays,
      wholeNumber(0, 36_500, "a whole number of days from 0 to 36500 (0 = keep everything)")
    ),
    cleanupRetentionDays: variable(
      "CLEANUP_RETENTION_DAYS",
      "Age after which soft-deleted categories are deleted",
      defaults.cleanupRetentionDays,
      wholeNumber(1, 36_500, "a whole number of days from 1 to 36500")
    ),
    cleanupBatchSize: variable(
      "CLEANUP_BATCH_SIZE",
      "Rows per clean-up transaction",
      defaults.cleanupBatchSize,
      wholeNumber(1, 100_000, "a whole number from 1 to 100000")
    ),
    alertConsecutiveFailures: variable(
      "ALERT_CONSECUTIVE_FAILURES",
      "Failed runs in a row that fire an alert; 0 = off",
      defaults.alertConsecutiveFailures,
      wholeNumber(0, 100, "a whole number from 0 to 100 (0 = off)")
    ),
    alertOverdueFactor: variable(
      "ALERT_OVERDUE_FACTOR",
      "Periods without a success that fire an alert; 0 = off",
      defaults.alertOverdueFactor,
      (raw) =>
        /^\d+(\.\d+)?$/.test(raw) && (Number(raw) === 0 || (Number(raw) >= 1 && Number(raw) <= 1000))
          ? Either.right(Number(raw))
          : Either.left("0 (off) or a number from 1 to 1000")
    ),
    alertOutboxMaxAge: variable(
      "ALERT_OUTBOX_MAX_AGE_SECONDS",
      "Age of the oldest pending outbox message that fires an alert; 0 = off",
      defaults.alertOutboxMaxAge,
      optionalSeconds
    ),
    alertRunMax: variable(
      "ALERT_RUN_MAX_SECONDS",
      "Run duration that fires an alert; unset or 0 = none",
      defaults.alertRunMax,
      optionalSeconds
    ),
    alertWebhookUrl: variable(
      "ALERT_WEBHOOK_URL",
      "Where alerts are POSTed; unset = no webhook",
      defaults.alertWebhookUrl,
      secret(url(["http:", "https:"], "https://alerts.example.com/hook")),
      true
    ),
    alertWebhookSecret: variable(
      "ALERT_WEBHOOK_SECRET",
      "Key of the webhook's HMAC-SHA256 signature",
      defaults.alertWebhookSecret,
      secret((raw) =>
        /^[\x21-\x7e]{16,512}$/.test(raw) ? Either.right(raw) : Either.left("16 to 512 printable characters, no spaces")
      ),
      true
    )
  })

/** The configuration with the library's defaults: {@link makeConfig} with none of its own. */
export const config: Config.Config<WorkerConfigShape> = makeConfig()

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
      default:
        lines.push(Redact.scrub(`invalid configuration: ${e.message}`))
    }
  }
  walk(error)
  return [...new Set(lines)]
}
