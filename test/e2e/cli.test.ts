/**
 * End to end: the command line of `dist/main.js` and of a user's worker script
 * (`next`, `jobs`, `check`, `--help`, and on the database and the broker
 * `migrate`, `seed-demo`, `run`, `outbox`), run with node. Every command runs
 * to completion in its own process and working directory, each on a fresh
 * database of its own unless a test shares one between its commands, so the
 * tests run concurrently; `runNode` kills a process that outlives its timeout.
 * Needs `dist/` (`npm run build`) and the real services (skipped without
 * them; failing under REQUIRE_SERVICES=1).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import pg from "pg"
import { bindQueue, queryDatabase, servicesAvailable, TEST_RABBITMQ_URL, unique } from "../services.js"
import {
  type Completed,
  expectToolStreams,
  fixture,
  killAll,
  logsOf,
  MAIN,
  nonEmptyLines,
  parseLogLine,
  runNode,
  type SpawnOptions,
  test
} from "./harness.js"

const postgres = await servicesAvailable(["postgres"])
const postgresAndRabbitmq = postgres && (await servicesAvailable(["rabbitmq"]))

const cli = (args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<Completed> =>
  runNode(MAIN, args, options)

const HOUR = 3_600_000
const DAY = 24 * HOUR
const WEEK = 7 * DAY
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/
const ROUTING_KEY = "reports.weekly.generated"

/** The JSON log lines of a command's stdout. */

/** The stdout lines of a command that are not log lines: what it prints for the user. */
const printed = (result: Completed): Array<string> =>
  nonEmptyLines(result.stdout).filter((line) => parseLogLine(line) === undefined)

afterAll(killAll)

describe.skipIf(!postgres).concurrent("next", { timeout: 60_000 }, () => {
  it.each([
    {
      // 02:30 does not exist on 8 March in New York: a fixed-time schedule fires at 03:00 EDT.
      title: "a time in the spring DST gap",
      args: ["30 2 * * *", "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2"],
      lines: ["2026-03-08T07:00:00Z  2026-03-08T03:00:00-04:00", "2026-03-09T06:30:00Z  2026-03-09T02:30:00-04:00"]
    },
    {
      // Defaults: five instants, zone UTC. Six fields: seconds first.
      title: "5 instants of a 6-field schedule",
      args: ["*/20 * * * * *", "--from", "2026-01-01T00:00:00Z"],
      lines: ["00:20", "00:40", "01:00", "01:20", "01:40"].map((t) => `2026-01-01T00:${t}Z  2026-01-01T00:${t}+00:00`)
    }
  ])("prints $title", async ({ args, lines }) => {
    const result = await cli(["next", ...args])
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toBe("")
    expect(nonEmptyLines(result.stdout)).toEqual(lines)
  })

  it.each([
    { title: "an out-of-range field", args: ["61 * * * *"], names: ["61 * * * *"] },
    { title: "an unknown zone", args: ["* * * * *", "--timezone", "Mars/Olympus"], names: ["Mars/Olympus"] },
    { title: "a --count that is not a number", args: ["* * * * *", "--count", "abc"], names: ["abc"] }
  ])("exits 2 on $title, with one stderr line naming it", async ({ args, names }) => {
    const result = await cli(["next", ...args])
    expect(result.code, result.output).toBe(2)
    expect(result.stdout).toBe("")
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    for (const name of names) expect(lines[0]).toContain(name)
  })
})

interface JobRow {
  readonly name: unknown
  readonly schedule: unknown
  readonly timezone: unknown
  readonly next: unknown
}

const parseRows = (stdout: string): Array<JobRow> =>
  nonEmptyLines(stdout).map((line) => {
    const row: unknown = JSON.parse(line)
    expect(row).toBeTypeOf("object")
    return row as JobRow
  })

/**
 * Three ISO instants, `step` apart, the first within `step` of now, each at
 * `utcTime` (HH:MM) and, when given, on `weekday` (0 = Sunday) in UTC.
 */
