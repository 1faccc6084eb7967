// `npm run bench`: every measure (issues #5 and #11), each scheduler in a process of
// its own, one after another, then bench/results/latest.md (and .json) with every
// target met or missed.
//   node bench/run.mjs [--quick] [--only A,B,C,D,E,F,G,H,I,J]
// A fire lag and CPU, B at rest (and 100,000 jobs registered), C next-time speed,
// D three workers on PostgreSQL, E start and shutdown, F 10,000 jobs for 60 s,
// G the shortest @every period for 60 s, H admin API history pages over 1,000,000 runs,
// I 100,000 schedules created at run time on 3 instances for 5 minutes, J a job's run history with filters
// (/api/runs, /api/runs/{runId}, /api/jobs) over 1,000,000 runs of 1,000 jobs.
// --quick shortens every window (a smoke run; its numbers are not the results).
// --only runs those measures and keeps the others' numbers from the last results.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { arg } from "./lib.mjs"
import { render } from "./render.mjs"

const quick = process.argv.includes("--quick")
const only = (arg("only", "A,B,C,D,E,F,G,H,I,J")).split(",")
const here = (file) => fileURLToPath(new URL(file, import.meta.url))
const SCHEDULERS = [
  "cron-worker",
  "cron-worker (info logs)",
  "croner",
  "croner (process zone)",
  "node-cron",
  "cron (kelektiv)",
  "cron (kelektiv, process zone)",
  "toad-scheduler",
  "effect Schedule.cron"
]
const dir = mkdtempSync(join(tmpdir(), "cw-bench-results-"))

/** Runs one benchmark process and returns its result (or `{ error }`). */
const run = (script, args, timeoutMs) =>
  new Promise((resolve) => {
    const out = join(dir, `${Math.random().toString(36).slice(2)}.json`)
    process.stderr.write(`${script} ${args.join(" ")}\n`)
    const child = spawn(process.execPath, ["--expose-gc", here(script), ...args], {
      // Every scheduler in a process at TZ=UTC: those left in their default zone read UTC too.
      env: { ...process.env, TZ: "UTC", BENCH_OUT: out },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(readFileSync(out, "utf8")))
      } catch {
        resolve({ error: `exit ${code ?? signal}: ${stderr.trim().split("\n").slice(-3).join(" ")}` })
      }
    })
  })

// With --only, the measures not run keep their numbers from the last results.
const previous = process.argv.includes("--only") && existsSync(here("results/latest.json"))
  ? JSON.parse(readFileSync(here("results/latest.json"), "utf8"))
  : {}
const results = {
  ...previous,
  date: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version
  },
  quick,
  A: only.includes("A") ? [] : previous.A ?? [],
  B: only.includes("B") ? [] : previous.B ?? [],
  C: only.includes("C") ? undefined : previous.C,
  D: only.includes("D") ? undefined : previous.D,
  E: only.includes("E") ? undefined : previous.E,
  F: only.includes("F") ? undefined : previous.F,
  G: only.includes("G") ? undefined : previous.G,
  H: only.includes("H") ? undefined : previous.H,
  I: only.includes("I") ? undefined : previous.I,
  J: only.includes("J") ? undefined : previous.J
}

if (only.includes("A")) {
  for (const jobs of [1, 1000, 10000]) {
    for (const scheduler of SCHEDULERS) {
      const result = await run("fire-lag.mjs", [
        "--scheduler",
        scheduler,
        "--jobs",
        String(jobs),
        "--slots",
        quick ? "3" : "10"
      ], 180_000)
      results.A.push({ scheduler, jobs, ...result })
    }
  }
}
if (only.includes("B")) {
  for (const scheduler of SCHEDULERS) {
    const args = [
      "--scheduler",
      scheduler,
      "--jobs",
      "10000",
      "--idle",
      quick ? "2" : "10",
      "--long",
      quick ? "3" : "60"
    ]
    results.B.push({ scheduler, ...(await run("at-rest.mjs", args, 300_000)) })
  }
}
if (only.includes("B")) {
  // 100,000 rare jobs: registration time (cron-worker only).
  const args = ["--scheduler", "cron-worker", "--jobs", "100000", "--idle", "1", "--long", "0"]
  results.B.push({ scheduler: "cron-worker", ...(await run("at-rest.mjs", args, 300_000)) })
}
if (only.includes("C")) results.C = await run("next-time.mjs", ["--seconds", quick ? "0.2" : "1"], 300_000)
if (only.includes("D")) {
  results.D = await run("distributed.mjs", ["--jobs", "3000", "--slots", quick ? "5" : "60"], 600_000)
}
if (only.includes("E")) results.E = await run("lifecycle.mjs", ["--rounds", quick ? "1" : "3"], 300_000)
// F. 10,000 every-second jobs for 60 s: at LOG_LEVEL=warn (the setup, as A's `cron-worker`), then at the
// default INFO level.
if (only.includes("F")) {
  results.F = []
  for (const scheduler of ["cron-worker", "cron-worker (info logs)"]) {
    const args = ["--scheduler", scheduler, "--jobs", "10000", "--slots", quick ? "10" : "60"]
    results.F.push(await run("fire-lag.mjs", args, 300_000))
  }
}
// G. One job at the shortest `@every` period accepted (500 ms), for 60 s.
if (only.includes("G")) {
  const args = ["--scheduler", "cron-worker", "--jobs", "1", "--slots", quick ? "20" : "120"]
  results.G = await run("fire-lag.mjs", [...args, "--schedule", "@every 500ms", "--period", "500"], 300_000)
}
// H. Pages of the admin API's run history over 1,000,000 runs on PostgreSQL.
if (only.includes("H")) {
  results.H = await run(
    "history.mjs",
    ["--rows", quick ? "100000" : "1000000", "--pages", quick ? "20" : "100"],
    600_000
  )
}
// I. 100,000 schedules created at run time (1,000 every minute) on 3 instances on PostgreSQL.
if (only.includes("I")) {
  results.I = await run(
    "schedules.mjs",
    ["--seconds", quick ? "60" : "300", "--changes", quick ? "30" : "100"],
    1_800_000
  )
}
// J. A job's run history with filters and pagination over 1,000,000 runs of 1,000 jobs on PostgreSQL.
if (only.includes("J")) {
  results.J = await run(
    "run-history.mjs",
    ["--rows", quick ? "100000" : "1000000", "--requests", quick ? "20" : "200"],
    1_200_000
  )
}
rmSync(dir, { recursive: true, force: true })

writeFileSync(here("results/latest.json"), JSON.stringify(results, null, 2) + "\n")
writeFileSync(here("results/latest.md"), render(results))
process.stderr.write(`wrote ${here("results/latest.md")}\n`)
