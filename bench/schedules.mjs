// Measure I (issue 12, point 10), cron-worker only: schedules created at run time
// at scale. A fresh PostgreSQL database is migrated and filled in one statement with
// `--schedules` schedules of one kind (`--every-minute` of them on `* * * * *`, the
// rest daily at minutes spread over the day), then three worker processes
// (bench/fixtures/schedules-worker.mjs, admin API on) load them all and run them for
// `--seconds` seconds, during which:
// - heap: each instance's used heap after a full GC, minus that of the same fixture
//   with no schedule (run first, on the same database), per schedule;
// - propagation: `--changes` changes `PUT /api/schedules/{id}` on one instance in turn
//   (daily schedules whose time is far from the window), each timed from the request
//   to the INFO line `schedule changed: next slot from now` of that version on both
//   other instances (the time the line carries);
// - API: `GET /api/schedules?limit=100` `--pages` pages deep by `after`, and
//   `GET /api/schedules/{id}` for `--details` random ids, over HTTP;
// - slots: from the runs table and what each process ran, every slot strictly inside
//   the window of every every-minute schedule (and of the daily ones whose time falls
//   in it) run once and succeeded: missed and duplicates; any other run is unexpected.
import { readFileSync } from "node:fs"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, URLSearchParams } from "node:url"
import pg from "pg"
import { arg, quantile, report, sleep } from "./lib.mjs"
import { freshDatabase, MAIN, start } from "./procs.mjs"

const FIXTURE = fileURLToPath(new URL("./fixtures/schedules-worker.mjs", import.meta.url))
const total = Number(arg("schedules", "100000"))
const everyMinute = Number(arg("every-minute", "1000"))
const seconds = Number(arg("seconds", "300"))
const changes = Number(arg("changes", "100"))
const pages = Number(arg("pages", "100"))
const details = Number(arg("details", "500"))
const INSTANCES = 3
const TOKEN = "bench-admin-token-0123456789"
const KIND = "bench_tick"
/** One schedule in `stride` runs every minute: g % stride === 0. */
const stride = Math.floor(total / everyMinute)
const id = (g) => `s${String(g).padStart(6, "0")}`
/** The daily time of schedule g (not every-minute): minute g % 60, hour ⌊g / 60⌋ % 24, UTC. */
const dailyOf = (g) => ({ minute: g % 60, hour: Math.floor(g / 60) % 24 })
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? NaN }
}
const progress = (text) => process.stderr.write(`[I] ${new Date().toISOString()} ${text}\n`)

