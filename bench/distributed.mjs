// Measure D, cron-worker only (the peers have no shared run store): three
// worker processes (bench/fixtures/worker.mjs) on one fresh PostgreSQL
// database, each with the same `--jobs` every-second jobs. After a warm-up,
// `--slots` consecutive seconds are judged from the runs table and from what
// the processes recorded: slots run (succeeded) per second, missed slots,
// slots executed more than once, fire lag (job start minus nominal instant),
// and PostgreSQL round trips (queries sent by the three processes) per slot.
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { arg, quantile, report, sleepUntil } from "./lib.mjs"
import { FIXTURE, freshDatabase, MAIN, start } from "./procs.mjs"

const jobs = Number(arg("jobs", "1000"))
const slots = Number(arg("slots", "20"))
const WORKERS = 3
// `--cpu-prof DIR`: the first worker runs under `node --cpu-prof`, its profile written to DIR on exit.
const cpuProf = arg("cpu-prof", "")
// Node's young generation, as `npm start` and the Docker image run the worker (`--semi-space 0`: node's default).
const semiSpace = Number(arg("semi-space", "64"))

/** The workers' log lines (WARN and above) by message. */
const lines = new Map()
const errors = new Set()
const db = await freshDatabase("cw_bench_dist")
const dir = mkdtempSync(join(tmpdir(), "cw-bench-"))
try {
  const migrate = start(MAIN, ["migrate"], { DATABASE_URL: db.url })
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed: ${migrate.stderr()}`)
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    start(FIXTURE, [], {
      DATABASE_URL: db.url,
      BENCH_JOBS: String(jobs),
      BENCH_OUT: join(dir, `worker-${i}.json`),
      WORKER_INSTANCE_ID: `bench-${i}`,
      WORKER_MAX_CONCURRENT_JOBS: "0",
      LOG_LEVEL: "warn"
    }, {
      node: [
        ...(semiSpace > 0 ? [`--max-semi-space-size=${semiSpace}`] : []),
        ...(i === 0 && cpuProf !== "" ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : [])
      ],
      onLine: (line) => {
        lines.set(line.msg, (lines.get(line.msg) ?? 0) + 1)
        if (line.error !== undefined && errors.size < 5) errors.add(`${line.msg}: ${String(line.error).slice(0, 300)}`)
      }
    }))
  // Started: each has claimed (or lost) a slot, which only happens once every job is registered.
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  for (;;) {
    const { rows } = await client.query("SELECT count(DISTINCT instance)::int AS n FROM cron_worker.runs")
    if (rows[0].n >= 1 && Date.now() - workers[0].startedAt > 3000) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const first = Math.ceil(Date.now() / 1000) * 1000 + 3000
  const last = first + (slots - 1) * 1000
  await sleepUntil(last + 3000)
  for (const worker of workers) worker.child.kill("SIGTERM")
  const exits = await Promise.all(workers.map((worker) => worker.exited))

  const { rows } = await client.query(
    `SELECT status || coalesce(' (' || skip_reason || ')', '') AS status, count(*)::int AS n FROM cron_worker.runs
     WHERE nominal_at BETWEEN $1 AND $2 AND job LIKE 'job-%' GROUP BY 1`,
    [new Date(first), new Date(last)]
  )
  await client.end()
  const byStatus = Object.fromEntries(rows.map((row) => [row.status, row.n]))
  const recorded = Object.values(byStatus).reduce((a, b) => a + b, 0)

  const executions = new Map()
  const lags = []
  let queriesInWindow = 0
  /** Each worker's CPU time (ms) per judged second. */
  const cpuPerSecond = []
  for (let i = 0; i < WORKERS; i++) {
    const { runs, samples } = JSON.parse(readFileSync(join(dir, `worker-${i}.json`), "utf8"))
    for (let k = 0; k < runs.length; k += 3) {
      const nominal = runs[k + 1]
      if (nominal < first || nominal > last) continue
      const key = `${runs[k]}@${nominal}`
      executions.set(key, (executions.get(key) ?? 0) + 1)
      lags.push(runs[k + 2])
    }
    // Queries sent from half a second before the first judged slot to half a second before the one after the last.
    const at = (t, k = 1) => samples.reduce((found, sample) => (sample[0] <= t ? sample[k] : found), 0)
    queriesInWindow += at(last + 500) - at(first - 500)
    cpuPerSecond.push(Math.round((at(last + 500, 2) - at(first - 500, 2)) / slots))
  }
  let duplicates = 0
  for (const n of executions.values()) duplicates += n - 1
  lags.sort((a, b) => a - b)
  const expected = jobs * slots
  report({
    measure: "D",
    workers: WORKERS,
    semiSpace,
    jobs,
    slots,
    expected,
    succeeded: byStatus.succeeded ?? 0,
    statuses: byStatus,
    missed: expected - recorded + (recorded - (byStatus.succeeded ?? 0)),
    duplicates,
    slotsPerSecond: (byStatus.succeeded ?? 0) / slots,
    roundTripsPerSlot: queriesInWindow / expected,
    p50: quantile(lags, 0.5),
    p99: quantile(lags, 0.99),
    max: lags.at(-1) ?? NaN,
    cpuMsPerSecond: cpuPerSecond,
    exitCodes: exits.map((exit) => exit.code),
    logLines: Object.fromEntries(lines),
    errors: [...errors]
  })
} finally {
  await db.drop()
}
