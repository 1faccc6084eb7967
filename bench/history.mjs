// Measure H, cron-worker only: admin API history pages over 1,000,000 runs on
// PostgreSQL. A fresh database is migrated and filled in SQL (100 jobs, one run a
// second each way back, one in 47 failed), then a worker serves the API and each case
// asks for pages of 100 through it, over HTTP, timing each request: the first
// page, then `--pages` pages deep by following the cursor; of all jobs, of one
// job, of one job's failures, of one day. Target: p99 ≤ 50 ms per page.
import { URLSearchParams } from "node:url"
import pg from "pg"
import { arg, quantile, report } from "./lib.mjs"
import { freshDatabase, MAIN, start } from "./procs.mjs"

const rows = Number(arg("rows", "1000000"))
const pages = Number(arg("pages", "100"))
const TOKEN = "bench-admin-token-0123456789"

const db = await freshDatabase("cw_bench_hist")
const migrate = start(MAIN, ["migrate"], { DATABASE_URL: db.url })
if ((await migrate.exited).code !== 0) throw new Error(`migrate failed: ${migrate.stderr()}`)
const client = new pg.Client({ connectionString: db.url })
await client.connect()
const filling = Date.now()
await client.query(
  `INSERT INTO cron_worker.runs
     (run_id, job, nominal_at, reason, status, attempt, instance, started_at, finished_at, duration_ms, error)
   SELECT gen_random_uuid(), 'job-' || (g % 100), t, 'scheduled',
     CASE WHEN g % 47 = 0 THEN 'failed' ELSE 'succeeded' END, 1, 'bench', t, t + interval '1 second', 1000,
     CASE WHEN g % 47 = 0 THEN 'Error: boom' END
   FROM generate_series(1, $1::int) AS g,
     LATERAL (SELECT timestamptz '2026-01-01T00:00:00Z' + g * interval '1 second') AS x (t)`,
  [rows]
)
await client.query("ANALYZE cron_worker.runs")
const fillMs = Date.now() - filling
await client.end()

const port = 20000 + Math.floor(Math.random() * 20000)
const worker = start(MAIN, [], { DATABASE_URL: db.url, HTTP_PORT: String(port), ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" })
const base = `http://127.0.0.1:${port}/api/runs`
try {
  for (let i = 0;; i++) {
    const ok = await fetch(`${base}?limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
      (r) => r.ok,
      () => false
    )
    if (ok) break
    if (i > 300) throw new Error(`the worker did not serve the API: ${worker.stderr().slice(-500)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const page = async (query) => {
    const started = performance.now()
    const response = await fetch(`${base}?${query}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const body = await response.json()
    if (!response.ok) throw new Error(`${query}: ${response.status} ${JSON.stringify(body)}`)
    return { ms: performance.now() - started, body }
  }
  const walk = async (filter) => {
    const times = []
    let cursor
    let seen = 0
    for (let i = 0; i < pages; i++) {
      const query = new URLSearchParams({ ...filter, limit: "100", ...(cursor === undefined ? {} : { cursor }) })
      const { body, ms } = await page(query.toString())
      times.push(ms)
      seen += body.runs.length
      cursor = body.next
      if (cursor === undefined) break
    }
    times.sort((a, b) => a - b)
    return { pages: times.length, runs: seen, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times.at(-1) }
  }
  // A warm-up walk, then the measured ones.
  await walk({})
  const cases = {
    "all jobs": await walk({}),
    "one job": await walk({ job: "job-7" }),
    "one job, failed": await walk({ job: "job-7", status: "failed" }),
    "failed, all jobs": await walk({ status: "failed" }),
    "one job, none of that status": await walk({ job: "job-7", status: "abandoned" }),
    "one day": await walk({ from: "2026-01-05T00:00:00Z", to: "2026-01-06T00:00:00Z" })
  }
  report({ measure: "H", rows, pagesPerCase: pages, fillMs, cases })
} finally {
  worker.child.kill("SIGTERM")
  await worker.exited
  await db.drop()
}