const expectNextThree = (next: unknown, step: number, before: number, utcTime: string, weekday?: number) => {
  expect(Array.isArray(next)).toBe(true)
  const texts = Array.isArray(next) ? next : []
  for (const text of texts) expect(text).toMatch(ISO_INSTANT)
  const instants = texts.map((value) => (typeof value === "string" ? Date.parse(value) : NaN))
  expect(instants).toHaveLength(3)
  const [first = NaN, second = NaN, third = NaN] = instants
  expect(first).toBeGreaterThan(before - 1000)
  expect(first).toBeLessThanOrEqual(Date.now() + step)
  expect([second - first, third - second]).toEqual([step, step])
  for (const instant of instants) {
    expect(new Date(instant).toISOString().slice(11, 16)).toBe(utcTime)
    if (weekday !== undefined) expect(new Date(instant).getUTCDay()).toBe(weekday)
  }
}

describe.skipIf(!postgres).concurrent("jobs", { timeout: 60_000 }, () => {
  it("lists the worker's jobs as a table: name, schedule, zone and the next three runs", async () => {
    const before = Date.now()
    const result = await cli(["jobs"])
    expect(result.code, result.output).toBe(0)
    const [header, ...rows] = nonEmptyLines(result.stdout)
    expect(header?.split(/\s{2,}/)).toEqual(["NAME", "SCHEDULE", "ZONE", "NEXT RUNS"])
    expect(rows).toHaveLength(3)
    const [cleanup, report, maintenance] = rows.map((row) => row.split(/\s{2,}/))
    expect(cleanup?.slice(0, 3)).toEqual(["database_cleanup", "0 2 * * *", "UTC"])
    expectNextThree(cleanup?.[3]?.split(", "), DAY, before, "02:00")
    expect(report?.slice(0, 3)).toEqual(["report_generator", "0 8 * * 1", "UTC"])
    expectNextThree(report?.[3]?.split(", "), WEEK, before, "08:00", 1)
    // The built-in maintenance job (history retention) is listed last.
    expect(maintenance?.slice(0, 3)).toEqual(["cron_worker.maintenance", "23 * * * *", "UTC"])
  })

  it("--json prints one object per job, in the zone of WORKER_TIMEZONE", async () => {
    const before = Date.now()
    const result = await cli(["jobs", "--json"], { env: { WORKER_TIMEZONE: "Asia/Tokyo" } })
    expect(result.code, result.output).toBe(0)
    const rows = parseRows(result.stdout)
    expect(rows).toHaveLength(3)
    expect(rows[2]).toMatchObject({ name: "cron_worker.maintenance", schedule: "23 * * * *", timezone: "Asia/Tokyo" })
    expect(rows[0]).toMatchObject({ name: "database_cleanup", schedule: "0 2 * * *", timezone: "Asia/Tokyo" })
    // 02:00 in Tokyo (UTC+9, no DST) is 17:00 UTC the day before.
    expectNextThree(rows[0]?.next, DAY, before, "17:00")
    expect(rows[1]).toMatchObject({ name: "report_generator", schedule: "0 8 * * 1", timezone: "Asia/Tokyo" })
    // Monday 08:00 in Tokyo is Sunday 23:00 UTC.
    expectNextThree(rows[1]?.next, WEEK, before, "23:00", 0)
  })
})

describe.skipIf(!postgres).concurrent("check", { timeout: 60_000 }, () => {
  it("exits 0 when the configuration and every schedule are valid", async () => {
    const result = await cli(["check"])
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toBe("")
    expect(result.stdout).not.toContain("initializing worker")
  })

  it("exits 1 on a bad configuration value, naming the variable and the value", async () => {
    const result = await cli(["check"], { env: { WORKER_TIMEZONE: "Mars/Olympus" } })
    expect(result.code, result.output).toBe(1)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("WORKER_TIMEZONE")
    expect(lines[0]).toContain("Mars/Olympus")
  })

  it("exits 1 for a worker with a bad schedule, naming the job and the expression", async () => {
    const result = await runNode(fixture("bad-schedule-worker.mjs"), ["check"])
    expect(result.code, result.output).toBe(1)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("broken")
    expect(lines[0]).toContain("0 0 25 * * *")
    expect(lines[0], "only the bad job is named").not.toContain("good")
    expect(result.stdout).not.toContain("job started")
  })
})

