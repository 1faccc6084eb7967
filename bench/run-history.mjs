// Measure J (issue 13, point 7), cron-worker only: a job's run history with filters
// and pagination over 1,000,000 runs on PostgreSQL, as the dashboard asks for it. A
// fresh database is migrated by the worker (`node dist/main.js migrate`), then filled
// in SQL: `--jobs` schedules of the example kind `user_digest` (yearly, so none fires
// during the measure; their jobs `schedule:jNNNN` are listed by /api/jobs) and
// `--rows` runs of them, spread evenly over the last `--days` days (one run every
// ~43 minutes each), with realistic statuses (about 90 % succeeded, 5 % failed with
// an error, a stack and failed attempts, 3 % skipped, 1 % timed out, some interrupted
// or abandoned, the newest run of a few jobs still running), reasons (scheduled, a few
// manual and catch-up) and trace ids; ANALYZE. Then the worker serves the admin API
// and each case is requested `--requests` times over HTTP, one after another, after
// `--warmup` unmeasured ones, with the bearer token:
//   first page of /api/runs; the page 50 pages deep (following `next`); ?job=X;
//   ?job=X&status=failed; ?status=failed; ?from&to (one day) with and without job;
//   /api/runs/{runId}; /api/jobs (every job with its last run and failure streak).
// Where a case names a job, a day or a run, each request takes the next of 100
// jobs, 20 days or 200 runs, so the pages are not all the same few buffers. A case
// slower than `--budget` seconds in all stops early (at least 20 requests) and says so.
// Target: p99 ≤ 50 ms per request (as measure I's list and detail).
// To iterate on one filled database: `--keep` leaves it in place (its name on stderr), `--database NAME` measures an
// existing one again (migrated, not refilled; drop it yourself when done), `--cases REGEX` measures only the matching
// cases.
import { URLSearchParams } from "node:url"
import pg from "pg"
import { arg, quantile, report } from "./lib.mjs"
import { ADMIN_URL, freshDatabase, MAIN, start } from "./procs.mjs"

const rows = Number(arg("rows", "1000000"))
const jobs = Number(arg("jobs", "1000"))
const days = Number(arg("days", "30"))
const requests = Number(arg("requests", "200"))
const warmup = Number(arg("warmup", "10"))
const depth = Number(arg("depth", "50"))
const budgetMs = Number(arg("budget", "120")) * 1000
const keep = process.argv.includes("--keep")
const existing = arg("database", undefined)
const only = new RegExp(arg("cases", ""))
const TOKEN = "bench-admin-token-0123456789"
const KIND = "user_digest"
const progress = (text) => process.stderr.write(`[J] ${new Date().toISOString()} ${text}\n`)
const reuse = (name) => {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: async () => {} }
}
const jobName = (g) => `schedule:j${String(g).padStart(4, "0")}`

