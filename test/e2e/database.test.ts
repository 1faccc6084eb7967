/**
 * End to end: `node dist/main.js` on each kind of database. With
 * `DATABASE_URL` unset it starts an embedded PGlite in `PGLITE_DATA_DIR`
 * (default `./.data/pglite`), which only one worker may use at a time and
 * which keeps its data across restarts; on the real services (PostgreSQL with
 * a password in the URL, RabbitMQ) it says where it connected, never with
 * credentials; a `DATABASE_URL` where nothing listens stops start-up.
 *
 * A fresh PGlite directory costs seconds of CPU (initdb), so the embedded
 * suite initialises one, seeded by `seed-demo`, and each test works on a copy.
 * The suites run side by side, so the other tests use the second core
 * meanwhile.
 */
import { afterAll, beforeAll, describe, expect } from "@effect/vitest"
import { cpSync, mkdtempSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { deleteExchange, servicesAvailable, TEST_RABBITMQ_URL, unique } from "../services.js"
import {
  closedPort,
  type Completed,
  expectToolStreams,
  killAll,
  logsOf,
  MAIN,
  nonEmptyLines,
  PG_PASSWORD,
  runNode,
  sequence,
  spawnNode,
  test
} from "./harness.js"

const postgresAndRabbitmq = await servicesAvailable(["postgres", "rabbitmq"])

const STARTED = "worker started successfully"
const SIGNAL_RECEIVED = "shutdown signal received, initiating graceful shutdown..."
const SHUTTING_DOWN = "shutting down scheduler..."
const ALL_COMPLETED = "all running jobs completed"
const SHUTDOWN_COMPLETED = "worker shutdown completed"
const CONNECTED = "database connection established"
const MIGRATED = "database migrated"
const NO_RABBITMQ = "rabbitmq not configured: published messages wait in the outbox"
const RABBITMQ_INITIALIZED = "rabbitmq initialized"
const RABBITMQ_CLOSED = "rabbitmq connection closed"
const CLEANUP_COMPLETED = "database cleanup completed"
const REGISTERED = ["job registered: database_cleanup", "job registered: report_generator"]

/** An embedded start can take several seconds of CPU, more with other workers starting. */
const EMBEDDED_WAIT = 45_000

/** The JSON log lines of a command's stdout (commands print more for the user). */

afterAll(killAll)

describe.concurrent("the embedded database (DATABASE_URL unset)", { timeout: 90_000 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), "cron-worker-e2e-pglite-"))
  /** The directory `seed-demo` initialised: migrated and seeded. No worker uses it after that first one. */
  const template = join(scratch, "template")
  let seeded: Completed | undefined

  beforeAll(async () => {
    // Tools log from warn up: --log-level info shows the connection and the migration.
    seeded = await runNode(MAIN, ["seed-demo", "--log-level", "info"], {
      database: "none",
      env: { PGLITE_DATA_DIR: template },
      timeoutMs: 80_000
    })
  }, 90_000)

  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  test("the first start on a fresh PGLITE_DATA_DIR creates and migrates it", { timeout: 90_000 }, () => {
    const result = seeded
    expect(result?.code, result?.output).toBe(0)
    if (result === undefined) return
    expectToolStreams(result)
    const logs = logsOf(result)
    expect(sequence(logs, [CONNECTED, MIGRATED])).toEqual([CONNECTED, MIGRATED])
    expect(logs.find((l) => l.msg === CONNECTED)).toMatchObject({
      database: "embedded (PGlite)",
      embedded: true,
      data_dir: realpathSync(template)
    })
  })

  test(
    "node dist/main.js starts on ./.data/pglite, refuses a second worker " +
      "on that directory, and stops in order on SIGTERM",
    { timeout: 90_000 },
    async ({ spawn }) => {
      const proc = await spawn(MAIN, [], {
        database: "none",
        prepare: (dir) => cpSync(template, join(dir, ".data/pglite"), { recursive: true })
      })
      const dataDir = join(realpathSync(proc.cwd), ".data/pglite")
      await proc.waitFor(STARTED, undefined, EMBEDDED_WAIT)

      const second = await spawn(MAIN, [], { database: "none", env: { PGLITE_DATA_DIR: dataDir } })
      const refused = await second.exit(30_000)
      expect(refused.code, second.output()).not.toBe(0)
      expect(refused.code, second.output()).not.toBe(null)
      // Said once: the ERROR line names the directory and the holder; nothing is repeated on stderr.
      expect(second.stderr, second.output()).toBe("")
      expect(second.logs().filter((l) => l.msg === "worker failed to start"), second.output()).toEqual([
        expect.objectContaining({ level: "ERROR", error: expect.stringContaining(`${dataDir}: another worker (pid`) })
      ])
      expect(second.lines.filter((l) => l.includes(STARTED))).toEqual([])

      proc.signal("SIGTERM")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })
      expect(proc.stderr).toBe("")
      const logs = proc.logs()
      const order = [
        "initializing worker",
        CONNECTED,
        NO_RABBITMQ,
        ...REGISTERED,
        "starting scheduler",
        STARTED,
        SIGNAL_RECEIVED,
        SHUTTING_DOWN,
        ALL_COMPLETED,
        SHUTDOWN_COMPLETED
      ]
      expect(sequence(logs, order)).toEqual(order)
      expect(logs.at(-1)?.msg).toBe(SHUTDOWN_COMPLETED)
      expect(logs.find((l) => l.msg === CONNECTED)).toMatchObject({
        database: "embedded (PGlite)",
        embedded: true,
        data_dir: dataDir
      })
      expect(logs.find((l) => l.msg === NO_RABBITMQ)).toMatchObject({ level: "WARN" })
      expect(logs.filter((l) => l.msg === MIGRATED), "migrated by an earlier process: nothing left to apply").toEqual(
        []
      )
      expect(logs.filter((l) => l.msg === RABBITMQ_CLOSED)).toEqual([])
    }
  )

  test("its data survives a restart: run database_cleanup finds what seed-demo wrote in an earlier process", {
    timeout: 90_000
  }, async () => {
    const dataDir = join(scratch, "survival")
    cpSync(template, dataDir, { recursive: true })
    const result = await runNode(MAIN, ["run", "database_cleanup"], {
      database: "none",
      env: { PGLITE_DATA_DIR: dataDir },
      timeoutMs: EMBEDDED_WAIT
    })
    expect(result.code, result.output).toBe(0)
    expect(nonEmptyLines(result.stdout), "its log lines go to stderr").toEqual([
      expect.stringMatching(/^job "database_cleanup" succeeded in /)
    ])
    const logs = logsOf(result)
    expect(logs.find((l) => l.msg === CLEANUP_COMPLETED), result.output).toMatchObject({
      categories_deleted: 3,
      categories_kept_referenced: 3
    })
    expect(logs.filter((l) => l.msg === MIGRATED)).toEqual([])
  })
})

