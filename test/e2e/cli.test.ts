/**
 * End to end: the command line of `dist/main.js` and of a user's worker script
 * (`next`, `jobs`, `check`, `--help`, and on the database and the broker
 * `migrate`, `seed-demo`, `run`, `outbox`, `history`, `pause`, `resume`), run
 * with node: help and errors, log levels and streams, `--json`, start-up
 * failures said once, the service name. Every command runs to completion in
 * its own process and working directory; those on the database each on a
 * fresh database of its own unless a test shares one between its commands
 * (those that need none get none), so the tests run concurrently; `runNode`
 * kills a process that outlives its timeout. Needs `dist/` (`npm run build`)
 * and, for the database and broker suites, the real services (skipped without
 * them; failing under REQUIRE_SERVICES=1).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { bindQueue, queryDatabase, servicesAvailable, TEST_RABBITMQ_URL, unique } from "../services.js"
import {
  type Completed,
  expectToolStreams,
  fixture,
  freshDatabase,
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

/** `node dist/main.js ...args`, given time to finish on a loaded machine (the tests run side by side). */
const cli = (args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<Completed> =>
  runNode(MAIN, args, { timeoutMs: 45_000, ...options })

const HOUR = 3_600_000
const DAY = 24 * HOUR
const WEEK = 7 * DAY
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const ROUTING_KEY = "reports.weekly.generated"
/** The one line `run <job>` prints on stdout when the run succeeded. */
const RUN_SUCCEEDED = (job: string) =>
  new RegExp(`^job "${job}" succeeded in \\d+\\.\\d{2}s \\(run [0-9a-f]{8}-[0-9a-f-]{27}\\)$`)

/** The JSON log lines of a command's stdout. */

/** The stdout lines of a command that are not log lines: what it prints for the user. */
const printed = (result: Completed): Array<string> =>
  nonEmptyLines(result.stdout).filter((line) => parseLogLine(line) === undefined)

afterAll(killAll)

describe.concurrent("next", { timeout: 60_000 }, () => {
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
    const result = await cli(["next", ...args], { database: "none" })
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toBe("")
    expect(nonEmptyLines(result.stdout)).toEqual(lines)
  })

  it.each([
    { title: "an out-of-range field", args: ["61 * * * *"], names: ["61 * * * *"] },
    { title: "an unknown zone", args: ["* * * * *", "--timezone", "Mars/Olympus"], names: ["Mars/Olympus"] },
    { title: "a --count that is not a number", args: ["* * * * *", "--count", "abc"], names: ["abc"] },
    {
      title: "a negative minute, options after it",
      args: ["-1 * * * *", "--count", "2"],
      names: ["minute field", "-1 is not in 0-59"]
    },
    { title: "an expression after --", args: ["--count", "2", "--", "-1 * * * *"], names: ["-1 is not in 0-59"] }
  ])("exits 2 on $title, with one stderr line naming it", async ({ args, names }) => {
    const result = await cli(["next", ...args], { database: "none" })
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

/** The one JSON document of a `--json` output: an array, on one line, nothing else on stdout. */
const parseArray = (stdout: string): Array<unknown> => {
  const lines = nonEmptyLines(stdout)
  expect(lines, stdout).toHaveLength(1)
  const value: unknown = JSON.parse(lines[0] ?? "")
  expect(Array.isArray(value), stdout).toBe(true)
  return Array.isArray(value) ? value : []
}

const parseRows = (stdout: string): Array<JobRow> =>
  parseArray(stdout).map((row) => {
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
    expect(result.stderr, "no INFO lines, no warning: the pause state was read").toBe("")
    const [header, ...rows] = nonEmptyLines(result.stdout)
    expect(header?.split(/\s{2,}/)).toEqual(["NAME", "SCHEDULE", "ZONE", "NEXT RUNS", "PAUSED"])
    expect(rows).toHaveLength(3)
    const [cleanup, report, maintenance] = rows.map((row) => row.split(/\s{2,}/))
    expect(cleanup?.slice(0, 3)).toEqual(["database_cleanup", "0 2 * * *", "UTC"])
    expectNextThree(cleanup?.[3]?.split(", "), DAY, before, "02:00")
    expect(report?.slice(0, 3)).toEqual(["report_generator", "0 8 * * 1", "UTC"])
    expectNextThree(report?.[3]?.split(", "), WEEK, before, "08:00", 1)
    // The built-in maintenance job (history retention) is listed last.
    expect(maintenance?.slice(0, 3)).toEqual(["cron_worker.maintenance", "23 * * * *", "UTC"])
    expect(rows.map((row) => row.split(/\s{2,}/)[4])).toEqual(["no", "no", "no"])
  })

  it("--json prints one JSON array of jobs, in the zone of WORKER_TIMEZONE", async () => {
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
    expect(rows[0]).toMatchObject({ paused: false, pausedAt: null, pausedBy: null, pauseReason: null })
  })
})

describe.skipIf(!postgres)("schedules, on the database without a worker", () => {
  test(
    "create (once per key), list, get, update, delete; a definition that cannot work is named, exit 2",
    { timeout: 120_000 },
    async ({ database }) => {
      const db = await database()
      const run = (...args: ReadonlyArray<string>) => cli(args, { database: db })
      const definition = {
        kind: "user_digest",
        expression: "0 9 * * 1-5",
        timezone: "America/Sao_Paulo",
        payload: { userId: "42" },
        id: "digest-42",
        key: "user-42"
      }
      const created = await run("schedules", "create", JSON.stringify(definition))
      expect(created.code, created.output).toBe(0)
      expect(printed(created)[0]).toMatch(/^schedule "digest-42" created \(version 1\), next run \d{4}-.*Z$/)
      const again = await run("schedules", "create", JSON.stringify({ ...definition, id: "other" }))
      expect(printed(again)).toEqual([`schedule "digest-42" has the key "user-42" already: nothing changed`])
      const bad = await run(
        "schedules",
        "create",
        JSON.stringify({ ...definition, key: "k2", payload: { userId: "" } })
      )
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("payload.userId: ")
      const badJson = await run("schedules", "create", "{not json")
      expect(badJson.code).toBe(2)
      expect(badJson.stderr).toContain("definition: ")
      const list = await run("schedules", "list", "--json")
      expect(list.code, list.output).toBe(0)
      const rows = JSON.parse(printed(list)[0]!) as Array<{ id: string; version: number; state: string }>
      expect(rows.map((r) => [r.id, r.version, r.state])).toEqual([["digest-42", 1, "active"]])
      const updated = await run(
        "schedules",
        "update",
        "digest-42",
        JSON.stringify({ ...definition, id: undefined, key: undefined, expression: "0 10 * * *", version: 1 })
      )
      expect(updated.code, updated.output).toBe(0)
      expect(printed(updated)[0]).toMatch(/^schedule "digest-42" changed \(version 2\), next run /)
      const stale = await run(
        "schedules",
        "update",
        "digest-42",
        JSON.stringify({ ...definition, id: undefined, key: undefined, version: 1 })
      )
      expect(stale.code).toBe(1)
      expect(stale.stderr).toContain("is at version 2, not 1")
      const got = await run("schedules", "get", "digest-42")
      expect(JSON.parse(printed(got).join("\n"))).toMatchObject({ expression: "0 10 * * *", version: 2 })
      const deleted = await run("schedules", "delete", "digest-42")
      expect(deleted.code, deleted.output).toBe(0)
      const missing = await run("schedules", "get", "digest-42")
      expect([missing.code, missing.stderr.trim()]).toEqual([1, `no schedule with id "digest-42"`])
    }
  )
})

describe.concurrent("check", { timeout: 60_000 }, () => {
  it("exits 0 when the configuration and every schedule are valid", async () => {
    const result = await cli(["check"], { database: "none" })
    expect(result.code, result.output).toBe(0)
    expect(result.stderr).toBe("")
    expect(result.stdout).not.toContain("initializing worker")
  })

  it("exits 1 on a bad configuration value, naming the variable and the value", async () => {
    const result = await cli(["check"], { database: "none", env: { WORKER_TIMEZONE: "Mars/Olympus" } })
    expect(result.code, result.output).toBe(1)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("WORKER_TIMEZONE")
    expect(lines[0]).toContain("Mars/Olympus")
  })

  it("exits 1 for a worker with a bad schedule, naming the job and the expression", async () => {
    const result = await runNode(fixture("bad-schedule-worker.mjs"), ["check"], { database: "none" })
    expect(result.code, result.output).toBe(1)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("broken")
    expect(lines[0]).toContain("0 0 25 * * *")
    expect(lines[0], "only the bad job is named").not.toContain("good")
    expect(result.stdout).not.toContain("job started")
  })
})

const COMMANDS = [
  "worker",
  "run",
  "cancel",
  "backfill",
  "next",
  "jobs",
  "check",
  "history",
  "pause",
  "resume",
  "migrate",
  "seed-demo",
  "outbox",
  "alerts"
]

/** Options every command gets from @effect/cli: their help is the library's, not ours. */
const BUILT_IN = ["--completions", "--log-level", "(-h, --help)", "--wizard", "--version"]

/** The library's words for a primitive, shown when nothing better is said. */
const GENERIC = ["A user-defined piece of text.", "An integer.", "A true or false value."]

/**
 * The entries of the ARGUMENTS and OPTIONS sections of a help text: each
 * heading (an unindented line) with its paragraphs (indented lines).
 */
const helpEntries = (help: string): Array<{ readonly heading: string; readonly paragraphs: Array<string> }> => {
  const entries: Array<{ heading: string; paragraphs: Array<string> }> = []
  let section = ""
  for (const line of help.split("\n")) {
    if (line.trim() === "") continue
    if (/^[A-Z]+$/.test(line)) section = line
    else if (section === "ARGUMENTS" || section === "OPTIONS") {
      if (!line.startsWith(" ")) entries.push({ heading: line, paragraphs: [] })
      else entries.at(-1)?.paragraphs.push(line.trim())
    }
  }
  return entries
}

describe.concurrent("--help and errors of the command line", { timeout: 60_000 }, () => {
  it.each([
    { command: [], own: [] },
    { command: ["worker"], own: [] },
    { command: ["run"], own: ["<job>", "--no-deliver", "--overlap", "--no-wait"] },
    { command: ["cancel"], own: ["<runId>"] },
    { command: ["backfill"], own: ["<job>", "--from", "--to", "--overlap"] },
    { command: ["next"], own: ["<expression>", "--timezone", "--from", "--count", "--json"] },
    { command: ["jobs"], own: ["--json"] },
    { command: ["check"], own: [] },
    { command: ["history"], own: ["<job>", "--limit", "--json"] },
    { command: ["pause"], own: ["<job>", "--reason", "--until"] },
    { command: ["resume"], own: ["<job>"] },
    { command: ["migrate"], own: [] },
    { command: ["seed-demo"], own: [] },
    { command: ["outbox"], own: ["--all", "--json", "--limit", "--show-body", "--retry-failed"] },
    { command: ["outbox", "show"], own: ["<id>"] },
    { command: ["alerts"], own: ["--all", "--job", "--limit", "--json"] }
  ])("$command --help, piped: no ANSI escape, a description of each of its arguments and options", async ({
    command,
    own
  }) => {
    const result = await cli([...command, "--help"], { database: "none" })
    expect(result.code, result.output).toBe(0)
    expect(result.stdout, "no escape sequence when stdout is not a terminal").not.toContain("\u001b")
    if (command.length === 0) {
      for (const name of COMMANDS) expect(result.stdout, "the commands are listed").toContain(`- ${name}`)
    }
    const entries = helpEntries(result.stdout)
    const ours = entries.filter((entry) => !BUILT_IN.some((name) => entry.heading.startsWith(name)))
    expect(ours.map((entry) => entry.heading.split(" ")[0]), result.stdout).toEqual(own)
    for (const { heading, paragraphs } of ours) {
      const [first = ""] = paragraphs
      expect(GENERIC, `${heading}: the library's generic line`).not.toContain(first)
      expect(first, `${heading}: a description of ours`).not.toMatch(/^This setting/)
    }
    // Where the library describes an option of its own (--log-level…), its generic line is dropped too.
    for (const { heading, paragraphs } of entries) {
      const generic = paragraphs.findIndex((p) => GENERIC.includes(p))
      if (generic >= 0) expect(paragraphs[generic + 1] ?? "", heading).toMatch(/^This setting/)
    }
  })

  it("next --count x: exit 2, one line saying it is not an integer", async () => {
    const result = await cli(["next", "* * * * *", "--count", "x"], { database: "none" })
    expect(result.code, result.output).toBe(2)
    expect(result.stdout).toBe("")
    expect(nonEmptyLines(result.stderr), result.output).toEqual(["'x' is not an integer"])
  })

  it("next --json prints one JSON array of { instant, local }", async () => {
    const result = await cli(
      ["next", "0 9 * * *", "--timezone", "Europe/Paris", "--from", "2026-01-01T00:00:00Z", "--count", "2", "--json"],
      { database: "none" }
    )
    expect(result.code, result.output).toBe(0)
    expect(parseArray(result.stdout)).toEqual([
      { instant: "2026-01-01T08:00:00Z", local: "2026-01-01T09:00:00+01:00" },
      { instant: "2026-01-02T08:00:00Z", local: "2026-01-02T09:00:00+01:00" }
    ])
  })

  it("--log-level with an unknown level: exit 2, one line naming the levels", async () => {
    const result = await cli(["next", "* * * * *", "--log-level", "loud"], { database: "none" })
    expect(result.code, result.output).toBe(2)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("loud")
    expect(lines[0]).toContain("warning")
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
      expect(printed(first)[0]).toMatch(/^applied: \d+_\w+(, \d+_\w+)*, finance\/1_schema$/)
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
      // Its log lines on stderr; on stdout one line: the result.
      expect(nonEmptyLines(run.stdout), run.output).toEqual([expect.stringMatching(RUN_SUCCEEDED("database_cleanup"))])
      expect(nonEmptyLines(run.stderr).every((line) => parseLogLine(line) !== undefined), run.output).toBe(true)
      const logs = logsOf(run)
      expect(new Set(logs.map((l) => l.service)), "this worker's service name").toEqual(new Set(["financial-worker"]))
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
    expect(result.stdout, "logs go to stderr").toBe("")
    const lines = nonEmptyLines(result.stderr).filter((line) => parseLogLine(line) === undefined)
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
    const result = await cli(["run", "nope"], { database: "none" })
    expect(result.code, result.output).toBe(2)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain("nope")
    expect(result.stdout).not.toContain("job started")
  })

  test(
    "without RabbitMQ, what run report_generator published waits in the outbox: outbox lists it, " +
      "--json as one array; outbox show and --show-body give its body",
    { timeout: 120_000 },
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
        cli(["outbox", "--show-body"], { database: db }),
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
      const messages = parseArray(json.stdout)
      expect(messages, json.output).toHaveLength(1)
      const id = rows[0]?.split(/\s+/)[0] ?? ""
      expect(messages[0]).toMatchObject({
        id,
        status: "pending",
        exchange: "financial.events",
        routing_key: ROUTING_KEY
      })
      expect(messages[0], "no body unless asked").not.toHaveProperty("body")

      const unknownId = "00000000-0000-4000-8000-000000000000"
      const [show, bodiesJson, unknown] = await Promise.all([
        cli(["outbox", "show", id], { database: db }),
        cli(["outbox", "--json", "--show-body"], { database: db }),
        cli(["outbox", "show", unknownId], { database: db })
      ])
      expect(show.code, show.output).toBe(0)
      expect(printed(show), show.output).toEqual(expect.arrayContaining([
        `id            ${id}`,
        "status        pending",
        "exchange      financial.events",
        `routing key   ${ROUTING_KEY}`,
        "content type  application/json",
        "attempts      0",
        "body (json):"
      ]))
      const body: unknown = JSON.parse(show.stdout.slice(show.stdout.indexOf("body (json):") + "body (json):".length))
      expect(body).toMatchObject({ report_id: id, total_users: 0, active_budgets: 0, total_invoices: 0 })

      expect(header?.split(/\s{2,}/).at(-1), table.output).toBe("BODY")
      expect(rows[0], table.output).toContain(`{"report_id":"${id}"`)

      expect(parseArray(bodiesJson.stdout)[0], bodiesJson.output).toMatchObject({
        id,
        content_type: "application/json",
        body_encoding: "json",
        body: { report_id: id, total_users: 0 }
      })

      expect(unknown.code, unknown.output).toBe(2)
      expect(nonEmptyLines(unknown.stderr), unknown.output).toEqual([`no outbox message with id "${unknownId}"`])

      // --retry-failed --json: the ids put back, one array.
      await queryDatabase(db.url, "UPDATE cron_worker.outbox SET status = 'failed' WHERE id = $1", [id])
      const retried = await cli(["outbox", "--retry-failed", "--json"], { database: db })
      expect(retried.code, retried.output).toBe(0)
      expect(parseArray(retried.stdout)).toEqual([{ id }])
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
    expect(nonEmptyLines(result.stdout), result.output).toEqual([
      expect.stringMatching(RUN_SUCCEEDED("report_generator"))
    ])
    expect(logsOf(result).filter((l) => l.level === "ERROR" || l.level === "WARN"), result.output).toEqual([])

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

describe.skipIf(!postgres).concurrent("log levels and streams", { timeout: 60_000 }, () => {
  it(
    "a tool prints no INFO line by default, LOG_LEVEL notwithstanding; --log-level=info shows them; " +
      "--json prints [] when there is nothing to show",
    async ({ onTestFinished }) => {
      const db = await freshDatabase()
      onTestFinished(() => db.drop())
      const [quiet, told] = await Promise.all([
        cli(["history", "--json"], { database: db, env: { LOG_LEVEL: "debug" } }),
        cli(["outbox", "--json", "--all", "--log-level=info"], { database: db, env: { LOG_LEVEL: "error" } })
      ])
      expect(quiet.code, quiet.output).toBe(0)
      expect(quiet.stderr, "not even `database connection established`").toBe("")
      expect(quiet.stdout).toBe("[]")
      expect(told.code, told.output).toBe(0)
      expect(told.stdout).toBe("[]")
      expectToolStreams(told)
      expect(logsOf(told).map((l) => `${l.level} ${l.msg}`)).toContain("INFO database connection established")
    }
  )

  it("run: --log-level wins over LOG_LEVEL; its logs on stderr, one result line on stdout", async () => {
    const result = await cli(["run", "database_cleanup", "--log-level", "warn"], { env: { LOG_LEVEL: "debug" } })
    expect(result.code, result.output).toBe(0)
    expect(nonEmptyLines(result.stdout)).toEqual([expect.stringMatching(RUN_SUCCEEDED("database_cleanup"))])
    const logs = logsOf(result)
    expect(logs.filter((l) => l.level !== "WARN" && l.level !== "ERROR").map((l) => l.msg), result.output).toEqual([])
    expect(logs.map((l) => l.msg), "the WARN of a worker without RabbitMQ").toContain(
      "rabbitmq not configured: published messages wait in the outbox"
    )
  })
})

/**
 * A lock on `dataDir` as a running worker holds it: naming a live process of
 * this host (the test's own), refreshed just now. Nothing needs to start.
 */
const lockedDataDir = (): { readonly dir: string; readonly pid: number } => {
  const dir = join(mkdtempSync(join(tmpdir(), "cron-worker-e2e-locked-")), "pglite")
  mkdirSync(dir)
  writeFileSync(`${dir}.lock`, JSON.stringify({ token: "e2e-holder", pid: process.pid, host: hostname() }))
  // Fresh for the test's length, as a holder refreshing it would keep it: a lock not refreshed for 20 s is stale,
  // and a command that started slowly on a loaded machine took it over and opened the database.
  const fresh = new Date(Date.now() + 10 * 60_000)
  utimesSync(`${dir}.lock`, fresh, fresh)
  return { dir, pid: process.pid }
}

describe.concurrent("start-up failures: printed once, naming the command and why", { timeout: 60_000 }, () => {
  it("history on an embedded database another worker uses: exit 1, one stderr line naming history", async () => {
    const { dir, pid } = lockedDataDir()
    const result = await cli(["history"], { database: "none", env: { PGLITE_DATA_DIR: dir } })
    expect(result.code, result.output).toBe(1)
    expect(result.stdout).toBe("")
    expect(nonEmptyLines(result.stderr), result.output).toEqual([
      `history: cannot open the embedded database at ${dir}: another worker (pid ${pid} on ${hostname()}) ` +
      "is using it; stop that worker, or set PGLITE_DATA_DIR to another directory"
    ])
  })

  it("run on it: one line naming run, never `worker failed to start`", async () => {
    const { dir } = lockedDataDir()
    const result = await cli(["run", "database_cleanup"], { database: "none", env: { PGLITE_DATA_DIR: dir } })
    expect(result.code, result.output).toBe(1)
    expect(result.stdout).toBe("")
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^run: cannot open the embedded database at ${dir}: another worker`))
    expect(result.output).not.toContain("worker failed to start")
  })

  it("the worker on it: one ERROR line `worker failed to start` naming the directory, nothing on stderr", async () => {
    const { dir } = lockedDataDir()
    const result = await cli([], { database: "none", env: { PGLITE_DATA_DIR: dir } })
    expect(result.code, result.output).toBe(1)
    expect(result.stderr, "no second copy").toBe("")
    const logs = logsOf(result)
    const failed = logs.filter((l) => l.msg === "worker failed to start")
    expect(failed, result.output).toHaveLength(1)
    expect(failed[0]).toMatchObject({ level: "ERROR", error: expect.stringContaining(dir) })
    expect(logs.map((l) => l.msg), "it never started, so it does not shut down").not.toContain(
      "worker shutdown completed"
    )
  })

  it("jobs on it: lists the jobs, pause state unknown, one warning line saying why", async () => {
    const { dir } = lockedDataDir()
    const result = await cli(["jobs"], { database: "none", env: { PGLITE_DATA_DIR: dir } })
    expect(result.code, result.output).toBe(0)
    const [header, ...rows] = nonEmptyLines(result.stdout)
    expect(header?.split(/\s{2,}/).at(-1)).toBe("PAUSED")
    expect(rows.map((row) => row.split(/\s{2,}/).at(-1)), result.output).toEqual(["unknown", "unknown", "unknown"])
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^jobs: pause state unknown: cannot open the embedded database at ${dir}`))
  })

  it("PGLITE_DATA_DIR naming a file: exit 1, one line naming the variable and what it is", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "cron-worker-e2e-file-")), "data")
    writeFileSync(file, "")
    const result = await cli(["history"], { database: "none", env: { PGLITE_DATA_DIR: file } })
    expect(result.code, result.output).toBe(1)
    expect(nonEmptyLines(result.stderr), result.output).toEqual([
      `history: PGLITE_DATA_DIR=${file}: not a directory (it is a file)`
    ])
  })

  it("HTTP_PORT in use: the worker stops before the database starts, naming the port", async ({ onTestFinished }) => {
    const server = createServer()
    await new Promise<void>((listening) => server.listen({ port: 0 }, listening))
    onTestFinished(() => new Promise<void>((closed) => server.close(() => closed())))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    // Found before the database starts: the embedded one is never created.
    const data = join(mkdtempSync(join(tmpdir(), "cron-worker-e2e-http-")), "pglite")
    const result = await cli([], { database: "none", env: { HTTP_PORT: String(port), PGLITE_DATA_DIR: data } })
    expect(result.code, result.output).toBe(1)
    expect(result.stderr).toBe("")
    const logs = logsOf(result)
    expect(logs.filter((l) => l.level === "ERROR"), result.output).toEqual([
      expect.objectContaining({ msg: "worker failed to start", error: `HTTP_PORT=${port}: address already in use` })
    ])
    const msgs = logs.map((l) => l.msg)
    expect(msgs, "nothing started").not.toContain("database connection established")
    expect(msgs, "it never started, so it does not shut down").not.toContain("worker shutdown completed")
  })
})

