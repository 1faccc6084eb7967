// Measure E, cron-worker only: start-up and shutdown of `node dist/main.js`.
// Start: process spawn to the log line `worker started successfully`, on the
// embedded database (first start on a fresh directory, which creates and
// migrates it, then a second start) and on the real PostgreSQL (a fresh
// database, then a second start). Shutdown: SIGTERM to exit, idle, and with a
// job running (bench/fixtures/worker.mjs, one job sleeping 2 s, SIGTERM 0.5 s
// into it: the worker waits for the run, so the time after the run's end is
// what shutdown itself costs).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { arg, report, sleep } from "./lib.mjs"
import { FIXTURE, freshDatabase, MAIN, start } from "./procs.mjs"

const rounds = Number(arg("rounds", "3"))
const STARTED = "worker started successfully"

/** Starts the worker, waits until it has started, stops it: [start ms, SIGTERM-to-exit ms]. */
const startStop = async (env, cwd) => {
  const worker = start(MAIN, [], env, { cwd })
  const started = await worker.waitFor(STARTED)
  await sleep(300)
  const signalled = Date.now()
  worker.child.kill("SIGTERM")
  const exit = await worker.exited
  if (exit.code !== 0) throw new Error(`worker exited ${exit.code}: ${worker.stderr()}`)
  return [started - worker.startedAt, exit.at - signalled]
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const rows = []
const measure = async (name, first, again) => {
  const firstResult = await first()
  const later = []
  for (let i = 0; i < rounds; i++) later.push(await again())
  rows.push({
    name,
    firstStartMs: firstResult[0],
    startMs: median(later.map((r) => r[0])),
    idleShutdownMs: median([firstResult[1], ...later.map((r) => r[1])])
  })
}

// Embedded: a fresh data directory, in a fresh working directory.
const dir = mkdtempSync(join(tmpdir(), "cw-bench-embedded-"))
try {
  const env = { PGLITE_DATA_DIR: join(dir, "pglite"), HTTP_PORT: "" }
  await measure("embedded PGlite", () => startStop(env, dir), () => startStop(env, dir))
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const db = await freshDatabase("cw_bench_life")
try {
  const env = { DATABASE_URL: db.url }
  await measure("PostgreSQL", () => startStop(env), () => startStop(env))

  // A job running at SIGTERM.
  const busy = []
  for (let i = 0; i < rounds; i++) {
    const worker = start(FIXTURE, [], { DATABASE_URL: db.url, BENCH_SLEEP_MS: "2000", BENCH_SCHEDULE: "*/5 * * * * *" })
    const begun = await worker.waitFor("job started", 30_000)
    await sleep(500)
    const signalled = Date.now()
    worker.child.kill("SIGTERM")
    const exit = await worker.exited
    const ended = await worker.waitFor("job completed successfully", 1000)
    busy.push({ total: exit.at - signalled, afterRun: exit.at - ended, run: ended - begun })
  }
  rows.push({
    name: "PostgreSQL, a job running (2 s, SIGTERM 0.5 s in)",
    busyShutdownMs: median(busy.map((b) => b.total)),
    afterRunMs: median(busy.map((b) => b.afterRun))
  })
} finally {
  await db.drop()
}
report({ measure: "E", rounds, rows })
process.exit(0)