describe.skipIf(!postgres).concurrent("--help", { timeout: 60_000 }, () => {
  it("exits 0 and lists the commands", async () => {
    const result = await cli(["--help"])
    expect(result.code, result.output).toBe(0)
    for (const command of ["worker", "run", "next", "jobs", "check", "migrate", "seed-demo", "outbox"]) {
      expect(result.stdout).toContain(command)
    }
  })
})

/** The tables of the schema `schema` of the database at `url`. */
const tablesOf = async (url: string, schema: string): Promise<Array<string>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const result = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema]
    )
    return result.rows.map((row) => row.table_name)
  } finally {
    await client.end()
  }
}

describe.skipIf(!postgres).concurrent("migrate, seed-demo, run, outbox", { timeout: 60_000 }, () => {
  test(
    "migrate lists the migrations it applied, then says the database is up to date",
    { timeout: 60_000 },
    async ({ database }) => {
      const db = await database()
      const first = await cli(["migrate"], { database: db })
      expect(first.code, first.output).toBe(0)
      expectToolStreams(first)
      expect(printed(first), first.output).toHaveLength(1)
      expect(printed(first)[0]).toMatch(/^applied: \d+_\w+(, \d+_\w+)*$/)
      expect(await tablesOf(db.url, "cron_worker")).toEqual(expect.arrayContaining(["outbox", "runs"]))

      const second = await cli(["migrate"], { database: db })
      expect(second.code, second.output).toBe(0)
      expect(printed(second)).toEqual(["database is up to date"])
      expect(logsOf(second).filter((l) => l.msg === "database migrated")).toEqual([])
    }
  )

  test(
    "seed-demo, then run database_cleanup: a manual run deletes 3 " +
      "expired categories and keeps 3 referenced ones, exit 0",
    { timeout: 60_000 },
    async ({ database }) => {
      const db = await database()
      const seeded = await cli(["seed-demo"], { database: db })
      expect(seeded.code, seeded.output).toBe(0)
      expectToolStreams(seeded)

      const run = await cli(["run", "database_cleanup"], { database: db })
      expect(run.code, run.output).toBe(0)
      expect(run.stderr).toBe("")
      const logs = logsOf(run)
      expect(logs.find((l) => l.msg === "job started"), run.output).toMatchObject({
        job: "database_cleanup",
        reason: "manual"
      })
      expect(logs.find((l) => l.msg === "database cleanup completed"), run.output).toMatchObject({
        level: "INFO",
        job: "database_cleanup",
        categories_deleted: 3,
        categories_kept_referenced: 3
      })
      expect(logs.filter((l) => l.msg === "worker started successfully"), "no scheduler loops").toEqual([])
    }
  )

  test("run <job> whose run fails exits 1 with one stderr line naming the job and the error (a user's worker)", {
    timeout: 60_000
  }, async () => {
    const result = await runNode(fixture("panic-worker.mjs"), ["run", "failing"])
    expect(result.code, result.output).toBe(1)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("failing")
    expect(lines[0]).toContain("fixture typed failure")
    expect(logsOf(result).find((l) => l.msg === "job failed"), result.output).toMatchObject({
      job: "failing",
      reason: "manual"
    })
    expect(logsOf(result).filter((l) => l.msg === "job started").map((l) => l.job), "only the job asked for runs")
      .toEqual(["failing"])
  })

  test("run <unknown job> exits 2 with one stderr line naming it", { timeout: 60_000 }, async () => {
    const result = await cli(["run", "nope"])
    expect(result.code, result.output).toBe(2)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("nope")
    expect(result.stdout).not.toContain("job started")
  })

  test(
    "without RabbitMQ, what run report_generator published waits in the outbox: outbox lists it, --json as JSON lines",
    { timeout: 60_000 },
    async ({ database }) => {
      const db = await database()
      const run = await cli(["run", "report_generator"], { database: db })
      expect(run.code, run.output).toBe(0)
      expect(
        logsOf(run).find((l) => l.msg === "rabbitmq not configured: published messages wait in the outbox"),
        run.output
      )
        .toMatchObject({ level: "WARN" })

      const [table, json] = await Promise.all([
        cli(["outbox"], { database: db }),
        cli(["outbox", "--json"], { database: db })
      ])
      expect(table.code, table.output).toBe(0)
      const [header, ...rows] = printed(table)
      expect(header?.split(/\s{2,}/).slice(0, 2), table.output).toEqual(["ID", "STATUS"])
      expect(rows, table.output).toHaveLength(1)
      expect(rows[0]).toMatch(/^[0-9a-f-]{36}\s+pending\s/)
      expect(rows[0]).toContain(ROUTING_KEY)
      expect(rows[0]).toContain("financial.events")

      expect(json.code, json.output).toBe(0)
      const parsed = nonEmptyLines(json.stdout).map((line): unknown => JSON.parse(line))
      const messages = parsed.filter((value) => typeof value === "object" && value !== null && !("msg" in value))
      expect(messages, json.output).toHaveLength(1)
      expect(messages[0]).toMatchObject({
        id: rows[0]?.split(/\s+/)[0],
        status: "pending",
        exchange: "financial.events",
        routing_key: ROUTING_KEY
      })
    }
  )
})

