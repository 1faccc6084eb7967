import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, LogLevel, Option, Redacted } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as WorkerConfig from "../src/WorkerConfig.js"

const read = (env: Record<string, string>) =>
  Effect.either(Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("WorkerConfig", () => {
  it.effect("defaults: every variable unset (or empty) gives the documented default", () =>
    Effect.gen(function*() {
      expect(yield* read({})).toEqual(Either.right(WorkerConfig.defaults))
      expect(yield* read({ WORKER_MAX_CONCURRENT_JOBS: "", WORKER_TIMEZONE: " " })).toEqual(
        Either.right(WorkerConfig.defaults)
      )
      expect(WorkerConfig.defaults).toMatchObject({
        serviceName: "cron-worker",
        maxConcurrentJobs: 10,
        timezone: "UTC",
        logFormat: "json"
      })
      expect(Option.map(WorkerConfig.defaults.defaultTimeout, Duration.toSeconds)).toEqual(Option.some(300))
      expect(Duration.toSeconds(WorkerConfig.defaults.shutdownTimeout)).toBe(30)
    }))

  it.effect("reads every variable", () =>
    Effect.gen(function*() {
      const config = yield* read({
        SERVICE_NAME_WORKER: "billing-worker",
        WORKER_DEFAULT_TIMEOUT_SECONDS: "0",
        WORKER_MAX_CONCURRENT_JOBS: "0",
        WORKER_SHUTDOWN_TIMEOUT_SECONDS: "5",
        WORKER_TIMEZONE: "America/Sao_Paulo",
        LOG_LEVEL: "WARN",
        LOG_FORMAT: "pretty",
        DATABASE_URL: "postgres://app:s3cret@db.internal:5433/finance",
        DATABASE_POOL_SIZE: "4",
        DATABASE_CONNECT_TIMEOUT_SECONDS: "7",
        PGLITE_DATA_DIR: "/var/lib/worker",
        RABBITMQ_URL: "amqp://app:s3cret@mq.internal:5672",
        RABBITMQ_EXCHANGE: "billing.events",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_TRACES_URL: "https://jaeger.example.com",
        HTTP_PORT: "9464",
        ADMIN_TOKEN: "admin-token-0123456789",
        VIEWER_TOKEN: "viewer-token-0123456789",
        ADMIN_TOKEN_FILE: "/run/secrets/admin-token",
        CLEANUP_RETENTION_DAYS: "30",
        CLEANUP_BATCH_SIZE: "100",
        WORKER_INSTANCE_ID: "worker-a",
        WORKER_LEASE_SECONDS: "12",
        WORKER_CLAIM_PARTITION: "false",
        WORKER_HISTORY_RETENTION_DAYS: "0",
        ALERT_CONSECUTIVE_FAILURES: "5",
        ALERT_OVERDUE_FACTOR: "1.5",
        ALERT_OUTBOX_MAX_AGE_SECONDS: "0",
        ALERT_RUN_MAX_SECONDS: "3600",
        ALERT_WEBHOOK_URL: "https://hooks.example.com/alerts?token=hook-s3cret",
        ALERT_WEBHOOK_SECRET: "webhook-secret-0123456789"
      }).pipe(Effect.flatMap((result) => result))
      expect(Option.map(config.databaseUrl, Redacted.value)).toEqual(
        Option.some("postgres://app:s3cret@db.internal:5433/finance")
      )
      expect(Option.map(config.rabbitmqUrl, Redacted.value)).toEqual(Option.some("amqp://app:s3cret@mq.internal:5672"))
      expect(String(config.databaseUrl)).not.toContain("s3cret")
      expect(Option.map(config.adminToken, Redacted.value)).toEqual(Option.some("admin-token-0123456789"))
      expect(Option.map(config.viewerToken, Redacted.value)).toEqual(Option.some("viewer-token-0123456789"))
      expect(String(config.adminToken)).not.toContain("admin-token-0123456789")
      expect(Option.map(config.alertWebhookUrl, Redacted.value)).toEqual(
        Option.some("https://hooks.example.com/alerts?token=hook-s3cret")
      )
      expect(Option.map(config.alertWebhookSecret, Redacted.value)).toEqual(Option.some("webhook-secret-0123456789"))
      expect({
        ...config,
        alertWebhookUrl: undefined,
        alertWebhookSecret: undefined,
        databaseUrl: undefined,
        rabbitmqUrl: undefined,
        adminToken: undefined,
        viewerToken: undefined
      })
        .toEqual({
          serviceName: "billing-worker",
          defaultTimeout: Option.none(),
          maxConcurrentJobs: 0,
          shutdownTimeout: Duration.seconds(5),
          timezone: "America/Sao_Paulo",
          logLevel: LogLevel.Warning,
          logFormat: "pretty",
          databaseUrl: undefined,
          databasePoolSize: 4,
          databaseConnectTimeout: Duration.seconds(7),
          embeddedDataDir: "/var/lib/worker",
          rabbitmqUrl: undefined,
          rabbitmqExchange: "billing.events",
          otlpEndpoint: Option.some("http://collector:4318"),
          tracesUrl: Option.some("https://jaeger.example.com"),
          httpPort: Option.some(9464),
          adminToken: undefined,
          viewerToken: undefined,
          adminTokenFile: "/run/secrets/admin-token",
          cleanupRetentionDays: 30,
          cleanupBatchSize: 100,
          instanceId: Option.some("worker-a"),
          leaseDuration: Duration.seconds(12),
          claimPartition: false,
          historyRetentionDays: 0,
          alertConsecutiveFailures: 5,
          alertOverdueFactor: 1.5,
          alertOutboxMaxAge: Option.none(),
          alertRunMax: Option.some(Duration.seconds(3600)),
          alertWebhookUrl: undefined,
          alertWebhookSecret: undefined
        })
    }))

  it.effect.each(
    [
      [
        "WORKER_MAX_CONCURRENT_JOBS",
        "abc",
        `WORKER_MAX_CONCURRENT_JOBS="abc": expected a whole number ≥ 0 (0 = no limit)`
      ],
      [
        "WORKER_MAX_CONCURRENT_JOBS",
        "-1",
        `WORKER_MAX_CONCURRENT_JOBS="-1": expected a whole number ≥ 0 (0 = no limit)`
      ],
      [
        "WORKER_DEFAULT_TIMEOUT_SECONDS",
        "1.5",
        `WORKER_DEFAULT_TIMEOUT_SECONDS="1.5": expected a whole number of seconds from 0 to 2073600 (0 = no timeout)`
      ],
      // Longer timers never fire (2^31 - 1 ms): refused rather than silently broken.
      [
        "WORKER_DEFAULT_TIMEOUT_SECONDS",
        "2073601",
        `WORKER_DEFAULT_TIMEOUT_SECONDS="2073601": ` +
        `expected a whole number of seconds from 0 to 2073600 (0 = no timeout)`
      ],
      [
        "WORKER_SHUTDOWN_TIMEOUT_SECONDS",
        "30s",
        `WORKER_SHUTDOWN_TIMEOUT_SECONDS="30s": expected a whole number of seconds from 0 to 86400`
      ],
      [
        "WORKER_SHUTDOWN_TIMEOUT_SECONDS",
        "2200000",
        `WORKER_SHUTDOWN_TIMEOUT_SECONDS="2200000": expected a whole number of seconds from 0 to 86400`
      ],
      [
        "WORKER_TIMEZONE",
        "Mars/Olympus",
        `WORKER_TIMEZONE="Mars/Olympus": expected an IANA time zone such as UTC or America/New_York`
      ],
      ["LOG_LEVEL", "loud", `LOG_LEVEL="loud": expected one of debug, info, warn, error`],
      ["LOG_FORMAT", "xml", `LOG_FORMAT="xml": expected json or pretty`],
      // A secret's value is never printed, not even a malformed one.
      [
        "DATABASE_URL",
        "mysql://root:hunter2@db/app",
        `DATABASE_URL (value hidden): expected a URL such as postgres://user@host:5432/database`
      ],
      [
        "RABBITMQ_URL",
        "amqp//guest:guest@mq",
        `RABBITMQ_URL (value hidden): expected a URL such as amqp://user@host:5672`
      ],
      ["ADMIN_TOKEN", "short secret", `ADMIN_TOKEN (value hidden): expected 16 to 512 printable characters, no spaces`],
      ["VIEWER_TOKEN", "tooshort", `VIEWER_TOKEN (value hidden): expected 16 to 512 printable characters, no spaces`],
      ["HTTP_PORT", "70000", `HTTP_PORT="70000": expected a port from 1 to 65535`],
      ["CLEANUP_RETENTION_DAYS", "0", `CLEANUP_RETENTION_DAYS="0": expected a whole number of days from 1 to 36500`],
      ["WORKER_LEASE_SECONDS", "1", `WORKER_LEASE_SECONDS="1": expected a whole number of seconds from 3 to 3600`],
      ["WORKER_CLAIM_PARTITION", "yes", `WORKER_CLAIM_PARTITION="yes": expected true or false`],
      [
        "ALERT_CONSECUTIVE_FAILURES",
        "-2",
        `ALERT_CONSECUTIVE_FAILURES="-2": expected a whole number from 0 to 100 (0 = off)`
      ],
      ["ALERT_OVERDUE_FACTOR", "0.5", `ALERT_OVERDUE_FACTOR="0.5": expected 0 (off) or a number from 1 to 1000`],
      [
        "ALERT_OUTBOX_MAX_AGE_SECONDS",
        "10m",
        `ALERT_OUTBOX_MAX_AGE_SECONDS="10m": expected a whole number of seconds from 0 to 31536000 (0 = off)`
      ],
      [
        "ALERT_WEBHOOK_URL",
        "ftp://hooks.example.com/x",
        `ALERT_WEBHOOK_URL (value hidden): expected a URL such as https://alerts.example.com/hook`
      ],
      [
        "ALERT_WEBHOOK_SECRET",
        "short",
        `ALERT_WEBHOOK_SECRET (value hidden): expected 16 to 512 printable characters, no spaces`
      ],
      [
        "OTEL_TRACES_URL",
        "localhost:16686",
        `OTEL_TRACES_URL="localhost:16686": expected a URL such as http://localhost:16686 or ` +
        "https://traces.example.com/trace/{traceId}"
      ],
      [
        "OTEL_TRACES_URL",
        "ftp://jaeger/trace",
        `OTEL_TRACES_URL="ftp://jaeger/trace": expected a URL such as http://localhost:16686 or ` +
        "https://traces.example.com/trace/{traceId}"
      ],
      // A trace viewer's URL is shown to every reader of the admin API: credentials in it are refused, not echoed.
      [
        "OTEL_TRACES_URL",
        "http://admin:hunter2@jaeger:16686",
        "OTEL_TRACES_URL (value hidden): expected a URL without credentials (user:password@): it is shown to every " +
        "reader of the admin API"
      ],
      [
        "OTEL_TRACES_URL",
        "https://token-abc@traces.example.com/{traceId}",
        "OTEL_TRACES_URL (value hidden): expected a URL without credentials (user:password@): it is shown to every " +
        "reader of the admin API"
      ],
      [
        "ALERT_RUN_MAX_SECONDS",
        "1.5",
        `ALERT_RUN_MAX_SECONDS="1.5": expected a whole number of seconds from 0 to 31536000 (0 = off)`
      ]
    ] as const
  )(
    "a bad %s (%s) stops with one line naming the variable, the value and what was expected",
    ([name, value, line]) =>
      Effect.gen(function*() {
        const result = yield* read({ [name]: value })
        if (Either.isRight(result)) return expect.unreachable(`${name}=${value} was accepted`)
        expect(WorkerConfig.describeError(result.left)).toEqual([`invalid configuration: ${line}`])
      })
  )

  it.effect(
    "the service name: SERVICE_NAME_WORKER, else OTEL_SERVICE_NAME, else the entry point's, else cron-worker",
    () =>
      Effect.gen(function*() {
        const name = (env: Record<string, string>, serviceName?: string) =>
          Effect.withConfigProvider(
            WorkerConfig.makeConfig({ serviceName }),
            ConfigProvider.fromMap(new Map(Object.entries(env)))
          ).pipe(Effect.map((config) => config.serviceName))
        const both = { SERVICE_NAME_WORKER: "own", OTEL_SERVICE_NAME: "otel" }
        expect(yield* name(both, "entry")).toBe("own")
        expect(yield* name({ OTEL_SERVICE_NAME: "otel", SERVICE_NAME_WORKER: " " }, "entry")).toBe("otel")
        expect(yield* name({}, "entry")).toBe("entry")
        expect(yield* name({})).toBe("cron-worker")
      })
  )

  it.effect("OTEL_TRACES_URL: a URL with {traceId} is kept as written; credentials never appear in the error", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatMap(read({ OTEL_TRACES_URL: "https://t.example.com/{traceId}?x=1" }), (r) => r)
      expect(config.tracesUrl).toEqual(Option.some("https://t.example.com/{traceId}?x=1"))
      const refused = yield* read({ OTEL_TRACES_URL: "http://ops:s3cr3t-pw@jaeger:16686" })
      if (Either.isRight(refused)) return expect.unreachable("a URL with credentials was accepted")
      const lines = WorkerConfig.describeError(refused.left).join("\n")
      expect(lines).toContain("OTEL_TRACES_URL")
      expect(lines).not.toContain("s3cr3t-pw")
      expect(lines).not.toContain("ops")
      expect(refused.left.toString()).not.toContain("s3cr3t-pw")
    }))

  it.effect("two bad variables give two lines", () =>
    Effect.gen(function*() {
      const result = yield* read({ WORKER_MAX_CONCURRENT_JOBS: "x", LOG_FORMAT: "y" })
      if (Either.isRight(result)) return expect.unreachable("accepted")
      expect(WorkerConfig.describeError(result.left)).toHaveLength(2)
    }))

  it.effect("loadDotEnv reads .env; variables already in the environment win", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "cron-worker-env-"))
      const path = join(dir, ".env")
      writeFileSync(path, "CRON_WORKER_TEST_A=from-file\nCRON_WORKER_TEST_B=from-file\n")
      process.env.CRON_WORKER_TEST_B = "from-env"
      yield* WorkerConfig.loadDotEnv(path)
      expect(process.env.CRON_WORKER_TEST_A).toBe("from-file")
      expect(process.env.CRON_WORKER_TEST_B).toBe("from-env")
      delete process.env.CRON_WORKER_TEST_A
      delete process.env.CRON_WORKER_TEST_B
      yield* WorkerConfig.loadDotEnv(join(dir, "missing.env"))
    }))
})
