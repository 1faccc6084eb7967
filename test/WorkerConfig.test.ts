import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, LogLevel, Option } from "effect"
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
      expect(yield* read({ WORKER_MAX_CONCURRENT_JOBS: "", WORKER_TIMEZONE: " " })).toEqual(Either.right(WorkerConfig.defaults))
      expect(WorkerConfig.defaults).toMatchObject({
        serviceName: "financial-worker",
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
        LOG_FORMAT: "pretty"
      }).pipe(Effect.flatMap((result) => result))
      expect(config).toEqual({
        serviceName: "billing-worker",
        defaultTimeout: Option.none(),
        maxConcurrentJobs: 0,
        shutdownTimeout: Duration.seconds(5),
        timezone: "America/Sao_Paulo",
        logLevel: LogLevel.Warning,
        logFormat: "pretty"
      })
    }))

  it.effect.each([
    ["WORKER_MAX_CONCURRENT_JOBS", "abc", `WORKER_MAX_CONCURRENT_JOBS="abc": expected a whole number ≥ 0 (0 = no limit)`],
    ["WORKER_MAX_CONCURRENT_JOBS", "-1", `WORKER_MAX_CONCURRENT_JOBS="-1": expected a whole number ≥ 0 (0 = no limit)`],
    ["WORKER_DEFAULT_TIMEOUT_SECONDS", "1.5", `WORKER_DEFAULT_TIMEOUT_SECONDS="1.5": expected a whole number of seconds from 0 to 2073600 (0 = no timeout)`],
    // Longer timers never fire (2^31 - 1 ms): refused rather than silently broken.
    ["WORKER_DEFAULT_TIMEOUT_SECONDS", "2073601", `WORKER_DEFAULT_TIMEOUT_SECONDS="2073601": expected a whole number of seconds from 0 to 2073600 (0 = no timeout)`],
    ["WORKER_SHUTDOWN_TIMEOUT_SECONDS", "30s", `WORKER_SHUTDOWN_TIMEOUT_SECONDS="30s": expected a whole number of seconds from 0 to 86400`],
    ["WORKER_SHUTDOWN_TIMEOUT_SECONDS", "2200000", `WORKER_SHUTDOWN_TIMEOUT_SECONDS="2200000": expected a whole number of seconds from 0 to 86400`],
    ["WORKER_TIMEZONE", "Mars/Olympus", `WORKER_TIMEZONE="Mars/Olympus": expected an IANA time zone such as UTC or America/New_York`],
    ["LOG_LEVEL", "loud", `LOG_LEVEL="loud": expected one of debug, info, warn, error`],
    ["LOG_FORMAT", "xml", `LOG_FORMAT="xml": expected json or pretty`]
  ] as const)("a bad %s (%s) stops with one line naming the variable, the value and what was expected", ([name, value, line]) =>
    Effect.gen(function*() {
      const result = yield* read({ [name]: value })
      if (Either.isRight(result)) return expect.unreachable(`${name}=${value} was accepted`)
      expect(WorkerConfig.describeError(result.left)).toEqual([`invalid configuration: ${line}`])
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
