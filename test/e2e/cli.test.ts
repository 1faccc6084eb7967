/**
 * End to end: the command line of `dist/main.js` and of a user's worker script
 * (`next`, `jobs`, `check`, `--help`), run with node. Every command runs to
 * completion in its own process and working directory, so the tests run
 * concurrently; `runNode` kills a process that outlives its timeout.
 * Needs `dist/` (`npm run build`).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { type Completed, fixture, killAll, MAIN, nonEmptyLines, runNode, type SpawnOptions } from "./harness.js"

const cli = (args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<Completed> => runNode(MAIN, args, options)

const MINUTE = 60_000
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/

afterAll(killAll)

describe.concurrent("next", () => {
  it.each([
    {
      // 02:30 does not exist on 8 March in New York: a fixed-time schedule fires at 03:00 EDT.
      title: "a time in the spring DST gap",
      args: ["30 2 * * *", "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2"],
      lines: ["2026-03-08T07:00:00Z  2026-03-08T03:00:00-04:00", "2026-03-09T06:30:00Z  2026-03-09T02:30:00-04:00"]
    },
    {
      title: "@every 90m counted from --from",
      args: ["@every 90m", "--from", "2026-01-01T00:00:00Z", "--count", "3"],
      lines: [
        "2026-01-01T01:30:00Z  2026-01-01T01:30:00+00:00",
        "2026-01-01T03:00:00Z  2026-01-01T03:00:00+00:00",
        "2026-01-01T04:30:00Z  2026-01-01T04:30:00+00:00"
      ]
    },
    {
      title: "CRON_TZ= winning over --timezone",
      args: ["CRON_TZ=Europe/Berlin 0 9 * * *", "--timezone", "Asia/Tokyo", "--from", "2026-01-01T00:00:00Z", "--count", "2"],
      lines: ["2026-01-01T08:00:00Z  2026-01-01T09:00:00+01:00", "2026-01-02T08:00:00Z  2026-01-02T09:00:00+01:00"]
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
    { title: "an unknown @every duration", args: ["@every soon"], names: ["@every soon"] },
    { title: "an unknown zone", args: ["* * * * *", "--timezone", "Mars/Olympus"], names: ["Mars/Olympus"] },
    { title: "a bad --from", args: ["* * * * *", "--from", "yesterday"], names: ["yesterday"] },
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

/** Three ISO instants, `step` apart, the first within `step` of now. */
const expectNextThree = (next: unknown, step: number, before: number) => {
  expect(Array.isArray(next)).toBe(true)
  const instants = (Array.isArray(next) ? next : []).map((value) => (typeof value === "string" ? Date.parse(value) : NaN))
  expect(instants).toHaveLength(3)
  const [first = NaN, second = NaN, third = NaN] = instants
  expect(first).toBeGreaterThan(before - 1000)
  expect(first).toBeLessThanOrEqual(Date.now() + step)
  expect([second - first, third - second]).toEqual([step, step])
}

describe.concurrent("jobs", () => {
  it("lists the worker's jobs as a table: name, schedule, zone and the next three runs", async () => {
    const before = Date.now()
    const result = await cli(["jobs"])
    expect(result.code, result.output).toBe(0)
    const [header, ...rows] = nonEmptyLines(result.stdout)
    expect(header?.split(/\s{2,}/)).toEqual(["NAME", "SCHEDULE", "ZONE", "NEXT RUNS"])
    expect(rows).toHaveLength(1)
    const cells = rows[0]?.split(/\s{2,}/) ?? []
    expect(cells.slice(0, 3)).toEqual(["heartbeat", "* * * * *", "UTC"])
    const next = cells[3]?.split(", ") ?? []
    for (const instant of next) expect(instant).toMatch(ISO_INSTANT)
    expectNextThree(next, MINUTE, before)
  })

  it("--json prints one object per job, in the zone of WORKER_TIMEZONE", async () => {
    const before = Date.now()
    const result = await cli(["jobs", "--json"], { env: { WORKER_TIMEZONE: "Asia/Tokyo" } })
    expect(result.code, result.output).toBe(0)
    const rows = parseRows(result.stdout)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ name: "heartbeat", schedule: "* * * * *", timezone: "Asia/Tokyo" })
    expectNextThree(rows[0]?.next, MINUTE, before)
  })
})

describe.concurrent("check", () => {
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

describe.concurrent("--help", () => {
  it("exits 0 and lists the commands", async () => {
    const result = await cli(["--help"])
    expect(result.code, result.output).toBe(0)
    for (const command of ["worker", "next", "jobs", "check"]) expect(result.stdout).toContain(command)
  })
})
