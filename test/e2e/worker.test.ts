/**
 * End to end: workers composed from the public API in small scripts
 * (`test/fixtures/*.mjs`, importing "cron-worker" as a user would), run with
 * node, signalled, and judged by their log lines and exit codes. The
 * worker's own `dist/main.js` is in `database.test.ts` (start-up and shutdown
 * on each kind of database) and `cli.test.ts`. Needs `dist/` (`npm run build`).
 *
 * Every worker connects to PostgreSQL at start-up: each process gets a fresh
 * database of its own (see the harness), so these suites need the real
 * services and skip without them (fail under REQUIRE_SERVICES=1).
 *
 * The tests mostly wait on real time (every-second schedules, grace periods),
 * so they run concurrently, each in its own processes and working directory;
 * the `spawn` fixture kills a test's processes when it ends.
 */
import { afterAll, describe, expect } from "@effect/vitest"
import { servicesAvailable } from "../services.js"
import {
  fixture,
  indexWhere,
  killAll,
  type LogLine,
  nonEmptyLines,
  parseLogLine,
  PG_PASSWORD,
  type Proc,
  sequence,
  type Spawn,
  test
} from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

const SERVICE = "e2e-worker"
const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"]

const SIGNAL_RECEIVED = "shutdown signal received, initiating graceful shutdown..."
const SHUTTING_DOWN = "shutting down scheduler..."
const ALL_COMPLETED = "all running jobs completed"
const GRACE_EXPIRED = "shutdown timeout reached, interrupting running jobs"
const RUNS_INTERRUPTED = "running jobs interrupted"
const SHUTDOWN_COMPLETED = "worker shutdown completed"
const SECOND_SIGNAL = "second signal received, exiting immediately"
const WATCHDOG = "shutdown did not finish in time, forcing exit"
const MAX_CONCURRENT_SKIP = "job skipped (max concurrent executions reached)"
const CONNECTED = "database connection established"
const MIGRATED = "database migrated"
const NO_RABBITMQ = "rabbitmq not configured: published messages wait in the outbox"
/**
 * How long a worker on a fresh database may take to run its first job: created, migrated and started while the other
 * tests' workers start too (over 20 s in clean-clone runs on the two cores).
 */
const START_MS = 45_000

/** Start-up of a worker on a fresh database, without RabbitMQ. */
const startup = (...jobs: ReadonlyArray<string>) => [
  "initializing worker",
  CONNECTED,
  MIGRATED,
  NO_RABBITMQ,
  ...jobs.map((job) => `job registered: ${job}`),
  "starting scheduler",
  "worker started successfully"
]

const sleepy = (spawn: Spawn, env: Readonly<Record<string, string>> = {}): Promise<Proc> =>
  spawn(fixture("sleepy-worker.mjs"), [], { env: { SERVICE_NAME_WORKER: SERVICE, ...env } })

/** Every stdout line, checked to be one JSON log line of `service`. */
const jsonLogs = (proc: Proc, service = SERVICE): Array<LogLine> => {
  const logs = proc.logs()
  expect(logs.length, proc.output()).toBeGreaterThan(0)
  for (const line of logs) {
    expect(Number.isNaN(Date.parse(line.time)), line.time).toBe(false)
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    expect(LEVELS).toContain(line.level)
    expect(line.service).toBe(service)
    expect(line.msg).not.toBe("")
  }
  return logs
}

const isRunEnd = (line: LogLine) =>
  ["job completed successfully", "job failed", "job panic recovered", "job interrupted"].includes(line.msg)

afterAll(killAll)