describe.skipIf(!postgresAndRabbitmq).concurrent("run with RabbitMQ", { timeout: 60_000 }, () => {
  test(
    "run --no-deliver leaves what the job published in the outbox, without connecting to RabbitMQ",
    { timeout: 60_000 },
    async ({ database, onTestFinished }) => {
      const db = await database()
      const exchange = unique("cw_e2e_exchange")
      const queue = await bindQueue(exchange, ROUTING_KEY)
      onTestFinished(() => queue.close())
      const result = await cli(["run", "--no-deliver", "report_generator"], {
        database: db,
        env: { RABBITMQ_URL: TEST_RABBITMQ_URL, RABBITMQ_EXCHANGE: exchange }
      })
      expect(result.code, result.output).toBe(0)
      expect(result.output).toContain("job completed successfully")
      expect(result.output).not.toContain("rabbitmq initialized")
      expect(await queue.take(0, 500)).toEqual([])
      expect(await queryDatabase(db.url, "SELECT status, routing_key FROM cron_worker.outbox")).toEqual([
        { status: "pending", routing_key: ROUTING_KEY }
      ])
    }
  )

  it("run report_generator delivers the weekly report to the exchange before it exits", async ({ onTestFinished }) => {
    const exchange = unique("cw_e2e_exchange")
    const queue = await bindQueue(exchange, ROUTING_KEY)
    onTestFinished(() => queue.close())
    const result = await cli(["run", "report_generator"], {
      env: { RABBITMQ_URL: TEST_RABBITMQ_URL, RABBITMQ_EXCHANGE: exchange }
    })
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toBe("")

    // Confirmed by the broker before the exit: already in the queue (the wait only covers our own polling).
    const messages = await queue.take(1, 300)
    expect(messages, result.output).toHaveLength(1)
    const [message] = messages
    expect(message?.fields).toMatchObject({ exchange, routingKey: ROUTING_KEY })
    expect(message?.properties.contentType).toBe("application/json")
    const body: unknown = JSON.parse(message?.content.toString("utf8") ?? "null")
    expect(body).toMatchObject({
      report_id: message?.properties.messageId,
      total_users: 0,
      active_budgets: 0,
      total_invoices: 0
    })
    expect(String(message?.properties.messageId)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
    )
  })
})
