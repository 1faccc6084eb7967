// Helpers shared by the benchmark processes: clocks, percentiles, results.
import { writeFileSync } from "node:fs"

/** Wall-clock milliseconds with sub-millisecond resolution. */
export const now = () => performance.timeOrigin + performance.now()

/** CPU time (user + system) of this process, in milliseconds. */
export const cpuMs = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

export const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, Math.max(0, millis)))

/** Sleeps until the wall clock reads `millis`. */
export const sleepUntil = (millis) => sleep(millis - Date.now())

/** The value at quantile `q` (0–1) of numbers sorted ascending; NaN when empty. */
export const quantile = (sorted, q) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]

/** Timers alive in this process (`setTimeout`/`setInterval` handles not yet fired or cleared). */
export const liveTimers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length

/** Full garbage collection, several passes (needs `--expose-gc`). */
export const collect = async () => {
  if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc")
  for (let i = 0; i < 4; i++) {
    globalThis.gc()
    await sleep(20)
  }
}

/** Writes this process's result where the orchestrator reads it (`BENCH_OUT`). */
export const report = (result) => {
  const path = process.env.BENCH_OUT
  if (path === undefined) console.log(JSON.stringify(result, null, 2))
  else writeFileSync(path, JSON.stringify(result))
}

/** `--name value` from argv. */
export const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? fallback : process.argv[index + 1]
}
