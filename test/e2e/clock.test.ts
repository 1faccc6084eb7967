/**
 * End to end: workers whose wall clock is not the real one (`test/fixtures/fake-clock.mjs`, loaded with
 * `--import`, moves `Date.now()` and leaves timers alone, as stepping a machine's clock does). One worker's clock
 * steps forward an hour and back; two workers on one database run with clocks 10 s apart (+5 s and -5 s). The
 * judge is `cron_worker.runs` and the processes' log lines. Needs `dist/` and the real PostgreSQL.
 */
import { afterAll, describe, expect } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { queryDatabase, servicesAvailable, type TestDatabase } from "../services.js"
import { fixture, killAll, type Proc, sleep, type Spawn, test } from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

const SECOND = 1000
const HOUR = 3_600_000
const JOB = "sleepy-1"
const STARTED = "worker started successfully"
const BEGINS = "fixture work begins"

interface Row extends Record<string, unknown> {
  readonly nominal_at: Date
  readonly status: string
  readonly reason: string
  readonly skip_reason: string | null
  readonly instance: string
}

const rowsOf = (db: TestDatabase) =>
  queryDatabase<Row>(
    db.url,
    "SELECT nominal_at, status, reason, skip_reason, instance FROM cron_worker.runs WHERE job = $1 ORDER BY nominal_at",
    [JOB]
  )

/** A sleepy worker (every second, 100 ms of work) on `db` whose wall clock is off by what `env` says. */
const worker = (spawn: Spawn, db: TestDatabase, instance: string, env: Readonly<Record<string, string>>) =>
  spawn(fixture("sleepy-worker.mjs"), [], {
    database: db,
    env: {
      NODE_OPTIONS: `--import=${fixture("fake-clock.mjs")}`,
      SERVICE_NAME_WORKER: "e2e-clock",
      WORKER_INSTANCE_ID: instance,
      WORKER_SHUTDOWN_TIMEOUT_SECONDS: "5",
      FIXTURE_SLEEP_MS: "100",
      DATABASE_POOL_SIZE: "4",
      ...env
    }
  })

const stop = async (proc: Proc) => {
  proc.signal("SIGTERM")
  expect(await proc.exit(30_000), proc.output()).toMatchObject({ code: 0, signal: null })
}

/** The nominal instants of the slots a process executed. */
const executed = (proc: Proc) =>
  proc.logs().filter((line) => line.msg === BEGINS).map((line) => Date.parse(String(line.current_nominal_at)))

afterAll(killAll)

describe.skipIf(!postgres).concurrent("the wall clock", { timeout: 120_000 }, () => {
  test("stepped forward 1 h: missed slots recorded, the newest runs; back 1 h: nothing runs twice", {
    timeout: 90_000
  }, async ({ database, spawn }) => {
    const db = await database()
    const dir = mkdtempSync(join(tmpdir(), "cron-worker-clock-"))
    const clock = join(dir, "offset")
    try {
      writeFileSync(clock, "0")
      const proc = await worker(spawn, db, "stepper", { FIXTURE_CLOCK_FILE: clock })
      await proc.waitFor(STARTED, undefined, 40_000)
      await proc.waitFor("job completed successfully")
      const before = Math.max(...executed(proc))

      writeFileSync(clock, String(HOUR))
      const gap = await proc.waitFor("job missed slots", undefined, 10_000)
      expect(gap).toMatchObject({ level: "WARN", job: JOB, catch_up: "latest", running: 0 })
      expect(Number(gap.missed)).toBeGreaterThanOrEqual(3595)
      expect(Number(gap.missed)).toBeLessThanOrEqual(3610)
      // The next slot on the stepped clock runs, as scheduled.
      await proc.waitFor(BEGINS, (line) => Date.parse(String(line.current_nominal_at)) > before + HOUR - 10 * SECOND)
      const stepped = Math.max(...executed(proc))

      writeFileSync(clock, "0")
      const lastBefore = Math.max(...executed(proc))
      await sleep(4 * SECOND)
      // An hour behind the slots already run: no new slot for an hour (the one in flight at the step aside).
      expect(Math.max(...executed(proc)), proc.output()).toBeLessThanOrEqual(lastBefore + SECOND)
      await stop(proc)

      const ran = executed(proc)
      expect(new Set(ran).size).toBe(ran.length)
      const rows = await rowsOf(db)
      const missed = rows.filter((row) => row.skip_reason === "missed")
      // The newest 1000 slots jumped over are recorded one by one (the rest counted in the log line), all before
      // the slot that ran after the step, none of them run.
      expect(missed.length).toBe(1000)
      expect(missed.every((row) => row.nominal_at.getTime() < stepped && row.status === "skipped")).toBe(true)
      expect(missed.at(-1)!.nominal_at.getTime()).toBeGreaterThan(stepped - 5 * SECOND)
      expect(rows.filter((row) => row.status === "succeeded").map((row) => row.nominal_at.getTime()))
        .toEqual(ran.sort((a, b) => a - b))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test.for(["at once", "the one ahead later"] as const)(
    "two workers with clocks 10 s apart (+5 s and -5 s), started %s: every slot runs exactly once",
    { timeout: 90_000 },
    async (start, { database, spawn }) => {
      const db = await database()
      // The two run different slots at the same real moment for 10 s (the one behind works through the slots the
      // one ahead left to it): overlap skip would rightly skip those. Allow lets every slot show it ran once.
      const env = { FIXTURE_OVERLAP: "allow" }
      const behind = worker(spawn, db, "behind", { ...env, FIXTURE_CLOCK_OFFSET_MS: "-5000" })
      if (start !== "at once") {
        // The one ahead starts amid slots the other has not reached yet: it must leave them to it, not record
        // them missed.
        await (await behind).waitFor("job completed successfully", undefined, 40_000)
      }
      const ahead = worker(spawn, db, "ahead", { ...env, FIXTURE_CLOCK_OFFSET_MS: "5000" })
      const procs = await Promise.all([behind, ahead])
      await Promise.all(procs.map((proc) => proc.waitFor(STARTED, undefined, 40_000)))
      const from = Date.now() - 5 * SECOND
      await sleep(12 * SECOND)
      // Up to now, every slot was claimable by both (the one ahead claims 5 s early, the other 5 s late).
      const to = Date.now()
      for (const proc of procs) await stop(proc)

      const rows = (await rowsOf(db)).filter((row) => row.nominal_at.getTime() > from && row.nominal_at.getTime() <= to)
      const first = Math.floor(from / SECOND) + 1
      const expected = Array.from({ length: Math.floor(to / SECOND) - first + 1 }, (_, i) => (first + i) * SECOND)
      expect(expected.length).toBeGreaterThanOrEqual(12)
      expect(rows.map((row) => row.nominal_at.getTime()), JSON.stringify(rows)).toEqual(expected)
      expect(rows.filter((row) => row.status !== "succeeded"), JSON.stringify(rows)).toEqual([])
      const ran = procs.flatMap(executed).filter((t) => t > from && t <= to).sort((a, b) => a - b)
      expect(ran).toEqual(expected)
      // Each says how far its clock is from the database's.
      for (const [proc, offset] of [[procs[0], -5000], [procs[1], 5000]] as const) {
        const warning = proc.logs().find((line) => line.msg === "this host's clock differs from the database's")
        expect(warning, proc.output()).toMatchObject({ level: "WARN" })
        expect(Math.abs(Number(warning!.offset_ms) - offset)).toBeLessThan(500)
      }
    }
  )
})