describe.skipIf(!postgres).concurrent("graceful shutdown", { timeout: 90_000 }, () => {
  test("SIGTERM while a job runs: the run finishes within the grace period, then the worker exits 0", {
    timeout: 90_000
  }, async ({ spawn }) => {
    const proc = await sleepy(spawn, { FIXTURE_SLEEP_MS: "1500", WORKER_SHUTDOWN_TIMEOUT_SECONDS: "10" })
    const begins = await proc.waitFor("fixture work begins", undefined, START_MS)
    proc.signal("SIGTERM")
    const exited = await proc.exit(20_000)
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

    const logs = jsonLogs(proc)
    expect(sequence(logs, startup("sleepy-1"))).toEqual(startup("sleepy-1"))
    expect(indexWhere(logs, (l) => l.msg === "job started")).toBeGreaterThan(
      indexWhere(logs, (l) => l.msg === "worker started successfully")
    )

    // The run in flight at the signal, and what it read from Job.CurrentRun.
    const runId = begins.run_id
    const started = logs.find((l) => l.msg === "job started" && l.run_id === runId)
    expect(started).toMatchObject({ level: "INFO", job: "sleepy-1" })
    expect(String(started?.nominal_at)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/)
    expect(begins).toMatchObject({
      current_job: "sleepy-1",
      current_run_id: runId,
      current_nominal_at: started?.nominal_at,
      current_attempt: 1,
      current_reason: "scheduled"
    })

    const shutdown = [SIGNAL_RECEIVED, SHUTTING_DOWN, ALL_COMPLETED, "fixture service closed", SHUTDOWN_COMPLETED]
    expect(sequence(logs, shutdown)).toEqual(shutdown)
    expect(logs.at(-1)?.msg).toBe(SHUTDOWN_COMPLETED)
    expect(logs.find((l) => l.msg === SIGNAL_RECEIVED)).toMatchObject({ level: "INFO", signal: "SIGTERM" })

    const signalAt = indexWhere(logs, (l) => l.msg === SIGNAL_RECEIVED)
    const completedAt = indexWhere(logs, (l) => l.msg === "job completed successfully" && l.run_id === runId)
    expect(completedAt, "the run in flight completes after the signal").toBeGreaterThan(signalAt)
    expect(completedAt, "…and before the scheduler reports all runs done").toBeLessThan(
      indexWhere(logs, (l) => l.msg === ALL_COMPLETED)
    )
    const completed = logs[completedAt]
    expect(completed).toMatchObject({ level: "INFO", job: "sleepy-1", nominal_at: started?.nominal_at })
    expect(completed?.duration_ms).toBeGreaterThanOrEqual(1400)

    expect(logs.slice(signalAt).filter((l) => l.msg === "job started"), "no run starts after the signal").toEqual([])
    expect(logs.filter((l) => [GRACE_EXPIRED, "job interrupted", RUNS_INTERRUPTED].includes(l.msg))).toEqual([])
  })

  test("SIGTERM with a job longer than the grace period: the run is interrupted and logged, exit 0", {
    timeout: 90_000
  }, async ({ spawn }) => {
    const proc = await sleepy(spawn, { FIXTURE_SLEEP_MS: "20000", WORKER_SHUTDOWN_TIMEOUT_SECONDS: "1" })
    const begins = await proc.waitFor("fixture work begins", undefined, START_MS)
    const sentAt = proc.signal("SIGTERM")
    const exited = await proc.exit(20_000)
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })
    const elapsed = exited.at - sentAt
    expect(elapsed, "waits for the grace period").toBeGreaterThanOrEqual(900)
    expect(elapsed, "exits well before the watchdog (grace + 15 s)").toBeLessThan(5000)

    const logs = jsonLogs(proc)
    const shutdown = [
      SIGNAL_RECEIVED,
      SHUTTING_DOWN,
      GRACE_EXPIRED,
      "fixture work interrupted",
      "job interrupted",
      RUNS_INTERRUPTED,
      "fixture service closed",
      SHUTDOWN_COMPLETED
    ]
    expect(sequence(logs, shutdown)).toEqual(shutdown)
    expect(logs.at(-1)?.msg).toBe(SHUTDOWN_COMPLETED)
    expect(logs.find((l) => l.msg === GRACE_EXPIRED)).toMatchObject({ level: "WARN" })
    expect(logs.find((l) => l.msg === "job interrupted")).toMatchObject({
      level: "WARN",
      job: "sleepy-1",
      run_id: begins.run_id
    })
    expect(logs.find((l) => l.msg === "fixture work interrupted"), "the job's finalizer ran").toMatchObject({
      run_id: begins.run_id
    })
    expect(
      logs.filter((l) =>
        [ALL_COMPLETED, "job completed successfully", "fixture work finished", WATCHDOG].includes(l.msg)
      )
    )
      .toEqual([])
  })

  test.for(
    [
      ["SIGTERM", 143],
      ["SIGINT", 130]
    ] as const
  )(
    "a second %s during shutdown exits at once with code %i",
    { timeout: 90_000 },
    async ([signal, code], { spawn }) => {
      const proc = await sleepy(spawn, { FIXTURE_SLEEP_MS: "20000", WORKER_SHUTDOWN_TIMEOUT_SECONDS: "30" })
      await proc.waitFor("fixture work begins", undefined, START_MS)
      proc.signal(signal)
      await proc.waitFor(SHUTTING_DOWN)
      const sentAt = proc.signal(signal)
      const exited = await proc.exit(5000)
      expect(exited, proc.output()).toMatchObject({ code, signal: null })
      expect(exited.at - sentAt, "exits at once").toBeLessThan(2000)

      const logs = jsonLogs(proc)
      expect(sequence(logs, [SIGNAL_RECEIVED, SHUTTING_DOWN, SECOND_SIGNAL])).toEqual([
        SIGNAL_RECEIVED,
        SHUTTING_DOWN,
        SECOND_SIGNAL
      ])
      expect(logs.at(-1)).toMatchObject({ msg: SECOND_SIGNAL, level: "WARN", signal })
      expect(logs.filter((l) => [SHUTDOWN_COMPLETED, "job completed successfully"].includes(l.msg))).toEqual([])
    }
  )

  test("the watchdog exits 1 when a job is stuck in uninterruptible work", { timeout: 90_000 }, async ({ spawn }) => {
    const proc = await spawn(fixture("stuck-worker.mjs"), [], {
      env: { SERVICE_NAME_WORKER: SERVICE, WORKER_SHUTDOWN_TIMEOUT_SECONDS: "1" }
    })
    await proc.waitFor("fixture entering uninterruptible sleep", undefined, START_MS)
    const sentAt = proc.signal("SIGTERM")
    const exited = await proc.exit(22_000)
    expect(exited, proc.output()).toMatchObject({ code: 1, signal: null })
    const elapsed = exited.at - sentAt
    expect(elapsed, "grace (1 s) + watchdog margin (15 s)").toBeGreaterThanOrEqual(15_500)
    expect(elapsed).toBeLessThan(19_000)

    const logs = jsonLogs(proc)
    expect(sequence(logs, [SIGNAL_RECEIVED, GRACE_EXPIRED, WATCHDOG])).toEqual([
      SIGNAL_RECEIVED,
      GRACE_EXPIRED,
      WATCHDOG
    ])
    expect(logs.at(-1)).toMatchObject({ msg: WATCHDOG, level: "ERROR" })
    expect(logs.filter((l) => [SHUTDOWN_COMPLETED, SECOND_SIGNAL].includes(l.msg))).toEqual([])
  })

  test("the watchdog exits 1 when closing a service hangs", { timeout: 90_000 }, async ({ spawn }) => {
    const proc = await sleepy(spawn, {
      FIXTURE_SLEEP_MS: "100",
      FIXTURE_CLOSE_HANGS: "1",
      WORKER_SHUTDOWN_TIMEOUT_SECONDS: "1"
    })
    await proc.waitFor("worker started successfully", undefined, START_MS)
    const sentAt = proc.signal("SIGTERM")
    const exited = await proc.exit(22_000)
    expect(exited, proc.output()).toMatchObject({ code: 1, signal: null })
    const elapsed = exited.at - sentAt
    expect(elapsed, "grace (1 s) + watchdog margin (15 s)").toBeGreaterThanOrEqual(15_500)
    expect(elapsed).toBeLessThan(19_000)

    const logs = jsonLogs(proc)
    const order = [SIGNAL_RECEIVED, SHUTTING_DOWN, "fixture service closing (hangs)", WATCHDOG]
    expect(sequence(logs, order)).toEqual(order)
    expect(logs.at(-1)).toMatchObject({ msg: WATCHDOG, level: "ERROR" })
    expect(logs.filter((l) => l.msg === SHUTDOWN_COMPLETED)).toEqual([])
  })
})

