/**
 * End to end: what a job does outside Effect must not take the worker down abruptly or hide from its logs
 * (`src/ProcessGuard.ts`, `src/RunContext.ts`). A user's worker (`test/fixtures/misbehaving-worker.mjs`) leaves a
 * rejected promise, throws from a detached callback, or holds the event loop; the worker logs each as JSON naming
 * the job, shuts down in order after an uncaught exception, and its watchdog ends a process whose event loop a
 * job keeps blocked.
 */
import { afterAll, describe, expect } from "@effect/vitest"
import { queryDatabase, servicesAvailable, type TestDatabase } from "../services.js"
import { fixture, killAll, type LogLine, type Proc, sequence, type Spawn, test } from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

const misbehaving = (
  spawn: Spawn,
  mode: string,
  env: Readonly<Record<string, string>> = {},
  database?: TestDatabase
): Promise<Proc> =>
  spawn(fixture("misbehaving-worker.mjs"), [], {
    env: { FIXTURE_MODE: mode, SERVICE_NAME_WORKER: "e2e-guard", ...env },
    ...(database === undefined ? {} : { database })
  })

/** Every stdout line is one JSON log line (nothing printed as a plain-text stack). */
const jsonLogs = (proc: Proc): Array<LogLine> => proc.logs()

const SHUTDOWN_DONE = "worker shutdown completed"

afterAll(killAll)