const db = existing === undefined ? await freshDatabase("cw_bench_runs") : reuse(existing)
let worker
try {
  progress("migrating")
  const migrate = start(MAIN, ["migrate"], { DATABASE_URL: db.url })
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed: ${migrate.stderr()}`)

  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  const filling = Date.now()
  if (existing === undefined) {
    progress(`inserting ${jobs} schedules and ${rows} runs`)
    await client.query(
      `INSERT INTO cron_worker.schedules (id, key, kind, definition, version, remaining_runs, created_at, updated_at)
     SELECT 'j' || lpad(g::text, 4, '0'), NULL, $2::text,
       jsonb_build_object('kind', $2::text, 'expression', '0 0 1 1 *', 'timezone', 'UTC',
         'payload', jsonb_build_object('userId', 'user-' || g)),
       1, NULL, now() - make_interval(days => $3::int + 1), now() - make_interval(days => $3::int + 1)
     FROM generate_series(1, $1::int) AS g`,
      [jobs, KIND, days]
    )
    // Run k of job g (k = 0 the newest): slot every `period` seconds back from now, each job at its own offset.
    await client.query("SELECT setseed(0.13)")
    await client.query(
      `INSERT INTO cron_worker.runs
       (run_id, job, nominal_at, reason, status, skip_reason, attempt, instance, started_at, finished_at, duration_ms,
        error, lease_until, schedule_version, attempts, stack, trace_id)
     SELECT gen_random_uuid(), 'schedule:j' || lpad(g::text, 4, '0'), nominal, reason, status,
       CASE status WHEN 'skipped' THEN (ARRAY['overlap', 'max_concurrent', 'paused'])[1 + (r3 * 3)::int % 3] END,
       CASE WHEN status IN ('failed', 'timed_out') THEN 1 + (r3 * 3)::int % 3 WHEN status = 'skipped' THEN 0 ELSE 1 END,
       'worker-' || (g % 3) || ':' || (1000 + g % 7), started,
       CASE WHEN status <> 'running' THEN started + make_interval(secs => duration / 1000.0) END,
       CASE WHEN status <> 'running' THEN duration END,
       CASE status
         WHEN 'failed' THEN (ARRAY['Error: connect ECONNREFUSED 10.0.3.7:5432',
           'SqlError: deadlock detected', 'HttpError: 503 Service Unavailable from https://mail.example.com/send',
           'TypeError: Cannot read properties of undefined (reading ''total'')'])[1 + (r3 * 4)::int % 4]
         WHEN 'timed_out' THEN 'timed out after 1m'
         WHEN 'interrupted' THEN 'interrupted: the worker shut down'
         WHEN 'abandoned' THEN 'abandoned: instance worker-1:1003 stopped renewing its lease'
       END,
       CASE WHEN status = 'running' THEN now() + interval '1 day' END,
       1,
       CASE WHEN status = 'failed' AND r3 > 0.5 THEN jsonb_build_array(
         jsonb_build_object('attempt', 1, 'at', started + interval '2 seconds', 'error', 'SqlError: deadlock detected'))
       END,
       CASE WHEN status = 'failed'
         THEN 'Error: run failed' || repeat(E'\\n    at run (/app/dist/jobs/userDigest.js:42:17)', 12) END,
       md5(g::text || ':' || k::text)
     FROM (
       SELECT g, k, random() AS r, random() AS r2, random() AS r3,
         date_trunc('second', now()) - make_interval(secs => k * $3::float8 + (g * 7) % $3::int) AS nominal
       FROM generate_series(1, $1::int) AS g, generate_series(0, $2::int - 1) AS k
     ) AS x,
     LATERAL (SELECT
       CASE WHEN r2 < 0.97 THEN 'scheduled' WHEN r2 < 0.99 THEN 'manual' ELSE 'catch-up' END AS reason,
       CASE
         WHEN k = 0 AND g % 100 = 0 THEN 'running'
         WHEN r < 0.90 THEN 'succeeded' WHEN r < 0.95 THEN 'failed' WHEN r < 0.98 THEN 'skipped'
         WHEN r < 0.99 THEN 'timed_out' WHEN r < 0.997 THEN 'interrupted' ELSE 'abandoned'
       END AS status,
       nominal + make_interval(secs => CASE WHEN r2 >= 0.99 THEN 30 + r3 * 600 ELSE r3 * 0.8 END) AS started,
       (power(r3, 3) * 60000)::bigint AS duration
     ) AS y`,
      [jobs, Math.round(rows / jobs), (days * 86400) / Math.round(rows / jobs)]
    )
    progress("ANALYZE")
    await client.query("ANALYZE cron_worker.runs")
    await client.query("ANALYZE cron_worker.schedules")
  }
  const fillMs = Date.now() - filling
  const [{ count: total }] = (await client.query("SELECT count(*)::int AS count FROM cron_worker.runs")).rows
  const statuses = Object.fromEntries(
    (await client.query("SELECT status, count(*)::int AS n FROM cron_worker.runs GROUP BY status ORDER BY 2 DESC"))
      .rows.map((r) => [r.status, r.n])
  )
  const sampleRuns = (await client.query(
    "SELECT run_id FROM cron_worker.runs TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT 200"
  )).rows.map((r) => r.run_id)
  const tableBytes = (await client.query("SELECT pg_total_relation_size('cron_worker.runs')::float8 AS b")).rows[0].b
  await client.end()
  progress(`filled in ${fillMs} ms: ${total} runs ${JSON.stringify(statuses)}`)

  const port = 20000 + Math.floor(Math.random() * 20000)
  worker = start(MAIN, [], {
    DATABASE_URL: db.url,
    HTTP_PORT: String(port),
    ADMIN_TOKEN: TOKEN,
    LOG_LEVEL: "warn",
    WORKER_TIMEZONE: "UTC",
    // Keep the 30 days of history: the maintenance job would delete what is older than the retention.
    WORKER_HISTORY_RETENTION_DAYS: "0"
  })
  const base = `http://127.0.0.1:${port}/api`
  const get = async (path) => {
    const started = performance.now()
    const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const body = await response.json()
    const ms = performance.now() - started
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
    return { ms, body }
  }
  for (let i = 0;; i++) {
    const ok = await get("/runs?limit=1").then(() => true, () => false)
    if (ok) break
    if (i > 600) throw new Error(`the worker did not serve the API: ${worker.stderr().slice(-500)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // The schedules are loaded a moment after the API answers: wait until every job is listed.
  let listed = 0
  for (let i = 0; (listed = (await get("/jobs")).body.length) < jobs; i++) {
    if (i > 600) throw new Error(`/api/jobs lists ${listed} jobs, not ${jobs}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  progress(`worker serving on ${port}; /api/jobs lists ${listed} jobs`)

  // The cursor of the page `depth` pages deep, following `next` from the first.
  let cursor
  for (let i = 1; i < depth; i++) {
    cursor = (await get(`/runs?${new URLSearchParams(cursor === undefined ? {} : { cursor })}`)).body.next
    if (cursor === undefined) throw new Error(`no page ${i + 1}`)
  }
  const someJobs = Array.from({ length: 100 }, (_, i) => jobName(1 + ((i * 37) % jobs)))
  const dayOf = (i) => {
    const day = new Date(Date.now() - (5 + (i % 20)) * 86_400_000)
    day.setUTCHours(0, 0, 0, 0)
    return { from: day.toISOString(), to: new Date(day.getTime() + 86_400_000).toISOString() }
  }
  const q = (params) => `/runs?${new URLSearchParams(params)}`
  const cases = {
    "first page": () => q({}),
    [`page ${depth} (by next)`]: () => q({ cursor }),
    "?job=X": (i) => q({ job: someJobs[i % someJobs.length] }),
    "?job=X&status=failed": (i) => q({ job: someJobs[i % someJobs.length], status: "failed" }),
    "?status=failed": () => q({ status: "failed" }),
    "?from&to (one day)": (i) => q(dayOf(i)),
    "?job=X&from&to (one day)": (i) => q({ job: someJobs[i % someJobs.length], ...dayOf(i) }),
    "/api/runs/{runId}": (i) => `/runs/${sampleRuns[i % sampleRuns.length]}`,
    // The dashboard's jobs page: a page of 100 by name, each with its 20 newest runs; and a page further on.
    "/api/jobs?limit=100&recent=20": () => "/jobs?limit=100&recent=20",
    "/api/jobs?limit=100&recent=20&after=(page 5)": () => `/jobs?limit=100&recent=20&after=${jobName(400)}`,
    // Every job at once (no target: its size grows with the jobs; see the pages above).
    "/api/jobs": () => "/jobs"
  }
  const results = {}
  for (const [name, path] of Object.entries(cases)) {
    if (!only.test(name)) continue
    for (let i = 0; i < warmup; i++) await get(path(i + 1000))
    const times = []
    let items = 0
    const began = Date.now()
    for (let i = 0; i < requests; i++) {
      const { body, ms } = await get(path(i))
      times.push(ms)
      items += Array.isArray(body) ? body.length : Array.isArray(body.runs) ? body.runs.length : 1
      if (Date.now() - began > budgetMs && times.length >= 20) break
    }
    times.sort((a, b) => a - b)
    results[name] = {
      n: times.length,
      perRequest: items / times.length,
      p50: quantile(times, 0.5),
      p99: quantile(times, 0.99),
      max: times.at(-1),
      cut: times.length < requests
    }
    progress(`${name}: ${JSON.stringify(results[name])}`)
  }
  report({
    measure: "J",
    rows: total,
    jobs,
    listed,
    days,
    depth,
    requests,
    statuses,
    tableMiB: tableBytes / 2 ** 20,
    fillMs,
    cases: results
  })
} finally {
  if (worker !== undefined) {
    worker.child.kill("SIGTERM")
    await worker.exited
  }
  if (keep) progress(`kept the database: ${db.url}`)
  else await db.drop()
}