describe.skipIf(!postgres).concurrent("runs", { timeout: 90_000 }, () => {
  test("a run past WORKER_DEFAULT_TIMEOUT_SECONDS is interrupted (its finalizers run) and logged as failed", {
    timeout: 90_000
  }, async ({ spawn }) => {
    const proc = await sleepy(spawn, { FIXTURE_SLEEP_MS: "4000", WORKER_DEFAULT_TIMEOUT_SECONDS: "1" })
    const begins = await proc.waitFor("fixture work begins", undefined, START_MS)
    const failed = await proc.waitFor("job failed", (l) => l.run_id === begins.run_id)
    proc.signal("SIGTERM")
    const exited = await proc.exit(20_000)
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

    expect(failed).toMatchObject({ level: "ERROR", job: "sleepy-1", error: expect.stringContaining("timed out") })
    expect(failed.duration_ms).toBeGreaterThanOrEqual(900)
    expect(failed.duration_ms).toBeLessThan(3000)
    const logs = jsonLogs(proc)
    const ofRun = logs.filter((l) => l.run_id === begins.run_id).map((l) => l.msg)
    expect(ofRun).toEqual(["job started", "fixture work begins", "fixture work interrupted", "job failed"])
  })

  test(
    "a defect is recovered and logged with panic and stack; the job runs " +
      "again; failures, odd log values and other jobs go on",
    { timeout: 60_000 },
    async ({ spawn }) => {
      const proc = await spawn(fixture("panic-worker.mjs"), [], { env: { SERVICE_NAME_WORKER: SERVICE } })
      const odd = await proc.waitFor("job started", (l) => l.job === "odd-logs")
      await proc.waitForLine("the end of the first odd-logs run", (line) => {
        const parsed = parseLogLine(line)
        return parsed !== undefined && parsed.run_id === odd.run_id && isRunEnd(parsed)
      })
      const first = await proc.waitFor("job panic recovered")
      const second = await proc.waitFor("job panic recovered", (l) => l.nominal_at !== first.nominal_at)
      const steady = await proc.waitFor("job completed successfully", (l) => l.job === "steady" && l.time >= first.time)
      const failed = await proc.waitFor("job failed", (l) => l.job === "failing")
      proc.signal("SIGTERM")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

      for (const panic of [first, second]) {
        expect(panic).toMatchObject({ level: "ERROR", job: "exploding" })
        expect(panic.run_id).toEqual(expect.any(String))
        expect(panic.panic).toEqual(expect.stringContaining("fixture boom"))
        expect(panic.stack).toEqual(expect.stringContaining("Error: fixture boom"))
        expect(panic.stack, "the stack points into the job's code").toEqual(expect.stringContaining("panic-worker.mjs"))
      }
      expect(second.run_id).not.toBe(first.run_id)
      expect(Date.parse(String(second.nominal_at))).toBeGreaterThan(Date.parse(String(first.nominal_at)))
      expect(steady.run_id).toEqual(expect.any(String))
      expect(failed).toMatchObject({ level: "ERROR", error: expect.stringContaining("fixture typed failure") })

      // Lines with a multi-line stack, or values JSON cannot encode as they are, are still one JSON object per line.
      const logs = jsonLogs(proc)
      const jobs = startup("exploding", "failing", "steady", "odd-logs")
      expect(sequence(logs, jobs)).toEqual(jobs)
      const ofOddRun = logs.filter((l) => l.run_id === odd.run_id)
      expect(ofOddRun.map((l) => l.msg), "logging odd values does not fail the run").toEqual([
        "job started",
        "fixture odd values\nsecond line",
        "job completed successfully"
      ])
      expect(
        logs.filter((l) => l.msg === "job panic recovered" && l.job !== "exploding"),
        "a typed failure is no panic"
      )
        .toEqual([])
      expect(logs.at(-1)?.msg).toBe(SHUTDOWN_COMPLETED)
    }
  )

  test("WORKER_MAX_CONCURRENT_JOBS=1 holds across jobs: slots are skipped with a WARN naming the limit", {
    timeout: 60_000
  }, async ({ spawn }) => {
    const proc = await sleepy(spawn, { FIXTURE_JOBS: "2", FIXTURE_SLEEP_MS: "1500", WORKER_MAX_CONCURRENT_JOBS: "1" })
    const skipped = await proc.waitFor(MAX_CONCURRENT_SKIP)
    await proc.waitFor("job completed successfully")
    proc.signal("SIGTERM")
    const exited = await proc.exit(20_000)
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

    expect(skipped).toMatchObject({ level: "WARN", max_concurrent: 1 })
    expect(skipped.job).toMatch(/^sleepy-[12]$/)

    const logs = jsonLogs(proc)
    expect(logs.find((l) => l.msg === "starting scheduler")).toMatchObject({ max_concurrent: 1 })
    const inFlight = new Set<unknown>()
    let most = 0
    for (const line of logs) {
      if (line.msg === "job started") inFlight.add(line.run_id)
      if (isRunEnd(line)) inFlight.delete(line.run_id)
      most = Math.max(most, inFlight.size)
    }
    expect(most, "never more than one run in flight").toBe(1)
  })

  test(
    "WORKER_MAX_CONCURRENT_JOBS=0 sets no limit: two jobs run the same slot together",
    { timeout: 60_000 },
    async ({ spawn }) => {
      const proc = await sleepy(spawn, { FIXTURE_JOBS: "2", FIXTURE_SLEEP_MS: "1500", WORKER_MAX_CONCURRENT_JOBS: "0" })
      const startedOf = (job: string) => (line: LogLine) => line.msg === "job started" && line.job === job
      const second = await proc.waitFor("job started", (l) =>
        l.job === "sleepy-2" &&
        proc.lines.some((raw) => {
          const other = parseLogLine(raw)
          return other !== undefined && startedOf("sleepy-1")(other) && other.nominal_at === l.nominal_at
        }))
      await proc.waitFor("job completed successfully", (l) => l.nominal_at === second.nominal_at)
      proc.signal("SIGTERM")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

      const logs = jsonLogs(proc)
      const slot = logs.filter((l) => l.msg === "job started" && l.nominal_at === second.nominal_at).map((l) => l.job)
      expect(slot.sort()).toEqual(["sleepy-1", "sleepy-2"])
      expect(logs.filter((l) => l.msg === MAX_CONCURRENT_SKIP)).toEqual([])
    }
  )
})