describe.skipIf(!postgres).concurrent("errors and stalls outside Effect", { timeout: 60_000 }, () => {
  test("an unhandled rejection is logged as one JSON ERROR line naming the job and run; the worker goes on", {
    timeout: 30_000
  }, async ({ spawn }) => {
    const proc = await misbehaving(spawn, "reject")
    const rejection = await proc.waitFor("unhandled promise rejection")
    expect(rejection).toMatchObject({
      level: "ERROR",
      job: "rejecter",
      error: expect.stringContaining("fixture detached rejection")
    })
    expect(rejection.run_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(rejection.stack).toEqual(expect.stringContaining("misbehaving-worker.mjs"))
    // Still running: later runs of both jobs complete, and more rejections are logged.
    await proc.waitFor("job completed successfully", (line) => line.job === "steady" && line.time > rejection.time)
    await proc.waitFor("unhandled promise rejection", (line) => line.run_id !== rejection.run_id)
    proc.signal("SIGTERM")
    const exited = await proc.exit()
    expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })
    expect(proc.stderr).toBe("")
    jsonLogs(proc)
  })

  test("an uncaught exception is logged, then the worker shuts down in order and exits 1", {
    timeout: 30_000
  }, async ({ spawn }) => {
    const proc = await misbehaving(spawn, "throw", { WORKER_SHUTDOWN_TIMEOUT_SECONDS: "5" })
    const exited = await proc.exit(25_000)
    expect(exited, proc.output()).toMatchObject({ code: 1, signal: null })
    expect(proc.stderr).toBe("")
    const logs = jsonLogs(proc)
    const uncaught = logs.find((line) => line.msg === "uncaught exception: shutting down")
    expect(uncaught, proc.output()).toMatchObject({
      level: "ERROR",
      job: "thrower",
      error: expect.stringContaining("fixture detached throw")
    })
    // The slow run in flight got the grace period and its outcome; then the services closed in order.
    const order = [
      "uncaught exception: shutting down",
      "shutting down scheduler...",
      "all running jobs completed",
      "database connection closed",
      "worker shutdown completed"
    ]
    expect(sequence(logs, order), proc.output()).toEqual(order)
    const at = logs.indexOf(uncaught!)
    expect(logs.slice(at).some((line) => line.msg === "job completed successfully" && line.job === "slow")).toBe(true)
    const left = await queryDatabase<{ n: number }>(
      proc.databaseUrl!,
      "SELECT count(*)::int AS n FROM cron_worker.runs WHERE status IN ('running', 'queued')"
    )
    expect(left).toEqual([{ n: 0 }])
  })

  test("an uncaught exception during a shutdown a signal began: logged, the shutdown finishes, exit 1", {
    timeout: 30_000
  }, async ({ spawn }) => {
    const proc = await misbehaving(spawn, "throw-in-shutdown", { WORKER_SHUTDOWN_TIMEOUT_SECONDS: "5" })
    await proc.waitFor("fixture slow run begins")
    proc.signal("SIGTERM")
    const exited = await proc.exit(25_000)
    expect(exited, proc.output()).toMatchObject({ code: 1, signal: null })
    const logs = jsonLogs(proc)
    const order = ["shutdown signal received, initiating graceful shutdown...", "uncaught exception", SHUTDOWN_DONE]
    expect(sequence(logs, order), proc.output()).toEqual(order)
    expect(logs.find((line) => line.msg === "uncaught exception")).toMatchObject({
      level: "ERROR",
      job: "late-thrower"
    })
  })

  test("a job holding the event loop for more than a second is named in a WARN line", {
    timeout: 30_000
  }, async ({ spawn }) => {
    const proc = await misbehaving(spawn, "stall", { FIXTURE_BLOCK_MS: "1500" })
    const blocked = await proc.waitFor("event loop blocked")
    expect(blocked).toMatchObject({ level: "WARN", job: "staller" })
    expect(blocked.blocked_ms).toBeGreaterThanOrEqual(1000)
    expect(blocked.run_id).toMatch(/^[0-9a-f-]{36}$/)
    proc.signal("SIGTERM")
    expect(await proc.exit(), proc.output()).toMatchObject({ code: 0 })
  })

  test(
    "a worker whose event loop a job holds for 5 s still beats (from its thread): another instance does not " +
      "take it for dead, and the run is recorded succeeded, not abandoned",
    {
      timeout: 60_000
    },
    async ({ database, spawn }) => {
      const db = await database()
      // Another instance on the same database, reaping the runs of instances silent for 3 s.
      const watcher = await misbehaving(spawn, "reject", { WORKER_INSTANCE_ID: "watcher" }, db)
      await watcher.waitFor("worker started successfully")
      const staller = await misbehaving(spawn, "stall", { FIXTURE_BLOCK_MS: "5000", WORKER_INSTANCE_ID: "staller" }, db)
      const blocked = await staller.waitFor("event loop blocked", undefined, 30_000)
      expect(blocked.blocked_ms).toBeGreaterThanOrEqual(4500)
      // A second for the watcher's reaper to look after the stall.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      // The stalled run's outcome is written after the stall (a batched write, which the next stall may hold up):
      // wait for it, or for an abandoned row.
      const ended = () =>
        queryDatabase<{ status: string; duration_ms: string }>(
          db.url,
          "SELECT status, duration_ms::text FROM cron_worker.runs WHERE job = 'staller' AND status <> 'running'",
          []
        )
      const deadline = Date.now() + 20_000
      let rows = await ended()
      while (
        Date.now() < deadline && !rows.some((row) => Number(row.duration_ms) >= 4500 || row.status === "abandoned")
      ) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        rows = await ended()
      }
      expect(watcher.logs().filter((line) => line.msg === "run abandoned: its worker stopped")).toEqual([])
      expect(rows.length).toBeGreaterThanOrEqual(1)
      expect(rows.filter((row) => Number(row.duration_ms) >= 4500).map((row) => row.status)).toContain("succeeded")
      expect(rows.map((row) => row.status)).not.toContain("abandoned")
    }
  )

  test("the watchdog's thread kills a process whose event loop a job blocks during shutdown", {
    timeout: 40_000
  }, async ({ spawn }) => {
    const proc = await misbehaving(spawn, "block", {
      FIXTURE_WAIT_MS: "2000",
      FIXTURE_BLOCK_MS: "60000",
      WORKER_SHUTDOWN_TIMEOUT_SECONDS: "0"
    })
    await proc.waitFor("fixture blocking")
    const sentAt = proc.signal("SIGTERM")
    // The job's loop starts 2 s later and would hold the event loop for a minute.
    const exited = await proc.exit(30_000)
    const elapsed = exited.at - sentAt
    expect(exited, proc.output()).toMatchObject({ code: null, signal: "SIGKILL" })
    expect(elapsed, "watchdog margin (15 s) and the thread's 2 s").toBeGreaterThanOrEqual(16_500)
    expect(elapsed).toBeLessThan(25_000)
    const logs = jsonLogs(proc)
    const order = [
      "shutdown signal received, initiating graceful shutdown...",
      "shutdown did not finish in time and the event loop is blocked: killing the process"
    ]
    expect(sequence(logs, order), proc.output()).toEqual(order)
  })
})