describe.skipIf(!postgres).concurrent("history, pause, resume", { timeout: 60_000 }, () => {
  test("a skipped slot shows no attempt and no duration: blank in the table, null in --json", {
    timeout: 60_000
  }, async ({ database }) => {
    const db = await database()
    expect((await cli(["migrate"], { database: db })).code).toBe(0)
    await queryDatabase(
      db.url,
      `INSERT INTO cron_worker.runs
        (run_id, job, nominal_at, reason, status, skip_reason, attempt, instance, started_at, finished_at, duration_ms)
      VALUES
        (gen_random_uuid(), 'database_cleanup', '2026-01-01T02:00:00Z', 'scheduled', 'skipped', 'paused', 0, 'a',
          '2026-01-01T02:00:00.010Z', '2026-01-01T02:00:00.026Z', 16),
        (gen_random_uuid(), 'database_cleanup', '2026-01-02T02:00:00Z', 'scheduled', 'succeeded', NULL, 1, 'a',
          '2026-01-02T02:00:00.010Z', '2026-01-02T02:00:00.430Z', 420)`
    )
    const [table, json] = await Promise.all([
      cli(["history"], { database: db }),
      cli(["history", "--json"], { database: db })
    ])
    expect(table.code, table.output).toBe(0)
    const [header = "", ...rows] = nonEmptyLines(table.stdout)
    const cell = (row: string, column: string, next: string) =>
      row.slice(header.indexOf(column), header.indexOf(next)).trim()
    expect(rows.map((row) => [cell(row, "ATTEMPT", "DURATION"), cell(row, "DURATION", "INSTANCE")])).toEqual([
      ["1", "0.420s"],
      ["", ""]
    ])
    expect(parseArray(json.stdout).map((run) => run as Record<string, unknown>).map((r) => [r.attempt, r.durationMs]))
      .toEqual([[1, 420], [null, null]])
  })

  test(
    "pause logs who and why, says so when already paused, shows in jobs; resume logs who; long reasons refused",
    { timeout: 120_000 },
    async ({ database }) => {
      const db = await database()
      const tooLong = await cli(["pause", "database_cleanup", "--reason", "x".repeat(501)], { database: db })
      expect(tooLong.code, tooLong.output).toBe(2)
      expect(nonEmptyLines(tooLong.stderr), tooLong.output).toEqual([
        "--reason is 501 characters long; the limit is 500"
      ])

      const paused = await cli(["pause", "database_cleanup", "--reason", "db maintenance"], { database: db })
      expect(paused.code, paused.output).toBe(0)
      expect(nonEmptyLines(paused.stdout)).toEqual([`job "database_cleanup" paused: db maintenance`])
      expectToolStreams(paused)
      const audit = logsOf(paused).filter((l) => l.msg === "job paused")
      expect(audit, "written although tools log from warn up").toEqual([
        expect.objectContaining({ level: "INFO", job: "database_cleanup", reason: "db maintenance" })
      ])
      const by = String(audit[0]?.by)
      expect(by).toMatch(/^.+@.+$/)

      const again = await cli(["pause", "database_cleanup", "--reason", "other"], { database: db })
      expect(again.code, again.output).toBe(0)
      expect(nonEmptyLines(again.stdout)).toEqual([
        expect.stringMatching(
          /^job "database_cleanup" is already paused since \d{4}-\d\d-\d\dT[\d:.]+Z by .+@.+: db maintenance$/
        )
      ])
      expect(logsOf(again).map((l) => l.msg), "nothing changed").not.toContain("job paused")

      const [table, json] = await Promise.all([
        cli(["jobs"], { database: db }),
        cli(["jobs", "--json"], { database: db })
      ])
      const rows = nonEmptyLines(table.stdout).slice(1).map((row) => row.split(/\s{2,}/))
      expect(rows.map((row) => row[4]), table.output).toEqual([
        expect.stringMatching(new RegExp(`^since .+Z by ${by}: db maintenance$`)),
        "no",
        "no"
      ])
      expect(parseRows(json.stdout)[0], json.output).toMatchObject({
        paused: true,
        pausedBy: by,
        pauseReason: "db maintenance",
        pausedAt: expect.stringMatching(ISO_MILLIS)
      })

      const resumed = await cli(["resume", "database_cleanup"], { database: db })
      expect(resumed.code, resumed.output).toBe(0)
      expect(nonEmptyLines(resumed.stdout)).toEqual([`job "database_cleanup" resumed`])
      expect(logsOf(resumed).filter((l) => l.msg === "job resumed")).toEqual([
        expect.objectContaining({ level: "INFO", job: "database_cleanup", by })
      ])
    }
  )

  it("a job name with control characters is escaped in the error line", async () => {
    const result = await cli(["pause", "bad\u001b[31mname"], { database: "none" })
    expect(result.code, result.output).toBe(2)
    const lines = nonEmptyLines(result.stderr)
    expect(lines, result.output).toHaveLength(1)
    expect(lines[0]).toContain(`no job named "bad\\u001b[31mname"`)
    expect(result.stderr).not.toContain("\u001b")
  })
})

describe.concurrent("the service name of a user's worker", { timeout: 60_000 }, () => {
  // The worker fails at once on a locked data directory: its one log line is enough to read `service` from.
  it.each([
    { env: {}, service: "acme-billing-worker" },
    { env: { OTEL_SERVICE_NAME: "otel-billing" }, service: "otel-billing" },
    { env: { OTEL_SERVICE_NAME: "otel-billing", SERVICE_NAME_WORKER: "own-billing" }, service: "own-billing" }
  ])("$env: its log lines say $service", async ({ env, service }) => {
    const { dir } = lockedDataDir()
    const result = await runNode(fixture("own-package/worker.mjs"), [], {
      database: "none",
      env: { ...env, PGLITE_DATA_DIR: dir }
    })
    expect(result.code, result.output).toBe(1)
    const logs = logsOf(result)
    expect(logs.map((l) => l.msg), result.output).toEqual(["initializing worker", "worker failed to start"])
    expect(new Set(logs.map((l) => l.service))).toEqual(new Set([service]))
  })
})