describe.skipIf(!postgres).concurrent("start-up", { timeout: 60_000 }, () => {
  test(
    "bad configuration values stop start-up: exit 1, one stderr line per variable " +
      "naming it and the value (a secret's hidden), no job started",
    { timeout: 60_000 },
    async ({ spawn }) => {
      const bad = [
        ["WORKER_MAX_CONCURRENT_JOBS", "lots"],
        ["WORKER_SHUTDOWN_TIMEOUT_SECONDS", "-5"],
        ["WORKER_TIMEZONE", "Mars/Olympus"]
      ] as const
      const proc = await spawn(fixture("sleepy-worker.mjs"), [], {
        env: {
          SERVICE_NAME_WORKER: SERVICE,
          ...Object.fromEntries(bad),
          DATABASE_URL: `mysql://postgres:${PG_PASSWORD}@127.0.0.1:3306/finance`
        }
      })
      const exited = await proc.exit(20_000)
      expect(exited.code, proc.output()).toBe(1)
      const lines = nonEmptyLines(proc.stderr)
      expect(lines, proc.output()).toHaveLength(bad.length + 1)
      for (const [name, value] of bad) {
        expect(lines.filter((line) => line.includes(name) && line.includes(value) && line.includes("expected")), name)
          .toHaveLength(1)
      }
      expect(lines.filter((line) => line.includes("DATABASE_URL") && line.includes("expected"))).toHaveLength(1)
      expect(lines.filter((line) => line.includes(PG_PASSWORD)), "the URL's password is never shown").toEqual([])
      expect(proc.lines.filter((l) => l.includes("job started") || l.includes("worker started successfully"))).toEqual(
        []
      )
    }
  )

  test("a job with a bad schedule stops start-up: exit 1 naming the job and the expression, no job runs", {
    timeout: 60_000
  }, async ({ spawn }) => {
    const proc = await spawn(fixture("bad-schedule-worker.mjs"), [], { env: { SERVICE_NAME_WORKER: SERVICE } })
    const exited = await proc.exit(20_000)
    expect(exited.code, proc.output()).toBe(1)
    const lines = nonEmptyLines(proc.stderr)
    expect(lines, proc.output()).toHaveLength(1)
    expect(lines[0]).toContain("broken")
    expect(lines[0]).toContain("0 0 25 * * *")
    const logs = jsonLogs(proc)
    expect(logs.filter((l) => ["job started", "fixture good job ran", "fixture broken job ran"].includes(l.msg)))
      .toEqual([])
    expect(logs.filter((l) => l.msg === "worker started successfully")).toEqual([])
  })

  test(
    "reads .env from the working directory; the real environment wins over it",
    { timeout: 60_000 },
    async ({ spawn }) => {
      const proc = await spawn(fixture("sleepy-worker.mjs"), [], {
        env: { WORKER_MAX_CONCURRENT_JOBS: "2", FIXTURE_SLEEP_MS: "100" },
        dotEnv: "SERVICE_NAME_WORKER=from-dotenv\nWORKER_MAX_CONCURRENT_JOBS=not-a-number\n" +
          "WORKER_SHUTDOWN_TIMEOUT_SECONDS=3\n"
      })
      await proc.waitFor("worker started successfully")
      proc.signal("SIGTERM")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })
      const logs = jsonLogs(proc, "from-dotenv")
      expect(logs.find((l) => l.msg === "initializing worker")).toMatchObject({
        max_concurrent_jobs: 2,
        shutdown_timeout_seconds: 3
      })
    }
  )
})