describe.skipIf(!postgresAndRabbitmq).concurrent("the real services", { timeout: 60_000 }, () => {
  test(
    "node dist/main.js on PostgreSQL (a password in DATABASE_URL) and RabbitMQ: starts, " +
      "says where it connected without credentials, stops in order on SIGTERM",
    { timeout: 60_000 },
    async ({ onTestFinished, spawn }) => {
      const exchange = unique("cw_e2e_exchange")
      onTestFinished(() => deleteExchange(exchange))
      const proc = await spawn(MAIN, [], { env: { RABBITMQ_URL: TEST_RABBITMQ_URL, RABBITMQ_EXCHANGE: exchange } })
      expect(proc.databaseUrl, "the URL carries the password").toContain(`:${PG_PASSWORD}@`)
      await proc.waitFor(STARTED)
      proc.signal("SIGTERM")
      const exited = await proc.exit(20_000)
      expect(exited, proc.output()).toMatchObject({ code: 0, signal: null })
      expect(proc.stderr).toBe("")

      const logs = proc.logs()
      const order = [
        "initializing worker",
        CONNECTED,
        MIGRATED,
        RABBITMQ_INITIALIZED,
        ...REGISTERED,
        "starting scheduler",
        STARTED,
        SIGNAL_RECEIVED,
        SHUTTING_DOWN,
        ALL_COMPLETED,
        RABBITMQ_CLOSED,
        SHUTDOWN_COMPLETED
      ]
      expect(sequence(logs, order)).toEqual(order)
      expect(logs.at(-1)?.msg).toBe(SHUTDOWN_COMPLETED)
      expect(logs.find((l) => l.msg === SIGNAL_RECEIVED)).toMatchObject({ signal: "SIGTERM" })
      expect(logs.filter((l) => l.msg === NO_RABBITMQ)).toEqual([])

      const url = new URL(proc.databaseUrl ?? "")
      expect(logs.find((l) => l.msg === CONNECTED)).toMatchObject({
        database: `${url.hostname}:${url.port || "5432"}${url.pathname}`,
        embedded: false
      })
      const rabbitmq = logs.find((l) => l.msg === RABBITMQ_INITIALIZED)
      const rabbitmqHost = new RegExp(`^${new URL(TEST_RABBITMQ_URL).hostname}(:\\d+)?$`)
      expect(rabbitmq).toMatchObject({ exchange, host: expect.stringMatching(rabbitmqHost) })
      expect(JSON.stringify(rabbitmq), "no RabbitMQ credentials").not.toMatch(/guest/)
      expect(logs.find((l) => l.msg === REGISTERED[0])).toMatchObject({
        job: "database_cleanup",
        schedule: "0 2 * * *"
      })
      expect(logs.find((l) => l.msg === REGISTERED[1])).toMatchObject({
        job: "report_generator",
        schedule: "0 8 * * 1"
      })
      expect(proc.leaks(), "no line contains the PostgreSQL password").toEqual([])
    }
  )
})

