/**
 * End to end: several worker processes (`test/fixtures/sleepy-worker.mjs`,
 * job `sleepy-1`) on one PostgreSQL database behave as one scheduler. Three
 * workers with one killed by SIGKILL half-way: every slot runs once, the
 * killed worker's run is marked abandoned. Overlap `skip` across two
 * processes. Catch-up after every worker was down across slots (`latest` and
 * `skip`). Pause and resume from the CLI while two workers run. `history
 * --json` against the table.
 *
 * The judge is the table `cron_worker.runs`, read directly, and the
 * processes' log lines ("fixture work begins" is one execution of a slot).
 * Each test has a database of its own (the `database()` fixture) shared by
 * its processes, so the tests run concurrently. Needs `dist/` (`npm run
 * build`) and the real PostgreSQL: skipped without it, failed under
 * REQUIRE_SERVICES=1.
 */
import { afterAll, describe, expect } from "@effect/vitest"
import { queryDatabase, servicesAvailable, type TestDatabase } from "../services.js"
import {
  expectToolStreams,
  firstToLog,
  fixture,
  killAll,
  type LogLine,
  nonEmptyLines,
  type Proc,
  runNode,
  sleep,
  sleepUntil,
  type Spawn,
  test
} from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

const SLEEPY = fixture("sleepy-worker.mjs")
const JOB = "sleepy-1"
const SECOND = 1000
/** Each test waits on real time for 20–45 s, and many processes share two cores. */
const TIMEOUT = 120_000

const STARTED = "worker started successfully"
const WORK_BEGINS = "fixture work begins"
const COMPLETED = "job completed successfully"
const ABANDONED = "run abandoned: its worker stopped"
const MISSED_WHILE_DOWN = "job missed slots while no worker ran"
const SKIPPED_REMOTE = "job skipped (previous run still running on another instance)"
const SKIPPED_PAUSED = "job skipped (paused)"

/** One row of `cron_worker.runs`. */
interface RunRow extends Record<string, unknown> {
  readonly run_id: string
  readonly job: string
  readonly nominal_at: Date
  readonly reason: string
  readonly status: string
  readonly skip_reason: string | null
  readonly attempt: number
  readonly instance: string
  readonly started_at: Date
  readonly finished_at: Date | null
  readonly duration_ms: string | null
  readonly error: string | null
  readonly schedule_version: number | null
}

/** The job's rows, oldest slot first. */
const runsOf = (db: TestDatabase, job = JOB): Promise<Array<RunRow>> =>
  queryDatabase<RunRow>(db.url, "SELECT * FROM cron_worker.runs WHERE job = $1 ORDER BY nominal_at, started_at", [job])

const at = (row: RunRow) => row.nominal_at.getTime()
const iso = (millis: number) => new Date(millis).toISOString()

/** A sleepy worker on `db`, named `instance` in the history, with a short lease and a small pool. */
const worker = (
  spawn: Spawn,
  db: TestDatabase,
  instance: string,
  env: Readonly<Record<string, string>> = {}
): Promise<Proc> =>
  spawn(SLEEPY, [], {
    database: db,
    env: {
      SERVICE_NAME_WORKER: "e2e-distributed",
      WORKER_INSTANCE_ID: instance,
      WORKER_LEASE_SECONDS: "3",
      WORKER_SHUTDOWN_TIMEOUT_SECONDS: "10",
      DATABASE_POOL_SIZE: "4",
      // Every worker claims every slot of the job (overlap across processes, pause on each), but where a test says.
      WORKER_CLAIM_PARTITION: "false",
      ...env
    }
  })

/** The sleepy worker's CLI on `db`: `pause`, `resume`, `history`. */
const cli = (db: TestDatabase, ...args: ReadonlyArray<string>) =>
  runNode(SLEEPY, args, { database: db, env: { DATABASE_POOL_SIZE: "2" }, timeoutMs: 30_000 })

