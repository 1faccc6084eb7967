// A run's hot path, for profiling: N every-second jobs (default 10,000) on the memory store, as measure A's
// cron-worker adapter registers them, INFO logs (LEVEL=warn for warn) written to stdout (send it to /dev/null),
// for SECONDS seconds (default 15) after a 2 s warm-up. Prints to stderr the process CPU time over the judged
// seconds ÷ the runs that started in them (µs per job-tick), and the missed (job, second) pairs.
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile-run.mjs > /dev/null
import { LogLevel } from "effect"
import { cpuMs, sleepUntil } from "./lib.mjs"
import { schedulers } from "./schedulers.mjs"

const n = Number(process.env.JOBS ?? "10000")
const seconds = Number(process.env.SECONDS ?? "15")
const level = process.env.LEVEL === "warn" ? LogLevel.Warning : LogLevel.Info
void level
const start = schedulers[process.env.LEVEL === "warn" ? "cron-worker" : "cron-worker (info logs)"]
let first = Infinity
let runs = 0
const seen = new Uint8Array(n * seconds)
const stop = await start(n, "* * * * * *", (i, nominal) => {
  const slot = (nominal - first) / 1000
  if (slot < 0 || slot >= seconds) return
  runs++
  seen[i * seconds + slot] = 1
})
first = Math.ceil(Date.now() / 1000) * 1000 + 2000
await sleepUntil(first - 500)
// ALLOC=file: a sampling allocation profile (collected objects included) of the judged seconds, to `file`.
let session
if (process.env.ALLOC) {
  const { Session } = await import("node:inspector/promises")
  session = new Session()
  session.connect()
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 32768,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
}
const cpu0 = cpuMs()
const gc0 = performance.eventLoopUtilization()
await sleepUntil(first + seconds * 1000 - 500)
const cpu = cpuMs() - cpu0
const elu = performance.eventLoopUtilization(gc0)
if (session !== undefined) {
  const { profile } = await session.post("HeapProfiler.stopSampling")
  const { writeFileSync } = await import("node:fs")
  writeFileSync(process.env.ALLOC, JSON.stringify(profile))
}
await sleepUntil(first + seconds * 1000 + 400)
await stop()
let missed = 0
for (const s of seen) if (s === 0) missed++
process.stderr.write(
  `${n} jobs ${seconds} s ${process.env.LEVEL ?? "info"}: runs ${runs}, missed ${missed} of ${n * seconds}, ` +
    `${((cpu * 1000) / runs).toFixed(1)} µs per job-tick, ELU ${elu.utilization.toFixed(2)}\n`
)
process.exit(0)