describe.skipIf(!postgres).concurrent("log format", { timeout: 60_000 }, () => {
  test("LOG_LEVEL=warn writes only WARN and ERROR lines", { timeout: 60_000 }, async ({ spawn }) => {
    const proc = await sleepy(spawn, { LOG_LEVEL: "warn", FIXTURE_SLEEP_MS: "1500" })
    // The embedded database starts first (seconds under load): the budget is for that, not for the scheduler.
    await proc.waitFor("job skipped (previous run still running)", undefined, 40_000)
    proc.signal("SIGTERM")
    const exited = await proc.exit(20_000)
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

    const logs = jsonLogs(proc)
    expect(logs.filter((l) => l.level !== "WARN" && l.level !== "ERROR").map((l) => `${l.level} ${l.msg}`)).toEqual([])
  })

  test(
    "LOG_FORMAT=pretty writes readable lines, not JSON (and SIGINT shuts down gracefully too)",
    { timeout: 60_000 },
    async ({ spawn }) => {
      const proc = await sleepy(spawn, { LOG_FORMAT: "pretty", FIXTURE_SLEEP_MS: "100" })
      await proc.waitForLine(
        "a pretty 'job completed successfully' line",
        (l) => l.includes("job completed successfully")
      )
      proc.signal("SIGINT")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })

      const lines = proc.lines.filter((l) => l !== "")
      expect(lines.length).toBeGreaterThan(5)
      for (const line of lines) {
        expect(line.startsWith("{"), line).toBe(false)
        expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (DEBUG|INFO|WARN|ERROR) +\S/)
      }
      expect(lines.find((l) => l.includes("job started"))).toContain("job=sleepy-1")
      expect(lines.some((l) => l.includes("shutdown signal received") && l.includes("signal=SIGINT"))).toBe(true)
      expect(lines.at(-1)).toContain(SHUTDOWN_COMPLETED)
    }
  )
})
