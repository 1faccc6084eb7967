// Measure B, one scheduler, in its own process (`--expose-gc`):
//   node --expose-gc bench/at-rest.mjs --scheduler croner --jobs 10000 [--idle 10] [--long 60]
// N jobs on a rare schedule (once a year, on 1 January): the time to register
// them, the heap they retain (used heap after a full collection, after minus
// before, per job), RSS, the timers alive, and the CPU time the process spends
// over an idle window of `idle` seconds, then of `long` seconds.
import { arg, collect, cpuMs, liveTimers, report, sleep } from "./lib.mjs"
import { schedulers } from "./schedulers.mjs"

const name = arg("scheduler")
const n = Number(arg("jobs", "10000"))
const idle = Number(arg("idle", "10"))
const long = Number(arg("long", "60"))
const start = schedulers[name]
if (start === undefined) throw new Error(`unknown scheduler "${name}"`)

const RARE = "0 0 1 1 *"
// Warm the code paths with a few jobs, so that what is measured is per job, not the first use of a module.
await (await start(3, RARE, () => {}))()
await collect()
const timersBefore = liveTimers()
const heapBefore = process.memoryUsage().heapUsed
const rssBefore = process.memoryUsage().rss
const t0 = performance.now()
let fired = 0
const stop = await start(n, RARE, () => fired++)
const registrationMs = performance.now() - t0
await collect()
const memory = process.memoryUsage()
const timers = liveTimers() - timersBefore
const cpu0 = cpuMs()
await sleep(idle * 1000)
const cpu1 = cpuMs()
await sleep(long * 1000)
const cpu2 = cpuMs()
await stop()
report({
  measure: "B",
  scheduler: name,
  jobs: n,
  registrationMs,
  heapPerJobBytes: (memory.heapUsed - heapBefore) / n,
  heapMiB: memory.heapUsed / 2 ** 20,
  rssMiB: memory.rss / 2 ** 20,
  rssGrowthMiB: (memory.rss - rssBefore) / 2 ** 20,
  timers,
  idleSeconds: idle,
  idleCpuMs: cpu1 - cpu0,
  longSeconds: long,
  longCpuMs: cpu2 - cpu1,
  fired
})
process.exit(0)