/** Waits until every process has started its scheduler. */
const allStarted = (procs: ReadonlyArray<Proc>) =>
  Promise.all(procs.map((proc) => proc.waitFor(STARTED, undefined, 40_000)))

/** SIGTERM to each, then each exits with code 0. */
const stopAll = async (procs: ReadonlyArray<Proc>) => {
  for (const proc of procs) proc.signal("SIGTERM")
  for (const proc of procs) expect(await proc.exit(30_000), proc.output()).toMatchObject({ code: 0, signal: null })
}

/** Polls the job's rows every 100 ms until `done` holds; fails naming `what` after `timeoutMs`. */
const waitForRows = async (
  db: TestDatabase,
  what: string,
  done: (rows: Array<RunRow>) => boolean,
  timeoutMs = 15_000
) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const rows = await runsOf(db)
    if (done(rows)) return rows
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}: ${JSON.stringify(rows.slice(-5))}`)
    }
    await sleep(100)
  }
}

/** The executions of slots in a process's log: one "fixture work begins" line each. */
const executions = (proc: Proc): Array<LogLine> => proc.logs().filter((line) => line.msg === WORK_BEGINS)

const nominalOf = (line: LogLine): number => Date.parse(String(line.current_nominal_at))

/** The `history --json` array (one JSON document) as objects. */
const parseHistory = (stdout: string): Array<Record<string, unknown>> => {
  const lines = nonEmptyLines(stdout)
  if (lines.length !== 1) throw new Error(`not one JSON document on one line:\n${stdout}`)
  const values: unknown = JSON.parse(lines[0] ?? "")
  if (!Array.isArray(values)) throw new Error(`not a JSON array: ${stdout}`)
  return values.map((value: unknown) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error(`not a JSON object: ${JSON.stringify(value)}`)
    }
    return { ...value }
  })
}

const RECORD_KEYS = [
  "runId",
  "job",
  "nominalAt",
  "reason",
  "status",
  "skipReason",
  "attempt",
  "instance",
  "startedAt",
  "finishedAt",
  "durationMs",
  "error",
  "scheduleVersion"
]

/** The record `history --json` should print for a row: every field, `null` where there is no value. */
const recordOf = (row: RunRow): Record<string, unknown> => {
  // A slot that never ran (skipped, or not yet started) has no attempt and no duration to show.
  const ran = row.status !== "skipped" && row.attempt > 0
  return {
    runId: row.run_id,
    job: row.job,
    nominalAt: row.nominal_at.toISOString(),
    reason: row.reason,
    status: row.status,
    skipReason: row.skip_reason,
    attempt: ran ? row.attempt : null,
    instance: row.instance,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationMs: ran && row.duration_ms !== null ? Number(row.duration_ms) : null,
    error: row.error,
    scheduleVersion: row.schedule_version
  }
}

/** `history <job> --json --limit N` printed exactly the newest N rows of the table, newest first. */
const expectHistoryMatches = async (db: TestDatabase, limit: number) => {
  const result = await cli(db, "history", JOB, "--json", "--limit", String(limit))
  expect(result.code, result.output).toBe(0)
  expectToolStreams(result)
  const printed = parseHistory(result.stdout)
  for (const record of printed) {
    expect(Object.keys(record).sort(), JSON.stringify(record)).toEqual([...RECORD_KEYS].sort())
  }
  const rows = await queryDatabase<RunRow>(
    db.url,
    "SELECT * FROM cron_worker.runs WHERE job = $1 ORDER BY started_at DESC, nominal_at DESC LIMIT $2",
    [JOB, limit]
  )
  expect(printed).toEqual(rows.map(recordOf))
  return printed
}

afterAll(killAll)

/**
 * The first of `workers` to begin a run from now on is killed (SIGKILL) while that run is in flight. Returns the
 * line of that run's start, when the signal was sent, the victim and the others.
 */
const killFirstToBegin = async (workers: ReadonlyArray<Proc>) => {
  const killFrom = Date.now()
  const { line: begun, proc: victim } = await firstToLog(
    workers,
    WORK_BEGINS,
    (line) => Date.parse(line.time) >= killFrom
  )
  const killedAt = victim.signal("SIGKILL")
  expect(await victim.exit(), victim.output()).toMatchObject({ signal: "SIGKILL" })
  return { begun, killedAt, victim, survivors: workers.filter((proc) => proc !== victim) }
}

describe.skipIf(!postgres).concurrent("several workers on one PostgreSQL", () => {
  test(
    "three workers, one killed with SIGKILL half-way: every slot of 30 s " +
      "runs exactly once; the killed run is abandoned",
    { timeout: TIMEOUT },
    async ({
      database,
      spawn
    }) => {
      const db = await database()
      // Runs of 1.5 s every second, so that each worker always has one in flight. `allow`: the killed
      // runs must not hold the next slots back while their lease lasts (under `skip` they are skipped
      // until it expires: see Distributed.integration.test.ts).
      // The jobs split between the workers (the default): the killed worker's share goes to the survivors.
      const env = { FIXTURE_SLEEP_MS: "1500", FIXTURE_OVERLAP: "allow", WORKER_CLAIM_PARTITION: "true" }
      const workers = await Promise.all(["w1", "w2", "w3"].map((id) => worker(spawn, db, id, env)))
      const ids = new Map(workers.map((proc, i) => [proc, `w${i + 1}`]))
      await allStarted(workers)
      // The window leaves out start-up and shutdown; it lasts 30 s, the kill 14 s into it.
      const windowStart = Math.ceil(Date.now() / SECOND) * SECOND + 2 * SECOND
      const windowEnd = windowStart + 30 * SECOND
      await sleepUntil(windowStart + 14 * SECOND)
      const { begun, killedAt, survivors, victim } = await killFirstToBegin(workers)
      const victimId = ids.get(victim) ?? ""
      // The runs the victim began and never finished: that one, and maybe the one of the slot before.
      const finished = new Set(victim.logs().filter((line) => line.msg === COMPLETED).map((line) => line.run_id))
      const inFlight = executions(victim).filter((line) => !finished.has(line.run_id))
      expect(inFlight.map((line) => line.run_id)).toContain(begun.run_id)

      await sleepUntil(windowEnd + 1500)
      await stopAll(survivors)

      const rows = await runsOf(db)
      const inWindow = rows.filter((row) => at(row) >= windowStart && at(row) < windowEnd)
      // Every slot of the window, each once.
      expect(inWindow.map(at)).toEqual(Array.from({ length: 30 }, (_, i) => windowStart + i * SECOND))
      // All succeeded, but the killed worker's runs in flight: abandoned. SIGKILL loses the lines below ERROR of the
      // victim's last turn (see README, Logs), so its log and its rows may differ by that turn: a run it claimed then
      // has no "begins" line (one at most, of a slot due by the kill), and a run it finished then has no
      // "completed" line (that run succeeded, by the kill). The rows say which.
      const abandoned = rows.filter((row) => row.status === "abandoned")
      const logged = new Set(inFlight.map((line) => String(line.run_id)))
      const unlogged = abandoned.filter((row) => !logged.has(row.run_id))
      expect(unlogged.length).toBeLessThanOrEqual(1)
      for (const row of unlogged) expect(at(row)).toBeLessThanOrEqual(killedAt)
      const byId = new Map(rows.map((row) => [row.run_id, row]))
      for (const id of logged) {
        const row = byId.get(id)
        if (row?.status === "abandoned") continue
        expect(row, `run ${id}, begun and not seen to end`).toMatchObject({ status: "succeeded", instance: victimId })
        expect(row?.finished_at?.getTime()).toBeLessThanOrEqual(killedAt)
      }
      const abandonedIds = abandoned.map((row) => row.run_id).sort()
      expect(abandonedIds).toContain(begun.run_id)
      expect(inWindow.filter((row) => row.status !== "succeeded").map((row) => row.run_id).sort()).toEqual(
        abandonedIds
      )
      expect(abandoned.find((row) => row.run_id === begun.run_id)?.nominal_at).toEqual(new Date(nominalOf(begun)))
      const reported = survivors.flatMap((proc) => proc.logs().filter((line) => line.msg === ABANDONED))
      const fields = (line: LogLine) => [line.level, line.job, line.run_id, line.nominal_at, line.instance]
      expect(reported.map(fields).sort()).toEqual(
        abandoned.map((row) => ["WARN", JOB, row.run_id, new Date(at(row)).toISOString(), victimId]).sort()
      )
      // Executed once each: no slot ran in two processes (nor twice in one); an unlogged run's slot has no line.
      const ran = workers.flatMap(executions).map(nominalOf).filter((t) => t >= windowStart && t < windowEnd)
      const silent = new Set(unlogged.map(at))
      expect(ran.sort((a, b) => a - b)).toEqual(inWindow.map(at).filter((t) => !silent.has(t)))
      // The survivors ran the slots after the kill: the job's owner is gone, its share theirs.
      const after = survivors.flatMap((proc) => executions(proc).filter((line) => nominalOf(line) > killedAt))
      expect(after.length, survivors.map((proc) => proc.output()).join("\n")).toBeGreaterThan(0)
      // The one ERROR the kill may cause: the built-in alert that an instance was lost.
      const lost = (line: LogLine) => line.msg === "alert firing" && line.rule === "instance_lost"
      for (const proc of workers) {
        expect(proc.logs().filter((line) => line.level === "ERROR" && !lost(line)), proc.output()).toEqual([])
      }

      // The history as the CLI prints it: the abandoned run among the others.
      const printed = await expectHistoryMatches(db, 100)
      expect(
        printed.filter((record) => record.status === "abandoned").map((
          record
        ) => [record.runId, record.instance, record.reason]).sort()
      )
        .toEqual(abandonedIds.map((id) => [id, victimId, "scheduled"]).sort())
    }
  )

  test(
    "three workers with the default 30 s lease, one killed with SIGKILL: its run is abandoned within 5 s, and " +
      "no slot due more than 5 s after the kill is skipped",
    { timeout: TIMEOUT },
    async ({ database, spawn }) => {
      const db = await database()
      // Overlap skip (the default): while the killed run counts as running, the job's slots are skipped.
      const env = { FIXTURE_SLEEP_MS: "400", WORKER_LEASE_SECONDS: "30" }
      const workers = await Promise.all(["k1", "k2", "k3"].map((id) => worker(spawn, db, id, env)))
      await allStarted(workers)
      await sleepUntil(Date.now() + 4 * SECOND)
      const { begun, killedAt, survivors } = await killFirstToBegin(workers)
      await sleepUntil(killedAt + 15 * SECOND)
      await stopAll(survivors)

      const rows = await runsOf(db)
      const killed = rows.find((row) => row.run_id === begun.run_id)
      expect(killed?.status).toBe("abandoned")
      expect(killed?.finished_at?.getTime()).toBeLessThanOrEqual(killedAt + 5000)
      // After the kill + 5 s, until the survivors stopped: every slot ran, none skipped for the dead run.
      const after = rows.filter((row) => at(row) > killedAt + 5000 && at(row) <= killedAt + 14 * SECOND)
      expect(after.length).toBeGreaterThanOrEqual(8)
      expect(after.filter((row) => row.status !== "succeeded").map((row) => [iso(at(row)), row.status])).toEqual([])
    }
  )

  test(
    "overlap skip across two processes: a run longer than the period is never overlapped by the other worker's run",
    { timeout: TIMEOUT },
    async ({
      database,
      spawn
    }) => {
      const db = await database()
      // Runs of 2.5 s. One worker has the even seconds, the other the odd ones: each slot's claim
      // is made by a known worker, so that skips across processes are certain, not left to chance.
      // catch-up skip: a worker starting after the other's first slot must not catch it up.
      const env = { FIXTURE_SLEEP_MS: "2500", FIXTURE_CATCH_UP: "skip" }
      const even = await worker(spawn, db, "even", { ...env, FIXTURE_SCHEDULE: "*/2 * * * * *" })
      const odd = await worker(spawn, db, "odd", { ...env, FIXTURE_SCHEDULE: "1/2 * * * * *" })
      await allStarted([even, odd])
      const from = Date.now() + SECOND
      await sleep(10 * SECOND)
      await stopAll([even, odd])

      const rows = (await runsOf(db)).filter((row) => at(row) > from)
      const succeeded = rows.filter((row) => row.status === "succeeded")
      expect(rows.every((row) => row.status === "succeeded" || row.status === "skipped")).toBe(true)
      // Never two runs at once: the intervals of the runs are disjoint.
      const intervals = succeeded.map((row) =>
        [row.started_at.getTime(), row.finished_at?.getTime() ?? Infinity] as const
      )
      for (const [i, [start, end]] of intervals.entries()) {
        for (const [j, [otherStart, otherEnd]] of intervals.entries()) {
          if (i !== j) expect(start < otherEnd && otherStart < end, JSON.stringify(succeeded)).toBe(false)
        }
      }
      expect(new Set(succeeded.map((row) => row.instance))).toEqual(new Set(["even", "odd"]))
      // The skipped slots fell inside a run of the other worker.
      const overlapped = rows.filter((row) => row.status === "skipped" && row.skip_reason === "overlap")
      const crossed = overlapped.filter((row) =>
        succeeded.some((run) =>
          run.instance !== row.instance && run.started_at <= row.nominal_at &&
          (run.finished_at ?? row.nominal_at) >= row.nominal_at
        )
      )
      expect(new Set(crossed.map((row) => row.instance))).toEqual(new Set(["even", "odd"]))
      for (const proc of [even, odd]) {
        expect(proc.logs().filter((line) => line.msg === SKIPPED_REMOTE).map((line) => line.level), proc.output())
          .toContain("WARN")
      }
      // The same, from the processes' own account: the work of one never overlaps the other's.
      const spans = (proc: Proc) => {
        const logs = proc.logs()
        return executions(proc).map((begin) => {
          const end = logs.find((line) => line.msg === "fixture work finished" && line.run_id === begin.run_id)
          return [Date.parse(begin.time), end === undefined ? Infinity : Date.parse(end.time)] as const
        })
      }
      for (const [start, end] of spans(even)) {
        for (const [otherStart, otherEnd] of spans(odd)) expect(start < otherEnd && otherStart < end).toBe(false)
      }
    }
  )

  test.for(
    [
      ["latest", 1],
      ["skip", 0]
    ] as const
  )("catch-up %s: every worker down across two slots or more, two restarted at once: %i catch-up run", {
    timeout: TIMEOUT
  }, async ([policy, expected], {
    database,
    spawn
  }) => {
    const db = await database()
    const PERIOD = 5 * SECOND
    const env = { FIXTURE_SCHEDULE: "*/5 * * * * *", FIXTURE_SLEEP_MS: "200", FIXTURE_CATCH_UP: policy }
    const first = [await worker(spawn, db, "a", env), await worker(spawn, db, "b", env)]
    await allStarted(first)
    await firstToLog(first, COMPLETED, undefined, 15_000)
    await stopAll(first)
    // The newest slot any of them claimed, read once all have exited: down since (however long the
    // shutdown took), for two slots at least. Restarted just after the second, and after the last
    // second's margin (a worker leaves a slot younger than a second to its loop, as late, in case a
    // running instance is claiming it), so that both find the second slot missed.
    const last = Math.max(...(await runsOf(db)).map(at))
    // Spawned now, their schedulers held (FIXTURE_HOLD) until both are ready, then released together at
    // that instant, so that how long start-up takes (seconds, with two cores and many processes) decides
    // nothing: started apart, they could find different newest missed slots (one each side of a slot's
    // margin), and a catch-up run begun just before a slot would make that slot skip (overlap). If
    // start-up took past the instant, the same instant a period later: down a slot longer.
    const hold = { ...env, FIXTURE_HOLD: "1" }
    const again = await Promise.all([worker(spawn, db, "a2", hold), worker(spawn, db, "b2", hold)])
    await Promise.all(again.map((proc) => proc.waitFor("fixture service held", undefined, 40_000)))
    let restart = last + 2 * PERIOD + 1300
    while (restart < Date.now() + 100) restart += PERIOD
    await sleepUntil(restart)
    for (const proc of again) proc.signal("SIGUSR2")
    await allStarted(again)
    const warnings = again.flatMap((proc) => proc.logs().filter((line) => line.msg === MISSED_WHILE_DOWN))
    expect(warnings.length, again.map((proc) => proc.output()).join("\n")).toBeGreaterThanOrEqual(1)
    const missed = Math.floor((restart - last) / PERIOD)
    // The first of the two to read the history finds every slot missed. The other may read it after the first
    // recorded those already past MISSED_RECORD_DELAY (20 s; when start-up pushed the restart a period or more
    // later), and count from there.
    const old = Array.from({ length: missed }, (_, i) => last + (i + 1) * PERIOD).filter((t) => t <= restart - 20_000)
    expect(Math.max(...warnings.map((line) => Number(line.missed)))).toBe(missed)
    for (const line of warnings) {
      expect(line).toMatchObject({ level: "WARN", job: JOB, catch_up: policy, running: expected })
      expect(Number(line.missed)).toBeGreaterThanOrEqual(missed - old.length)
    }
    const newest = last + missed * PERIOD
    // Then the next slot runs as usual.
    await firstToLog(again, COMPLETED, (line) => line.nominal_at === iso(newest + PERIOD), 15_000)
    await stopAll(again)

    const rows = (await runsOf(db)).filter((row) => at(row) > last && at(row) <= newest + PERIOD)
    const skipped = (t: number) => [iso(t), "skipped", "scheduled", "missed"]
    expect(rows.map((row) => [iso(at(row)), row.status, row.reason, row.skip_reason])).toEqual([
      ...Array.from({ length: missed - 1 }, (_, i) => skipped(last + (i + 1) * PERIOD)),
      policy === "latest" ? [iso(newest), "succeeded", "catch-up", null] : skipped(newest),
      [iso(newest + PERIOD), "succeeded", "scheduled", null]
    ])
    expect((await runsOf(db)).filter((row) => row.reason === "catch-up")).toHaveLength(expected)
    // Executed: the catch-up run once, by one of the two.
    const caughtUp = again.flatMap(executions).filter((line) => line.current_reason === "catch-up")
    expect(caughtUp.map(nominalOf)).toEqual(policy === "latest" ? [newest] : [])
  })

  test("pause from the CLI while two workers run: no run until resume, every slot recorded skipped (paused) by both", {
    timeout: TIMEOUT
  }, async ({
    database,
    spawn
  }) => {
    const db = await database()
    const env = { FIXTURE_SLEEP_MS: "200" }
    // One worker claims the even seconds, the other the odd ones: both must obey the pause.
    const even = await worker(spawn, db, "even", { ...env, FIXTURE_SCHEDULE: "*/2 * * * * *" })
    const odd = await worker(spawn, db, "odd", { ...env, FIXTURE_SCHEDULE: "1/2 * * * * *" })
    const workers = [even, odd]
    await allStarted(workers)
    await Promise.all(workers.map((proc) => proc.waitFor(COMPLETED, undefined, 15_000)))

    const unknown = await cli(db, "pause", "no-such-job")
    expect(unknown.code, unknown.output).toBe(2)
    expect(unknown.stderr).toContain("no job named \"no-such-job\"")

    const paused = await cli(db, "pause", JOB, "--reason", "db maintenance")
    const pausedAt = Date.now()
    expect(paused.code, paused.output).toBe(0)
    expectToolStreams(paused)
    expect(nonEmptyLines(paused.stdout)).toEqual([`job "${JOB}" paused: db maintenance`])
    await sleep(4500)
    const resumeFrom = Date.now()
    const resumed = await cli(db, "resume", JOB)
    const resumedAt = Date.now()
    expect(resumed.code, resumed.output).toBe(0)
    expect(nonEmptyLines(resumed.stdout)).toEqual([`job "${JOB}" resumed`])
    const twice = await cli(db, "resume", JOB)
    expect(nonEmptyLines(twice.stdout), twice.output).toEqual([`job "${JOB}" was not paused`])
    // Runs again, on both.
    await Promise.all(
      workers.map((proc) => proc.waitFor(COMPLETED, (line) => Date.parse(String(line.nominal_at)) > resumedAt, 15_000))
    )
    // The slots after the resume are judged up to one whose row has ended before the workers are stopped: a
    // slot whose claim meets the shutdown is rightly recorded skipped (shutdown), whatever the pause did.
    const settledUpTo = Math.floor(Date.now() / SECOND) * SECOND
    await waitForRows(db, `every slot after the resume up to ${iso(settledUpTo)} has ended`, (rows) => {
      const ended = new Set(rows.filter((row) => row.status !== "running").map(at))
      for (let t = Math.floor(resumedAt / SECOND) * SECOND + SECOND; t <= settledUpTo; t += SECOND) {
        if (!ended.has(t)) return false
      }
      return true
    })
    await stopAll(workers)

    const rows = await runsOf(db)
    const whilePaused = rows.filter((row) => at(row) > pausedAt && at(row) < resumeFrom)
    expect(whilePaused.length).toBeGreaterThanOrEqual(3)
    expect(whilePaused.map((row) => [row.status, row.skip_reason])).toEqual(
      whilePaused.map(() => ["skipped", "paused"])
    )
    expect(new Set(whilePaused.map((row) => row.instance))).toEqual(new Set(["even", "odd"]))
    for (const proc of workers) {
      expect(
        executions(proc).filter((line) => nominalOf(line) > pausedAt && nominalOf(line) < resumeFrom),
        proc.output()
      ).toEqual([])
      expect(
        proc.logs().filter((line) => line.msg === SKIPPED_PAUSED).map((
          line
        ) => [line.level, line.job, line.pause_reason]),
        proc.output()
      ).toContainEqual(["INFO", JOB, undefined])
    }
    const afterResume = rows.filter((row) => at(row) > resumedAt && at(row) <= settledUpTo)
    expect(afterResume.length).toBeGreaterThanOrEqual(2)
    expect(afterResume.map((row) => row.status)).toEqual(afterResume.map(() => "succeeded"))

    // The history, as JSON and as a table.
    const printed = await expectHistoryMatches(db, 50)
    expect(printed.filter((record) => record.skipReason === "paused").length).toBeGreaterThanOrEqual(3)
    const table = await cli(db, "history", JOB, "--limit", "3")
    expect(table.code, table.output).toBe(0)
    const [header, ...lines] = nonEmptyLines(table.stdout)
    expect(header?.split(/\s+/)).toEqual([
      "NOMINAL",
      "JOB",
      "STATUS",
      "REASON",
      "ATTEMPT",
      "DURATION",
      "INSTANCE",
      "DETAIL"
    ])
    expect(lines).toHaveLength(3)
  })
})