describe.concurrent("start-up on an unreachable database", () => {
  test(
    "a DATABASE_URL where nothing listens: exit 1, one ERROR line " +
      "naming host:port/database, never the password, and no shutdown",
    async ({ spawn }) => {
      const port = await closedPort()
      const proc = await spawn(MAIN, [], {
        env: { DATABASE_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/cw_e2e_nowhere` }
      })
      const exited = await proc.exit(20_000)
      expect(exited.code, proc.output()).toBe(1)
      expect(proc.stderr, "said once, in the log").toBe("")
      const failed = proc.logs().filter((l) => l.level === "ERROR")
      expect(failed.map((l) => l.msg), proc.output()).toEqual(["worker failed to start"])
      expect(failed[0]?.error).toContain(`127.0.0.1:${port}/cw_e2e_nowhere`)
      expect(JSON.stringify(failed[0])).not.toContain(PG_PASSWORD)
      expect(proc.logs().map((l) => l.msg)).not.toContain(SHUTDOWN_COMPLETED)
      expect(proc.lines.filter((l) => l.includes(STARTED) || l.includes("job registered"))).toEqual([])
      expect(proc.leaks()).toEqual([])
    }
  )

  test("the harness fails a process whose output contains the PostgreSQL password", async () => {
    const proc = await spawnNode("-e", [
      `console.log("connecting to postgres://postgres:" + process.env.LEAKED + "@db/app")`
    ], {
      database: "none",
      env: { LEAKED: PG_PASSWORD }
    })
    try {
      await expect(proc.exit()).rejects.toThrow(/contains the PostgreSQL password/)
      expect(proc.leaks()).toHaveLength(1)
    } finally {
      await proc.kill()
    }
  })
})
