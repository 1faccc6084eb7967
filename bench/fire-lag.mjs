// Measure A, one scheduler, one N, in its own process:
//   node bench/fire-lag.mjs --scheduler croner --jobs 1000 [--slots 10]
// N jobs on "* * * * * *" (every second). After a 2 s warm-up, `slots`
// consecutive seconds are judged: for every job and second, one fire is
// expected. A fire belongs to the slot the library names (cron-worker and
// node-cron pass it), else to the second it follows (or to the next one when
// it comes up to 100 ms early); its lag is its start minus that instant. Missed:
// (job, second) pairs with no fire; duplicates: fires beyond the first. CPU
// per job-tick: the process's CPU time over the judged seconds (from half a
// second before the first to half a second after the last) over the fires.
import { arg, cpuMs, now, quantile, report, sleepUntil } from "./lib.mjs"
import { schedulers } from "./schedulers.mjs"

const name = arg("scheduler")
const n = Number(arg("jobs", "1000"))
const slots = Number(arg("slots", "10"))
// Another schedule (cron-worker only: it names each slot's instant), slots `period` ms apart.
const schedule = arg("schedule", "* * * * * *")
const period = Number(arg("period", "1000"))
const start = schedulers[name]
if (start === undefined) throw new Error(`unknown scheduler "${name}"`)

let first = Infinity // the first judged second, in ms
const counts = new Uint16Array(n * slots)
const lags = new Float64Array(n * slots * 2)
let fires = 0
let outside = 0

/** Off the whole seconds (`@every` anchored at registration), the first slot judged is the first after the warm-up. */
let warmedUpAt = Infinity
const onFire = (i, nominal) => {
  const at = now()
  const second = nominal ?? Math.floor((at + 100) / 1000) * 1000
  if (first === Infinity && at >= warmedUpAt) first = second
  const slot = Math.round((second - first) / period)
  if (slot < 0 || slot >= slots) return void outside++
  counts[i * slots + slot]++
  if (fires < lags.length) lags[fires] = at - second
  fires++
}

const registeredAt = Date.now()
const stop = await start(n, schedule, onFire)
const registration = Date.now() - registeredAt
if (period === 1000) first = Math.ceil(Date.now() / 1000) * 1000 + 2000
else {
  warmedUpAt = Date.now() + 2000
  await sleepUntil(warmedUpAt + period + 100)
}
await sleepUntil(first - period / 2)
const cpu0 = cpuMs()
await sleepUntil(first + slots * period - period / 2)
const cpu = cpuMs() - cpu0
await sleepUntil(first + slots * period + 400)
await stop()

let missed = 0
let duplicates = 0
for (const count of counts) {
  if (count === 0) missed++
  else duplicates += count - 1
}
const sorted = Array.from(lags.subarray(0, Math.min(fires, lags.length))).sort((a, b) => a - b)
report({
  measure: "A",
  scheduler: name,
  jobs: n,
  slots,
  schedule,
  registrationMs: registration,
  fires,
  expected: n * slots,
  missed,
  duplicates,
  p50: quantile(sorted, 0.5),
  p99: quantile(sorted, 0.99),
  max: sorted.at(-1) ?? NaN,
  cpuPerTickUs: fires === 0 ? NaN : (cpu * 1000) / fires
})
process.exit(0)
