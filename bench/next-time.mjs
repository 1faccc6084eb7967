// Measure C, in one process: next fire instants per second, for each library
// that computes them from an arbitrary instant, for three expressions in UTC
// and in America/New_York. Each call starts from one of 1000 fixed instants
// spread over 2026–2030 (the same for every library). Before timing, every
// library's answers for those instants are compared with cron-worker's: a
// library that disagrees is reported with the number of disagreements.
import { CronTime } from "cron"
import { CronExpressionParser } from "cron-parser"
import { Cron as Croner } from "croner"
import { Cron } from "effect"
import { CronSpec } from "../dist/index.js"
import { arg, report } from "./lib.mjs"

const seconds = Number(arg("seconds", "1"))
const EXPRESSIONS = ["*/5 * * * *", "0 9-17 * * 1-5", "0 0 29 2 *"]
const ZONES = ["UTC", "America/New_York"]

// 1000 instants, deterministic (a linear congruential sequence), 2026-01-01 to 2031-01-01, on whole seconds.
const FROM = Date.UTC(2026, 0, 1)
const SPAN = Date.UTC(2031, 0, 1) - FROM
let seed = 12345
const starts = Array.from({ length: 1000 }, () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return FROM + Math.floor((seed / 2 ** 31) * (SPAN / 1000)) * 1000
})

/** name → (expression, zone) → (from ms) → next ms. */
const libraries = {
  "cron-worker": (expression, zone) => {
    const spec = CronSpec.parse(expression, { timezone: zone })
    if (spec._tag === "Left") throw spec.left
    return (from) => spec.right.next(from)
  },
  croner: (expression, zone) => {
    const cron = new Croner(expression, { timezone: zone, paused: true })
    return (from) => cron.nextRun(new Date(from)).getTime()
  },
  "cron-parser": (expression, zone) => {
    const interval = CronExpressionParser.parse(expression, { currentDate: new Date(starts[0]), tz: zone })
    return (from) => {
      interval.reset(new Date(from))
      return interval.next().getTime()
    }
  },
  "cron (kelektiv)": (expression, zone) => {
    const time = new CronTime(expression, zone)
    return (from) => time.getNextDateFrom(new Date(from), zone).toMillis()
  },
  "effect Cron": (expression, zone) => {
    const cron = Cron.unsafeParse(expression, zone)
    return (from) => Cron.next(cron, new Date(from)).getTime()
  }
}

const results = []
for (const zone of ZONES) {
  for (const expression of EXPRESSIONS) {
    const reference = libraries["cron-worker"](expression, zone)
    const expected = starts.map(reference)
    for (const [name, make] of Object.entries(libraries)) {
      const next = make(expression, zone)
      let disagreements = 0
      let example
      for (let i = 0; i < starts.length; i++) {
        const got = next(starts[i])
        if (got !== expected[i]) {
          disagreements++
          example ??= `from ${new Date(starts[i]).toISOString()}: ${new Date(got).toISOString()} (cron-worker: ${
            new Date(expected[i]).toISOString()
          })`
        }
      }
      // Warm-up, then as many calls as fit in `seconds`, in rounds of the 1000 instants.
      for (let i = 0; i < 2000; i++) next(starts[i % 1000])
      let calls = 0
      let sink = 0
      const t0 = performance.now()
      let elapsed = 0
      while (elapsed < seconds * 1000) {
        for (let i = 0; i < 1000; i++) sink += next(starts[i])
        calls += 1000
        elapsed = performance.now() - t0
      }
      if (sink === 0) console.error("")
      results.push({ expression, zone, library: name, perSecond: (calls / elapsed) * 1000, disagreements, example })
    }
  }
}
report({ measure: "C", results })