const db = await freshDatabase("cw_bench_sched")
const dir = mkdtempSync(join(tmpdir(), "cw-bench-sched-"))
const basePort = 20000 + Math.floor(Math.random() * 20000)
const workers = []
const client = new pg.Client({ connectionString: db.url })
client.on("error", () => {})
try {
  const migrate = start(MAIN, ["migrate"], { DATABASE_URL: db.url })
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed: ${migrate.stderr()}`)

  /** Changes applied, `${id}@${version}` → per instance, the time its line carries. */
  const applied = new Map()
  const loaded = []
  const spawnWorker = (i, port) => {
    const heapFile = join(dir, `heap-${i}.json`)
    const worker = start(FIXTURE, [], {
      DATABASE_URL: db.url,
      HTTP_PORT: String(port),
      ADMIN_TOKEN: TOKEN,
      WORKER_INSTANCE_ID: `bench-sched-${i}`,
      WORKER_TIMEZONE: "UTC",
      // As in measure D: no limit of runs in flight (the default 10 skips most of 1,000 slots of one second).
      WORKER_MAX_CONCURRENT_JOBS: "0",
      LOG_LEVEL: "info",
      BENCH_OUT: join(dir, `runs-${i}.json`),
      BENCH_HEAP_OUT: heapFile
    }, {
      node: ["--expose-gc"],
      onLine: (line) => {
        if (line.msg === "schedules loaded") loaded[i] = line.schedules
        else if (line.msg === "schedule changed: next slot from now") {
          const key = `${line.schedule}@${line.version}`
          const seen = applied.get(key) ?? new Map()
          seen.set(i, Date.parse(line.time))
          applied.set(key, seen)
        }
      }
    })
    return { ...worker, i, port, heapFile }
  }
  /** Used heap after a full GC in the fixture (SIGUSR2 → a file). */
  const heapOf = async (worker) => {
    let before = 0
    try {
      before = JSON.parse(readFileSync(worker.heapFile, "utf8")).sequence
    } catch { /* none yet */ }
    worker.child.kill("SIGUSR2")
    for (let k = 0; k < 600; k++) {
      await sleep(100)
      try {
        const read = JSON.parse(readFileSync(worker.heapFile, "utf8"))
        if (read.sequence > before) return read
      } catch { /* not written yet, or half */ }
    }
    throw new Error(`instance ${worker.i} wrote no heap`)
  }
  const started = async (worker) => {
    await worker.waitFor("worker started successfully", 900_000)
    await worker.waitFor("schedules loaded", 900_000)
  }

  // The same fixture with no schedule: the heap it needs before any.
  progress("baseline: the fixture with no schedule")
  const empty = spawnWorker("empty", basePort + 10)
  await started(empty)
  await sleep(3000)
  await heapOf(empty)
  await sleep(2000)
  const baseline = await heapOf(empty)
  empty.child.kill("SIGTERM")
  await empty.exited

  progress(`inserting ${total} schedules`)
  await client.connect()
  const filling = Date.now()
  await client.query(
    `INSERT INTO cron_worker.schedules (id, key, kind, definition, version, remaining_runs, created_at, updated_at)
     SELECT 's' || lpad(g::text, 6, '0'), NULL, $3,
       jsonb_build_object('kind', $3::text,
         'expression', CASE WHEN g % $2 = 0 THEN '* * * * *' ELSE (g % 60) || ' ' || ((g / 60) % 24) || ' * * *' END,
         'payload', jsonb_build_object('n', g)),
       1, NULL, now(), now()
     FROM generate_series(1, $1::int) AS g`,
    [total, stride, KIND]
  )
  await client.query("ANALYZE cron_worker.schedules")
  const fillMs = Date.now() - filling

  progress("starting 3 instances")
  for (let i = 0; i < INSTANCES; i++) workers.push(spawnWorker(i, basePort + i))
  const loadMs = await Promise.all(workers.map(async (worker) => {
    await started(worker)
    return worker.waitFor("schedules loaded").then((at) => at - worker.startedAt)
  }))
  if (loaded.some((n) => n !== total)) throw new Error(`schedules loaded: ${loaded.join(", ")}, not ${total} each`)
  progress(`loaded in ${loadMs.join(", ")} ms; heap`)
  // Before the window: a full GC of a few hundred MiB stops an instance for seconds on a busy machine, long enough
  // for the others to find it silent (3 s) and abandon its runs.
  const heaps = []
  for (const worker of workers) heaps.push(await heapOf(worker))
  const windowStart = Date.now()

  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }
  const call = async (worker, method, path, body) => {
    const t0 = performance.now()
    const response = await fetch(`http://127.0.0.1:${worker.port}/api${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const json = await response.json()
    const ms = performance.now() - t0
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
    return { ms, json }
  }

  // Daily schedules to change: those at an hour 12 hours from now, far from the window's slots.
  const farHour = (new Date(windowStart).getUTCHours() + 12) % 24
  const far = []
  for (let g = 1; g <= total && far.length < changes; g++) {
    if (g % stride !== 0 && dailyOf(g).hour === farHour) far.push(g)
  }
  progress(`propagation: ${far.length} changes`)
  const propagation = []
  const putMs = []
  const late = []
  const slow = []
  const spacing = Math.min(2000, Math.max(300, (seconds * 1000 * 0.5) / Math.max(1, far.length)))
  for (let k = 0; k < far.length; k++) {
    const g = far[k]
    const { hour, minute } = dailyOf(g)
    const writer = workers[k % INSTANCES]
    const t0 = Date.now()
    const { json, ms } = await call(writer, "PUT", `/schedules/${id(g)}`, {
      kind: KIND,
      expression: `${minute} ${hour} * * *`,
      payload: { n: g + (k + 1) * 1_000_000 }
    })
    putMs.push(ms)
    const second = new Date(t0).getUTCSeconds()
    const key = `${id(g)}@${json.version}`
    const others = workers.filter((worker) => worker !== writer)
    let waited = 0
    while (others.some((worker) => !applied.get(key)?.has(worker.i)) && waited < 10_000) {
      await sleep(10)
      waited += 10
    }
    const seen = applied.get(key)
    if (others.some((worker) => !seen?.has(worker.i))) late.push(key)
    else {
      const ms = Math.max(...others.map((worker) => seen.get(worker.i))) - t0
      propagation.push(ms)
      // The slow ones, with the second of the minute they were made in (the slots fire at second 0).
      if (ms > 1000) slow.push({ ms, putMs: Math.round(putMs.at(-1)), second })
    }
    await sleep(spacing)
  }

  progress("API latency")
  const list = []
  const detail = []
  // Warm-up: the first requests of each instance.
  for (const worker of workers) {
    await call(worker, "GET", "/schedules?limit=100")
    await call(worker, "GET", `/schedules/${id(1)}`)
  }
  {
    let after
    for (let p = 0; p < pages; p++) {
      const worker = workers[p % INSTANCES]
      const query = new URLSearchParams({ limit: "100", ...(after === undefined ? {} : { after }) })
      const { json, ms } = await call(worker, "GET", `/schedules?${query}`)
      if (json.schedules.length !== 100) throw new Error(`page ${p}: ${json.schedules.length} schedules`)
      list.push(ms)
      after = json.next
      if (after === undefined) break
    }
  }
  for (let k = 0; k < details; k++) {
    const g = 1 + Math.floor(Math.random() * total)
    const { json, ms } = await call(workers[k % INSTANCES], "GET", `/schedules/${id(g)}`)
    if (json.id !== id(g)) throw new Error(`detail of ${id(g)}: ${json.id}`)
    detail.push(ms)
  }

  const windowEnd = Math.max(Date.now(), windowStart + seconds * 1000)
  progress(`window until ${new Date(windowEnd).toISOString()}`)
  await sleep(windowEnd - Date.now())
  // The runs of the window's last slots end and are recorded.
  await sleep(15_000)
  const heapsAfter = []
  for (const worker of workers) heapsAfter.push(await heapOf(worker))
  for (const worker of workers) worker.child.kill("SIGTERM")
  const exits = await Promise.all(workers.map((worker) => worker.exited))

  // Slots strictly inside the window: every minute's second 0.
  const minutes = []
  for (let m = Math.floor(windowStart / 60_000) * 60_000 + 60_000; m < windowEnd; m += 60_000) {
    if (m > windowStart) minutes.push(m)
  }
  const expected = new Map()
  for (const m of minutes) {
    const at = new Date(m)
    for (let g = stride; g <= total; g += stride) expected.set(`schedule:${id(g)}@${m}`, "every minute")
    // Daily ones whose time is that minute.
    for (let g = 1; g <= total; g++) {
      if (g % stride === 0) continue
      const { hour, minute } = dailyOf(g)
      if (hour === at.getUTCHours() && minute === at.getUTCMinutes()) expected.set(`schedule:${id(g)}@${m}`, "daily")
    }
  }
  const { rows } = await client.query(
    `SELECT job, (extract(epoch FROM nominal_at) * 1000)::float8 AS at, status,
       coalesce(skip_reason, '') AS skip_reason, count(*)::int AS n
     FROM cron_worker.runs WHERE nominal_at > $1 AND nominal_at < $2 AND job LIKE 'schedule:%'
     GROUP BY 1, 2, 3, 4`,
    [new Date(windowStart), new Date(windowEnd)]
  )
  const recorded = new Map()
  const statuses = {}
  const byMinute = {}
  for (const row of rows) {
    const key = `${row.job}@${Math.round(row.at)}`
    const entry = recorded.get(key) ?? { rows: 0, succeeded: 0 }
    entry.rows += row.n
    if (row.status === "succeeded") entry.succeeded += row.n
    recorded.set(key, entry)
    const status = row.status + (row.skip_reason === "" ? "" : ` (${row.skip_reason})`)
    statuses[status] = (statuses[status] ?? 0) + row.n
    const minute = new Date(Math.round(row.at)).toISOString().slice(11, 16)
    byMinute[minute] ??= {}
    byMinute[minute][status] = (byMinute[minute][status] ?? 0) + row.n
  }
  const executions = new Map()
  const lags = []
  const lagByMinute = {}
  for (let i = 0; i < INSTANCES; i++) {
    const { runs } = JSON.parse(readFileSync(join(dir, `runs-${i}.json`), "utf8"))
    for (let k = 0; k < runs.length; k += 3) {
      const key = `${runs[k]}@${runs[k + 1]}`
      if (runs[k + 1] <= windowStart || runs[k + 1] >= windowEnd) continue
      executions.set(key, (executions.get(key) ?? 0) + 1)
      lags.push(runs[k + 2])
      const minute = new Date(runs[k + 1]).toISOString().slice(11, 16)
      lagByMinute[minute] = Math.max(lagByMinute[minute] ?? 0, runs[k + 2])
    }
  }
  const judge = (group) => {
    let slots = 0, missed = 0, duplicates = 0, succeeded = 0
    for (const [key, kind] of expected) {
      if (kind !== group) continue
      slots++
      const entry = recorded.get(key)
      if (entry === undefined || entry.succeeded === 0) missed++
      else succeeded++
      duplicates += Math.max(0, (entry?.rows ?? 0) - 1, (executions.get(key) ?? 0) - 1)
    }
    return { slots, succeeded, missed, duplicates }
  }
  let unexpected = 0
  for (const [key, entry] of recorded) if (!expected.has(key)) unexpected += entry.rows
  for (const [key, n] of executions) if (!expected.has(key) && !recorded.has(key)) unexpected += n

  const perSchedule = heaps.map((heap) => (heap.heapUsed - baseline.heapUsed) / total)
  report({
    measure: "I",
    schedules: total,
    everyMinute: total / stride,
    instances: INSTANCES,
    windowSeconds: (windowEnd - windowStart) / 1000,
    minutesJudged: minutes.length,
    fillMs,
    loadMs,
    heap: {
      baselineBytes: baseline.heapUsed,
      instancesBytes: heaps.map((heap) => heap.heapUsed),
      perScheduleBytes: perSchedule,
      worstPerScheduleBytes: Math.max(...perSchedule),
      afterWindowBytes: heapsAfter.map((heap) => heap.heapUsed),
      afterWindowPerScheduleBytes: heapsAfter.map((heap) => (heap.heapUsed - baseline.heapUsed) / total),
      rssMiB: heaps.map((heap) => heap.rss / 2 ** 20)
    },
    propagation: { changes: far.length, ...summary(propagation), late: late.length, put: summary(putMs), slow },
    api: { list: summary(list), detail: summary(detail) },
    slots: { everyMinute: judge("every minute"), daily: judge("daily"), unexpected, statuses, byMinute },
    lag: { ...summary(lags), maxByMinute: lagByMinute },
    windowFrom: new Date(windowStart).toISOString(),
    exitCodes: exits.map((exit) => exit.code)
  })
} finally {
  await client.end().catch(() => {})
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL")
  await db.drop()
}
