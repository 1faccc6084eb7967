/**
 * CronSpec: syntax and next-time computation (UTC and fixed-offset zones).
 *
 * The tables marked "robfig" are ported from robfig/cron v3's `parser_test.go`
 * and `spec_test.go`. Go's `time.Parse` ignores the weekday name, so robfig's
 * few wrong weekday names ("Tue Aug 1 2012") are kept as written and mean the
 * date. robfig runs its tables in `time.Local`; here they run in UTC.
 *
 * Where our specification (DESIGN.md "Semantics") differs from robfig, the
 * row follows DESIGN.md and a comment says so. DST behaviour lives in
 * CronSpec.dst.test.ts.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as CronSpec from "../src/CronSpec.js"

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

const at = (iso: string): number => {
  const ms = Date.parse(iso)
  assert.isFalse(Number.isNaN(ms), `bad instant in test table: ${iso}`)
  return ms
}
const iso = (ms: number): string => new Date(ms).toISOString()

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/** robfig's "Mon Jan 2 15:04[:05] 2006", read in UTC; the weekday is ignored, as Go does. */
const robfigTime = (text: string): number => {
  const m = /^\w{3} (\w{3}) (\d{1,2}) (\d{2}):(\d{2})(?::(\d{2}))? (\d{4})$/.exec(text)
  if (m === null) return assert.fail(`bad robfig time ${text}`)
  const [, month = "", day = "", hour = "", minute = "", second = "0", year = ""] = m
  return Date.UTC(Number(year), MONTHS.indexOf(month), Number(day), Number(hour), Number(minute), Number(second))
}

const parsed = (expression: string, options?: CronSpec.ParseOptions): CronSpec.CronSpec => {
  const result = CronSpec.parse(expression, options)
  if (Either.isLeft(result)) return assert.fail(`"${expression}" should parse, got: ${result.left.message}`)
  return result.right
}

const rejected = (expression: string, options?: CronSpec.ParseOptions): CronSpec.InvalidCronExpression => {
  const result = CronSpec.parse(expression, options)
  if (Either.isRight(result)) {
    return assert.fail(`"${expression}" should be rejected, parsed as kind ${result.right.kind}`)
  }
  return result.left
}

const fires = (expression: string, from: string, count: number, options?: CronSpec.ParseOptions): Array<string> =>
  CronSpec.nextN(parsed(expression, options), at(from), count).map(iso)

const isos = (list: ReadonlyArray<string>): Array<string> => list.map((s) => iso(at(s)))

// ---------------------------------------------------------------------------
// Values a single field admits, read back from the fire times over one cycle.

type FieldName = "second" | "minute" | "hour" | "dom" | "month" | "dow"

const CYCLES: Record<FieldName, {
  readonly build: (text: string) => string
  readonly from: string
  readonly span: number
  readonly read: (date: Date) => number
}> = {
  second: {
    build: (t) => `${t} 0 0 * * *`,
    from: "2012-07-09T00:00:00Z",
    span: MINUTE,
    read: (d) => d.getUTCSeconds()
  },
  minute: { build: (t) => `${t} 0 * * *`, from: "2012-07-09T00:00:00Z", span: HOUR, read: (d) => d.getUTCMinutes() },
  hour: { build: (t) => `0 ${t} * * *`, from: "2012-07-09T00:00:00Z", span: DAY, read: (d) => d.getUTCHours() },
  // July 2012 has 31 days.
  dom: { build: (t) => `0 0 ${t} * *`, from: "2012-07-01T00:00:00Z", span: 31 * DAY, read: (d) => d.getUTCDate() },
  month: {
    build: (t) => `0 0 1 ${t} *`,
    from: "2013-01-01T00:00:00Z",
    span: 365 * DAY,
    read: (d) => d.getUTCMonth() + 1
  },
  // 2012-07-08 is a Sunday.
  dow: { build: (t) => `0 0 * * ${t}`, from: "2012-07-08T00:00:00Z", span: 7 * DAY, read: (d) => d.getUTCDay() }
}

const valuesOf = (field: FieldName, text: string): Array<number> => {
  const cycle = CYCLES[field]
  const start = at(cycle.from)
  const seen = new Set<number>()
  for (const instant of CronSpec.nextN(parsed(cycle.build(text)), start - 1, 70)) {
    if (instant >= start + cycle.span) break
    seen.add(cycle.read(new Date(instant)))
  }
  return [...seen].sort((a, b) => a - b)
}

const range = (from: number, to: number, step = 1): Array<number> => {
  const out: Array<number> = []
  for (let v = from; v <= to; v += step) out.push(v)
  return out
}

// ---------------------------------------------------------------------------

describe("robfig parser_test.go: TestRange, TestField, TestAll, TestBits", () => {
  // robfig tests getRange/getField on arbitrary bounds; here each case runs in a
  // real field and the values are read back from the fire times.
  const cases: ReadonlyArray<readonly [FieldName, string, ReadonlyArray<number>]> = [
    // TestRange (bounds 0-7: the minute field stands in)
    ["minute", "5", [5]],
    ["minute", "0", [0]],
    ["minute", "7", [7]],
    ["minute", "5-5", [5]],
    ["minute", "5-6", [5, 6]],
    ["minute", "5-7", [5, 6, 7]],
    ["minute", "5-6/2", [5]],
    ["minute", "5-7/2", [5, 7]],
    ["minute", "5-7/1", [5, 6, 7]],
    // TestRange "*" and "*/2" on bounds 1-3: the month field stands in
    ["month", "*", range(1, 12)],
    ["month", "*/2", [1, 3, 5, 7, 9, 11]],
    // TestField (bounds 1-7: day-of-month stands in)
    ["dom", "5", [5]],
    ["dom", "5,6", [5, 6]],
    ["dom", "5,6,7", [5, 6, 7]],
    ["dom", "1,5-7/2,3", [1, 3, 5, 7]],
    // TestAll: "*" is the whole range of each field
    ["second", "*", range(0, 59)],
    ["minute", "*", range(0, 59)],
    ["hour", "*", range(0, 23)],
    ["dom", "*", range(1, 31)],
    ["month", "*", range(1, 12)],
    ["dow", "*", range(0, 6)],
    // TestBits
    ["minute", "0-0", [0]],
    ["minute", "1-1", [1]],
    ["minute", "1-5/2", [1, 3, 5]],
    ["minute", "1-4/2", [1, 3]]
  ]

  it.effect.each(cases)("%s field %j admits %j", ([field, text, expected]) =>
    Effect.sync(() => {
      expect(valuesOf(field, text)).toEqual(expected)
    }))
})

describe("field syntax: ?, ranges, steps, N/step, lists, names, 7 = Sunday, L", () => {
  const cases: ReadonlyArray<readonly [FieldName, string, ReadonlyArray<number>]> = [
    // `?` is `*` in every field
    ["minute", "?", range(0, 59)],
    ["hour", "?", range(0, 23)],
    ["dom", "?", range(1, 31)],
    ["dow", "?", range(0, 6)],
    // steps
    ["second", "*/15", [0, 15, 30, 45]],
    ["minute", "*/25", [0, 25, 50]],
    ["minute", "10-40/10", [10, 20, 30, 40]],
    ["hour", "*/6", [0, 6, 12, 18]],
    ["hour", "?/12", [0, 12]],
    ["month", "*/4", [1, 5, 9]],
    ["minute", "0-59/30", [0, 30]],
    // "N/step" means "N-max/step", as in robfig
    ["second", "15/35", [15, 50]],
    ["minute", "5/15", [5, 20, 35, 50]],
    ["hour", "20/2", [20, 22]],
    ["hour", "1/2", range(1, 23, 2)],
    ["dom", "28/2", [28, 30]],
    ["month", "11/1", [11, 12]],
    ["dow", "1/2", [1, 3, 5]], // N-6/2: Sunday is not reached through 7
    ["dow", "0/3", [0, 3, 6]],
    // lists mixing every form
    ["minute", "0,30", [0, 30]],
    ["hour", "1-3,10-12", [1, 2, 3, 10, 11, 12]],
    ["minute", "59,0,30", [0, 30, 59]],
    ["minute", "5,5,5-6", [5, 6]],
    // names, case-insensitive
    ["month", "jan", [1]],
    ["month", "JAN", [1]],
    ["month", "Jan", [1]],
    ["month", "jan-mar", [1, 2, 3]],
    ["month", "JAN,jul,Dec", [1, 7, 12]],
    ["month", "apr-oct/2", [4, 6, 8, 10]],
    ["month", "feb,3", [2, 3]],
    ["dow", "sun", [0]],
    ["dow", "SAT", [6]],
    ["dow", "mon-fri", [1, 2, 3, 4, 5]],
    ["dow", "MON-FRI", [1, 2, 3, 4, 5]],
    ["dow", "Mon/2", [1, 3, 5]],
    ["dow", "sun,SAT", [0, 6]],
    ["dow", "tue-thu,sun", [0, 2, 3, 4]],
    // 7 is Sunday (beyond robfig, whose day-of-week stops at 6)
    ["dow", "7", [0]],
    ["dow", "5-7", [0, 5, 6]],
    ["dow", "0,7", [0]],
    ["dow", "0-7", range(0, 6)],
    // L and L-n: the last day of the month and n days before it (beyond robfig v3)
    ["dom", "L", [31]],
    ["dom", "L-1", [30]],
    ["dom", "L-30", [1]],
    ["dom", "L,1", [1, 31]],
    ["dom", "15,L-2,L", [15, 29, 31]]
  ]

  it.effect.each(cases)("%s field %j admits %j", ([field, text, expected]) =>
    Effect.sync(() => {
      expect(valuesOf(field, text)).toEqual(expected)
    }))
})

describe("robfig spec_test.go: TestActivation", () => {
  // next(t - 1s) === t exactly when the schedule is active at t.
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    // Every fifteen minutes.
    ["Mon Jul 9 15:00 2012", "0/15 * * * *", true],
    ["Mon Jul 9 15:45 2012", "0/15 * * * *", true],
    ["Mon Jul 9 15:40 2012", "0/15 * * * *", false],
    // Every fifteen minutes, starting at 5 minutes.
    ["Mon Jul 9 15:05 2012", "5/15 * * * *", true],
    ["Mon Jul 9 15:20 2012", "5/15 * * * *", true],
    ["Mon Jul 9 15:50 2012", "5/15 * * * *", true],
    // Named months
    ["Sun Jul 15 15:00 2012", "0/15 * * Jul *", true],
    ["Sun Jul 15 15:00 2012", "0/15 * * Jun *", false],
    // Everything set.
    ["Sun Jul 15 08:30 2012", "30 08 ? Jul Sun", true],
    ["Sun Jul 15 08:30 2012", "30 08 15 Jul ?", true],
    ["Mon Jul 16 08:30 2012", "30 08 ? Jul Sun", false],
    ["Mon Jul 16 08:30 2012", "30 08 15 Jul ?", false],
    // Predefined schedules
    ["Mon Jul 9 15:00 2012", "@hourly", true],
    ["Mon Jul 9 15:04 2012", "@hourly", false],
    ["Mon Jul 9 15:00 2012", "@daily", false],
    ["Mon Jul 9 00:00 2012", "@daily", true],
    ["Mon Jul 9 00:00 2012", "@weekly", false],
    ["Sun Jul 8 00:00 2012", "@weekly", true],
    ["Sun Jul 8 01:00 2012", "@weekly", false],
    ["Sun Jul 8 00:00 2012", "@monthly", false],
    ["Sun Jul 1 00:00 2012", "@monthly", true],
    // DOW and DOM: if both are restricted, only one needs to match.
    ["Sun Jul 15 00:00 2012", "* * 1,15 * Sun", true],
    ["Fri Jun 15 00:00 2012", "* * 1,15 * Sun", true],
    ["Wed Aug 1 00:00 2012", "* * 1,15 * Sun", true],
    ["Sun Jul 15 00:00 2012", "* * */10 * Sun", true], // robfig #70: */10 is restricted
    // However, if one has a star, then both need to match.
    ["Sun Jul 15 00:00 2012", "* * * * Mon", false],
    ["Mon Jul 9 00:00 2012", "* * 1,15 * *", false],
    ["Sun Jul 15 00:00 2012", "* * 1,15 * *", true],
    ["Sun Jul 15 00:00 2012", "* * */2 * Sun", true],
    // Beyond robfig v3: L
    ["Sun Jul 15 00:00 2012", "* * L * *", false],
    ["Tue Jul 31 00:00 2012", "* * L * *", true],
    ["Tue Jul 31 00:00 2012", "* * L * Mon", true], // L and Mon both restricted: OR
    ["Mon Jul 30 00:00 2012", "* * L * Mon", true],
    ["Sun Jul 29 00:00 2012", "* * L * Mon", false],
    ["Mon Jul 30 00:00 2012", "* * L-1 * *", true],
    ["Wed Feb 29 00:00 2012", "0 0 L 2 *", true],
    ["Tue Feb 28 00:00 2012", "0 0 L 2 *", false]
  ]

  it.effect.each(cases)("%s, %j active: %s", ([time, expression, active]) =>
    Effect.sync(() => {
      const t = robfigTime(time)
      const next = parsed(expression).next(t - SECOND)
      if (active) expect(iso(next)).toBe(iso(t))
      else expect(iso(next)).not.toBe(iso(t))
    }))
})

describe("robfig spec_test.go: TestNext (UTC rows)", () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    // Simple cases
    ["Mon Jul 9 14:45 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"],
    ["Mon Jul 9 14:59 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"],
    ["Mon Jul 9 14:59:59 2012", "0 0/15 * * * *", "Mon Jul 9 15:00 2012"],
    // Wrap around hours
    ["Mon Jul 9 15:45 2012", "0 20-35/15 * * * *", "Mon Jul 9 16:20 2012"],
    // Wrap around days
    ["Mon Jul 9 23:46 2012", "0 */15 * * * *", "Tue Jul 10 00:00 2012"],
    ["Mon Jul 9 23:45 2012", "0 20-35/15 * * * *", "Tue Jul 10 00:20 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * * * *", "Tue Jul 10 00:20:15 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 1/2 * * *", "Tue Jul 10 01:20:15 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 10-12 * * *", "Tue Jul 10 10:20:15 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 1/2 */2 * *", "Thu Jul 11 01:20:15 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * 9-20 * *", "Wed Jul 10 00:20:15 2012"],
    ["Mon Jul 9 23:35:51 2012", "15/35 20-35/15 * 9-20 Jul *", "Wed Jul 10 00:20:15 2012"],
    // Wrap around months
    ["Mon Jul 9 23:35 2012", "0 0 0 9 Apr-Oct ?", "Thu Aug 9 00:00 2012"],
    ["Mon Jul 9 23:35 2012", "0 0 0 */5 Apr,Aug,Oct Mon", "Tue Aug 1 00:00 2012"], // */5 is restricted: OR
    ["Mon Jul 9 23:35 2012", "0 0 0 */5 Oct Mon", "Mon Oct 1 00:00 2012"],
    // Wrap around years
    ["Mon Jul 9 23:35 2012", "0 0 0 * Feb Mon", "Mon Feb 4 00:00 2013"],
    ["Mon Jul 9 23:35 2012", "0 0 0 * Feb Mon/2", "Fri Feb 1 00:00 2013"],
    // Wrap around minute, hour, day, month, and year
    ["Mon Dec 31 23:59:45 2012", "0 * * * * *", "Tue Jan 1 00:00:00 2013"],
    // Leap year
    ["Mon Jul 9 23:35 2012", "0 0 0 29 Feb ?", "Mon Feb 29 00:00 2016"],
    // Beyond robfig v3: L and L-n (dates checked by hand against the calendar)
    ["Tue Jan 2 23:35 2024", "0 0 0 L * *", "Wed Jan 31 00:00 2024"],
    ["Fri Feb 2 23:35 2024", "0 0 0 L * *", "Thu Feb 29 00:00 2024"],
    ["Thu Feb 2 23:35 2023", "0 0 0 L * *", "Tue Feb 28 00:00 2023"],
    ["Sat Nov 2 23:35 2024", "0 0 0 L * *", "Sat Nov 30 00:00 2024"],
    ["Sat Nov 30 18:25 2024", "0 20 18 L * *", "Tue Dec 31 18:20 2024"],
    ["Sat Nov 30 18:25 2024", "0 20 18 L-1 * *", "Mon Dec 30 18:20 2024"],
    ["Sat Nov 30 18:25 2024", "0 20 18 L-2 * *", "Sun Dec 29 18:20 2024"],
    ["Tue Jan 2 23:35 2024", "0 0 0 L,10 * *", "Wed Jan 10 00:00 2024"],
    ["Thu Jan 11 23:35 2024", "0 0 0 L,10 * *", "Wed Jan 31 00:00 2024"],
    ["Wed Jan 31 00:00 2024", "0 0 0 L * *", "Thu Feb 29 00:00 2024"],
    ["Wed Mar 1 00:00 2023", "0 0 0 L 2 *", "Thu Feb 29 00:00 2024"],
    ["Mon Jan 1 00:00 2024", "0 0 0 L-28 2 *", "Thu Feb 1 00:00 2024"], // 29 - 28
    ["Wed Mar 1 00:00 2023", "0 0 0 L-27 2 *", "Fri Feb 2 00:00 2024"] // 2023 Feb is gone: 2024's 29 - 27
  ]

  it.effect.each(cases)("from %s, %j -> %s", ([from, expression, expected]) =>
    Effect.sync(() => {
      expect(iso(parsed(expression).next(robfigTime(from)))).toBe(iso(robfigTime(expected)))
    }))

  // robfig's "Unsatisfiable" rows return the zero time from Next; DESIGN.md
  // rejects an expression that can never fire when it is parsed.
  it.effect.each(["0 0 0 30 Feb ?", "0 0 0 31 Apr ?"])(
    "%j can never fire: rejected at parse",
    (expression) =>
      Effect.sync(() => {
        const error = rejected(expression)
        expect(error.reason).toMatch(/never|impossible|cannot|feb|apr/i)
      })
  )
})

describe("robfig spec_test.go: TestNextWithTz (fixed-offset zone)", () => {
  // robfig reads a spec without zone in the reference time's own offset
  // (+05:30); we say the zone explicitly: Asia/Kolkata has been +05:30 since 1945.
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["14 14 * * *", "2016-01-03T07:39:03Z", "2016-01-03T08:44:00Z"], // 13:09:03+05:30 -> 14:14+05:30
    ["14 14 * * ?", "2016-01-02T22:39:03Z", "2016-01-03T08:44:00Z"], // 04:09:03+05:30 -> 14:14+05:30
    ["14 14 * * *", "2016-01-03T08:39:03Z", "2016-01-03T08:44:00Z"], // 14:09:03+05:30 -> 14:14+05:30
    ["14 14 * * ?", "2016-01-03T08:30:00Z", "2016-01-03T08:44:00Z"] // 14:00:00+05:30 -> 14:14+05:30
  ]

  it.effect.each(cases)("%j in Asia/Kolkata from %s -> %s", ([expression, from, expected]) =>
    Effect.sync(() => {
      expect(iso(parsed(expression, { timezone: "Asia/Kolkata" }).next(at(from)))).toBe(iso(at(expected)))
      expect(iso(parsed(`CRON_TZ=Asia/Kolkata ${expression}`).next(at(from)))).toBe(iso(at(expected)))
    }))

  it.effect("Asia/Kathmandu (+05:45): 00:00 local is 18:15 UTC the day before", () =>
    Effect.sync(() => {
      expect(fires("@daily", "2026-01-01T00:00:00Z", 2, { timezone: "Asia/Kathmandu" })).toEqual(
        isos(["2026-01-01T18:15:00Z", "2026-01-02T18:15:00Z"])
      )
    }))
})

describe("robfig parser_test.go: TestParseSchedule, TestOptionalSecondSchedule", () => {
  const from = "2012-07-09T15:04:00Z"
  const atFive = isos(["2012-07-09T15:05:00Z", "2012-07-09T16:05:00Z", "2012-07-09T17:05:00Z"])
  const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
    ["0 5 * * * *", "UTC", atFive],
    ["5 * * * *", "UTC", atFive], // 5 fields: robfig's standard parser; 6 fields: seconds first
    ["CRON_TZ=UTC  0 5 * * * *", "UTC", atFive],
    ["CRON_TZ=UTC  5 * * * *", "UTC", atFive],
    ["TZ=UTC  0 5 * * * *", "UTC", atFive],
    ["TZ=UTC  5 * * * *", "UTC", atFive],
    ["CRON_TZ=Asia/Tokyo 0 5 * * * *", "Asia/Tokyo", atFive],
    ["TZ=Asia/Tokyo 0 5 * * * *", "Asia/Tokyo", atFive],
    ["@midnight", "UTC", isos(["2012-07-10T00:00:00Z", "2012-07-11T00:00:00Z", "2012-07-12T00:00:00Z"])],
    ["TZ=UTC  @midnight", "UTC", isos(["2012-07-10T00:00:00Z", "2012-07-11T00:00:00Z", "2012-07-12T00:00:00Z"])],
    // 15:04Z is 00:04 on the 10th in Tokyo (+09:00): the next midnight there is the 11th.
    [
      "TZ=Asia/Tokyo @midnight",
      "Asia/Tokyo",
      isos(["2012-07-10T15:00:00Z", "2012-07-11T15:00:00Z", "2012-07-12T15:00:00Z"])
    ],
    [
      "CRON_TZ=Asia/Tokyo @midnight",
      "Asia/Tokyo",
      isos(["2012-07-10T15:00:00Z", "2012-07-11T15:00:00Z", "2012-07-12T15:00:00Z"])
    ],
    ["@yearly", "UTC", isos(["2013-01-01T00:00:00Z", "2014-01-01T00:00:00Z", "2015-01-01T00:00:00Z"])],
    ["@annually", "UTC", isos(["2013-01-01T00:00:00Z", "2014-01-01T00:00:00Z", "2015-01-01T00:00:00Z"])],
    ["* 5 * * * *", "UTC", isos(["2012-07-09T15:05:00Z", "2012-07-09T15:05:01Z", "2012-07-09T15:05:02Z"])],
    ["5 5 * * * *", "UTC", isos(["2012-07-09T15:05:05Z", "2012-07-09T16:05:05Z", "2012-07-09T17:05:05Z"])]
  ]

  it.effect.each(cases)("%j (zone %s)", ([expression, zone, expected]) =>
    Effect.sync(() => {
      const spec = parsed(expression)
      expect(spec.timezone).toBe(zone)
      expect(CronSpec.nextN(spec, at(from), 3).map(iso)).toEqual(expected)
    }))

  it.effect("* 5 * * * * fires every second of minute 5, then waits for the next hour", () =>
    Effect.sync(() => {
      const all = fires("* 5 * * * *", "2012-07-09T15:04:59Z", 61)
      expect(all.slice(0, 60)).toEqual(range(0, 59).map((s) => iso(at("2012-07-09T15:05:00Z") + s * SECOND)))
      expect(all[60]).toBe(iso(at("2012-07-09T16:05:00Z")))
    }))

  it.effect("@every 5m is a constant period", () =>
    Effect.sync(() => {
      const spec = parsed("@every 5m")
      expect(spec.kind).toBe("every")
      expect(spec.next(at(from))).toBe(at(from) + 5 * MINUTE)
    }))
})

describe("descriptors", () => {
  // From Mon 2012-07-09 15:04:30 UTC.
  const from = "2012-07-09T15:04:30Z"
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["@yearly", ["2013-01-01T00:00:00Z", "2014-01-01T00:00:00Z"]],
    ["@annually", ["2013-01-01T00:00:00Z", "2014-01-01T00:00:00Z"]],
    ["@monthly", ["2012-08-01T00:00:00Z", "2012-09-01T00:00:00Z"]],
    ["@weekly", ["2012-07-15T00:00:00Z", "2012-07-22T00:00:00Z"]], // Sundays
    ["@daily", ["2012-07-10T00:00:00Z", "2012-07-11T00:00:00Z"]],
    ["@midnight", ["2012-07-10T00:00:00Z", "2012-07-11T00:00:00Z"]],
    ["@hourly", ["2012-07-09T16:00:00Z", "2012-07-09T17:00:00Z"]],
    ["CRON_TZ=America/New_York @daily", ["2012-07-10T04:00:00Z", "2012-07-11T04:00:00Z"]], // 00:00 EDT
    ["TZ=Europe/London @weekly", ["2012-07-14T23:00:00Z", "2012-07-21T23:00:00Z"]], // Sunday 00:00 BST
    ["CRON_TZ=Australia/Lord_Howe @monthly", ["2012-07-31T13:30:00Z", "2012-08-31T13:30:00Z"]] // 00:00 +10:30
  ]

  it.effect.each(cases)("%j from 2012-07-09T15:04:30Z -> %j", ([expression, expected]) =>
    Effect.sync(() => {
      expect(fires(expression, from, 2)).toEqual(isos(expected))
    }))
})

describe("day-of-month and day-of-week: OR when both restricted, AND when either is * or ?", () => {
  // July 2012: Sun 1, 8, 15, 22, 29; Mon 2, 9, 16, 23, 30.
  const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<string>, string]> = [
    [
      "0 0 1,15 * MON",
      "2012-07-09T00:00:00Z",
      ["2012-07-15", "2012-07-16", "2012-07-23", "2012-07-30", "2012-08-01"],
      "OR"
    ],
    ["0 0 1,15 * *", "2012-07-09T00:00:00Z", ["2012-07-15", "2012-08-01", "2012-08-15"], "DOW * : AND"],
    ["0 0 1,15 * ?", "2012-07-09T00:00:00Z", ["2012-07-15", "2012-08-01", "2012-08-15"], "DOW ? : AND"],
    ["0 0 * * MON", "2012-07-09T00:00:00Z", ["2012-07-16", "2012-07-23", "2012-07-30"], "DOM * : AND"],
    ["0 0 ? * MON", "2012-07-09T00:00:00Z", ["2012-07-16", "2012-07-23", "2012-07-30"], "DOM ? : AND"],
    ["0 0 ? * ?", "2012-07-09T00:00:00Z", ["2012-07-10", "2012-07-11", "2012-07-12"], "both ?: every day"],
    // */2 counts as restricted: odd days OR Sundays (AND would give odd Sundays only: 15, 29)
    [
      "0 0 */2 * SUN",
      "2012-07-08T00:00:00Z",
      ["2012-07-09", "2012-07-11", "2012-07-13", "2012-07-15", "2012-07-17"],
      "*/2 is restricted"
    ],
    ["0 0 */2 * SUN", "2012-07-19T00:00:00Z", ["2012-07-21", "2012-07-22", "2012-07-23"], "*/2 is restricted"],
    [
      "0 0 1-31 * SUN",
      "2012-07-08T00:00:00Z",
      ["2012-07-09", "2012-07-10", "2012-07-11"],
      "a full range is restricted"
    ],
    // robfig: "*/1" sets the star bit, so it is `*`
    ["0 0 */1 * SUN", "2012-07-08T00:00:00Z", ["2012-07-15", "2012-07-22", "2012-07-29"], "*/1 is *"],
    ["0 0 13 * FRI", "2012-07-09T00:00:00Z", [
      "2012-07-13",
      "2012-07-20",
      "2012-07-27",
      "2012-08-03",
      "2012-08-10",
      "2012-08-13"
    ], "Vixie's Friday-the-13th trap"],
    ["0 0 L * MON", "2012-07-29T00:00:00Z", ["2012-07-30", "2012-07-31", "2012-08-06"], "L OR Monday"],
    ["0 0 L * *", "2012-07-29T00:00:00Z", ["2012-07-31", "2012-08-31", "2012-09-30"], "L alone"],
    // 30 February never occurs, but the day-of-week makes the schedule fire (OR).
    [
      "0 0 30 2 MON",
      "2026-01-01T00:00:00Z",
      ["2026-02-02", "2026-02-09", "2026-02-16"],
      "OR rescues an impossible day"
    ],
    ["0 0 31 2,3 *", "2026-01-01T00:00:00Z", ["2026-03-31", "2027-03-31"], "31 exists in March"]
  ]

  it.effect.each(cases)("%j from %s (%s)", ([expression, from, days]) =>
    Effect.sync(() => {
      expect(fires(expression, from, days.length)).toEqual(days.map((d) => iso(at(`${d}T00:00:00Z`))))
    }))
})

describe("5 fields or 6 with seconds first", () => {
  it.effect.each(
    [
      ["5 * * * *", "0 5 * * * *"],
      ["*/15 9-17 * * MON-FRI", "0 */15 9-17 * * MON-FRI"],
      ["0 0 L * *", "0 0 0 L * *"],
      ["30 2 * * *", "0 30 2 * * *"]
    ] as const
  )("%j behaves as %j", ([five, six]) =>
    Effect.sync(() => {
      const from = "2026-01-30T10:07:13Z"
      expect(fires(five, from, 5)).toEqual(fires(six, from, 5))
    }))

  it.effect("runs of whitespace and tabs separate fields", () =>
    Effect.sync(() => {
      const from = "2012-07-09T15:04:00Z"
      expect(fires("  5\t*  * *\t*  ", from, 2)).toEqual(fires("5 * * * *", from, 2))
      expect(fires("CRON_TZ=UTC\t5 * * * *", from, 2)).toEqual(fires("5 * * * *", from, 2))
    }))
})

describe("next is strictly after its input", () => {
  it.effect.each(
    [
      ["* * * * * *", "2026-01-01T12:00:00.000Z", "2026-01-01T12:00:01.000Z"],
      ["* * * * * *", "2026-01-01T12:00:00.999Z", "2026-01-01T12:00:01.000Z"],
      ["* * * * * *", "2026-01-01T11:59:59.001Z", "2026-01-01T12:00:00.000Z"],
      ["*/15 * * * *", "2026-01-01T12:15:00.000Z", "2026-01-01T12:30:00.000Z"],
      ["*/15 * * * *", "2026-01-01T12:14:59.999Z", "2026-01-01T12:15:00.000Z"],
      ["*/15 * * * *", "2026-01-01T12:15:00.001Z", "2026-01-01T12:30:00.000Z"],
      ["0 0 1 1 *", "2026-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
      ["59 23 31 12 *", "2026-12-31T23:59:00.000Z", "2027-12-31T23:59:00.000Z"]
    ] as const
  )("%j from %s -> %s", ([expression, from, expected]) =>
    Effect.sync(() => {
      expect(iso(parsed(expression).next(at(from)))).toBe(expected)
    }))

  it.effect("nextN is strictly increasing and starts after `after`", () =>
    Effect.sync(() => {
      for (
        const expression of [
          "*/7 * * * *",
          "0 9-17 * * MON-FRI",
          "@every 90s",
          "15/35 20-35/15 1/2 */2 * *",
          "0 0 L * *"
        ]
      ) {
        const from = at("2026-05-05T05:05:05.555Z")
        const list = CronSpec.nextN(parsed(expression), from, 25)
        expect(list).toHaveLength(25)
        let previous = from
        for (const instant of list) {
          expect(instant).toBeGreaterThan(previous)
          previous = instant
        }
      }
    }))

  it.effect("cron fire times are whole seconds", () =>
    Effect.sync(() => {
      for (const instant of CronSpec.nextN(parsed("*/7 * * * * *"), at("2026-05-05T05:05:05.555Z"), 20)) {
        expect(instant % SECOND).toBe(0)
      }
    }))

  it.effect("29 February across the non-leap year 2100", () =>
    Effect.sync(() => {
      expect(fires("0 0 29 2 *", "2096-03-01T00:00:00Z", 1)).toEqual(isos(["2104-02-29T00:00:00Z"]))
    }))
})

describe("@every", () => {
  const anchor = at("2026-01-01T00:00:00.123Z")

  // [expression, period in ms]
  const periods: ReadonlyArray<readonly [string, number]> = [
    ["@every 1h30m", 90 * MINUTE],
    ["@every 90s", 90 * SECOND],
    ["@every 1m30s", 90 * SECOND],
    ["@every 1.5h", 90 * MINUTE],
    ["@every 5m", 5 * MINUTE],
    ["@every 2h45m30s", 2 * HOUR + 45 * MINUTE + 30 * SECOND],
    // robfig rounds periods under a second up to one second; DESIGN.md allows 500ms.
    ["@every 500ms", 500]
  ]

  it.effect.each(periods)("%j has period %i ms and is kind every", ([expression, period]) =>
    Effect.sync(() => {
      const spec = parsed(expression)
      expect(spec.kind).toBe("every")
      expect(spec.next(anchor, anchor)).toBe(anchor + period)
      expect(CronSpec.nextN(spec, anchor, 4, anchor)).toEqual([1, 2, 3, 4].map((k) => anchor + k * period))
    }))

  it.effect.each(periods)(
    "%j counts whole periods from the anchor, strictly after",
    ([expression, period]) =>
      Effect.sync(() => {
        const spec = parsed(expression)
        // exactly on a slot: the following slot
        expect(spec.next(anchor + 7 * period, anchor)).toBe(anchor + 8 * period)
        // 1 ms before a slot: that slot
        expect(spec.next(anchor + 7 * period - 1, anchor)).toBe(anchor + 7 * period)
        // 1 ms after a slot: the next one, not after + period (no drift with run time)
        expect(spec.next(anchor + 7 * period + 1, anchor)).toBe(anchor + 8 * period)
        // between slots
        expect(spec.next(anchor + 3 * period + Math.floor(period / 3), anchor)).toBe(anchor + 4 * period)
      })
  )

  it.effect("@every 90s anchored: a late caller gets the next slot on the anchor's grid", () =>
    Effect.sync(() => {
      const spec = parsed("@every 90s")
      expect(spec.next(anchor + 100 * SECOND, anchor)).toBe(anchor + 180 * SECOND)
      expect(CronSpec.nextN(spec, anchor + 100 * SECOND, 3, anchor)).toEqual([
        anchor + 180 * SECOND,
        anchor + 270 * SECOND,
        anchor + 360 * SECOND
      ])
    }))

  it.effect("without an anchor the period counts from `after`", () =>
    Effect.sync(() => {
      const after = at("2026-03-08T06:59:59.750Z")
      expect(parsed("@every 1h30m").next(after)).toBe(after + 90 * MINUTE)
      expect(parsed("@every 500ms").next(after)).toBe(after + 500)
    }))

  it.effect("time zone prefixes are accepted and do not change the period", () =>
    Effect.sync(() => {
      const spec = parsed("CRON_TZ=America/New_York @every 1h")
      expect(spec.timezone).toBe("America/New_York")
      expect(spec.kind).toBe("every")
      // across the spring-forward change: still 60 real minutes
      const before = at("2026-03-08T06:30:00Z")
      expect(spec.next(before, before)).toBe(before + HOUR)
      expect(parsed("TZ=Europe/London @every 90s").timezone).toBe("Europe/London")
    }))
})

describe("time zones", () => {
  it.effect("default zone is UTC", () =>
    Effect.sync(() => {
      expect(parsed("0 9 * * *").timezone).toBe("UTC")
      expect(fires("0 9 * * *", "2026-01-01T00:00:00Z", 1)).toEqual(isos(["2026-01-01T09:00:00Z"]))
    }))

  it.effect("the timezone option is used for expressions without a prefix", () =>
    Effect.sync(() => {
      const spec = parsed("0 9 * * *", { timezone: "Asia/Tokyo" })
      expect(spec.timezone).toBe("Asia/Tokyo")
      expect(iso(spec.next(at("2026-01-01T00:00:00Z")))).toBe(iso(at("2026-01-02T00:00:00Z"))) // 09:00 JST
    }))

  it.effect.each(["CRON_TZ", "TZ"])("the %s= prefix wins over the option", (prefix) =>
    Effect.sync(() => {
      const spec = parsed(`${prefix}=Asia/Tokyo 0 9 * * *`, { timezone: "America/New_York" })
      expect(spec.timezone).toBe("Asia/Tokyo")
      expect(iso(spec.next(at("2026-01-01T00:00:00Z")))).toBe(iso(at("2026-01-02T00:00:00Z")))
    }))

  // See TimeZone.test.ts: ICU on Node 20 canonicalizes Asia/Kolkata to the
  // legacy alias Asia/Calcutta; the zone the user configured is what logs show.
  it.effect("timezone reports the zone as configured (Asia/Kolkata, not Asia/Calcutta)", () =>
    Effect.sync(() => {
      expect(parsed("CRON_TZ=Asia/Kolkata 0 9 * * *").timezone).toBe("Asia/Kolkata")
      expect(parsed("0 9 * * *", { timezone: "Asia/Kolkata" }).timezone).toBe("Asia/Kolkata")
    }))

  it.effect("the same expression in two zones gives two schedules", () =>
    Effect.sync(() => {
      const from = at("2026-07-01T00:00:00Z")
      expect(iso(parsed("0 9 * * *", { timezone: "Europe/London" }).next(from))).toBe(iso(at("2026-07-01T08:00:00Z")))
      expect(iso(parsed("0 9 * * *", { timezone: "America/New_York" }).next(from))).toBe(
        iso(at("2026-07-01T13:00:00Z"))
      )
    }))

  it.effect.each(
    [
      ["* * * * *", { timezone: "Mars/Olympus" }, "Mars/Olympus"],
      ["CRON_TZ=Mars/Olympus * * * * *", undefined, "Mars/Olympus"],
      ["TZ=Nowhere/Land @daily", undefined, "Nowhere/Land"],
      ["CRON_TZ=Atlantis/Capital @every 1h", undefined, "Atlantis/Capital"],
      ["CRON_TZ=Mars/Olympus 0 9 * * *", { timezone: "UTC" }, "Mars/Olympus"],
      ["0 9 * * *", { timezone: "Europe/Lndon" }, "Europe/Lndon"]
    ] as const
  )("%j (options %j): unknown zone %s is named in the reason", ([expression, options, zone]) =>
    Effect.sync(() => {
      const error = rejected(expression, options)
      expect(error.reason).toContain(zone)
      expect(error.reason).toMatch(/zone/i)
    }))
})

describe("kind: interval, fixed or every (DESIGN.md DST rule)", () => {
  const cases: ReadonlyArray<readonly [string, "interval" | "fixed" | "every"]> = [
    ["*/15 * * * *", "interval"],
    ["0 * * * *", "interval"],
    ["*/5 1 * * *", "interval"],
    ["* * * * *", "interval"],
    ["? 3 * * *", "interval"],
    ["30 ? * * *", "interval"],
    ["0-59 * * * *", "interval"], // the hour field begins with *
    ["@hourly", "interval"],
    ["0 */10 * * * *", "interval"],
    ["30 2 * * *", "fixed"],
    ["0,30 1 * * *", "fixed"],
    ["0 9-17 * * *", "fixed"],
    ["0 9-17 * * MON-FRI", "fixed"],
    ["5/15 2 * * *", "fixed"], // neither field begins with * or ?
    ["0-59 2 * * *", "fixed"],
    ["0 0 1 * *", "fixed"],
    ["@daily", "fixed"],
    ["@midnight", "fixed"],
    ["@weekly", "fixed"],
    ["@monthly", "fixed"],
    ["@yearly", "fixed"],
    ["* 30 2 * * *", "fixed"], // only the minute and hour fields decide
    ["@every 1h", "every"],
    ["@every 500ms", "every"]
  ]

  it.effect.each(cases)("%j is %s", ([expression, kind]) =>
    Effect.sync(() => {
      expect(parsed(expression).kind).toBe(kind)
    }))
})

describe("invalid expressions are rejected with a specific reason", () => {
  const DOM = /day.of.month/i
  const DOW = /day.of.week/i
  // [expression, origin, what the reason must say]
  const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<RegExp>]> = [
    // robfig parser_test.go TestRange errors, placed in real fields
    ["5--5 * * * *", "too many hyphens", [/minute/i, /5--5/]],
    ["0 0 1 jan-x *", "failed to parse int", [/month/i, /jan-x/]],
    ["0 0 2-x * *", "failed to parse int", [DOM, /2-x/]],
    ["*/-12 * * * *", "negative number", [/minute/i, /-12/]],
    ["*//2 * * * *", "too many slashes", [/minute/i, /\*\/\/2/]],
    ["0 0 0 * *", "below minimum", [DOM, /\b0 is not in 1-31$/]],
    ["0 0 * 13 *", "above maximum", [/month/i, /\b13 is not in 1-12$/]],
    ["5-3 * * * *", "beyond end of range", [/minute/i, /5-3/]],
    ["*/0 * * * *", "should be a positive number", [/minute/i, /step|increment|positive/i]],
    // robfig parser_test.go TestParseScheduleErrors / TestStandardSpecSchedule
    ["* 5 j * * *", "failed to parse int", [/hour/i, /\bj\b/]],
    ["5 j * * *", "failed to parse int", [/hour/i, /\bj\b/]],
    ["@every Xm", "failed to parse duration", [/Xm/, /duration/i]],
    ["@unrecognized", "unrecognized descriptor", [/@unrecognized/]],
    ["* * * *", "expected 5 to 6 fields", [/field/i, /\b4\b/]],
    ["", "empty spec string", [/empty/i]],
    // robfig spec_test.go TestErrors, TestSlash0NoHang
    ["xyz", "invalid expression", [/field/i]],
    ["60 0 * * *", "minute out of range", [/minute/i, /60/]],
    ["0 60 * * *", "hour out of range", [/hour/i, /60/]],
    ["0 0 * * XYZ", "invalid day of week", [DOW, /XYZ/]],
    ["TZ=Bogus * * * * *", "unknown zone", [/Bogus/]],
    ["0-0-0 * * * *", "too many hyphens", [/minute/i, /0-0-0/]],
    ["*/5/5 * * * *", "too many slashes", [/minute/i, /\*\/5\/5/]],
    ["* * * 0-5 * *", "day-of-month below minimum", [DOM, /\b0 is not in 1-31$/]],
    ["59-2 * * * *", "reversed range", [/minute/i, /59-2/]],
    ["TZ=America/New_York 15/0 * * * *", "robfig #144: zero step", [/minute/i, /step|increment|positive/i]],
    // out of range, every field
    ["60 * * * * *", "second above maximum", [/second/i, /\b60 is not in 0-59$/]],
    ["0 24 * * *", "hour above maximum", [/hour/i, /\b24 is not in 0-23$/]],
    ["* * 32 * *", "day-of-month above maximum", [DOM, /\b32 is not in 1-31$/]],
    ["* * * 0 *", "month below minimum", [/month/i, /\b0 is not in 1-12$/]],
    ["* * * * 8", "day-of-week above maximum (7 is Sunday)", [DOW, /\b8 is not in 0-7$/]],
    ["-1 * * * *", "negative value", [/minute/i, /-1 is not in 0-59$/]],
    // reversed ranges, also with names
    ["* 5-3 * * *", "reversed range", [/hour/i, /5-3/]],
    ["0 0 * * SAT-SUN", "reversed named range (6-0)", [DOW, /SAT-SUN/]],
    ["0 0 * DEC-JAN *", "reversed named range (12-1)", [/month/i, /DEC-JAN/]],
    // zero and malformed steps
    ["15/0 * * * *", "zero step", [/minute/i, /step|increment|positive/i]],
    ["1-5/0 * * * *", "zero step", [/minute/i, /step|increment|positive/i]],
    ["0 0 * * SUN/0", "zero step", [DOW, /step|increment|positive/i]],
    ["*/x * * * *", "step not a number", [/minute/i, /\bx\b/]],
    // malformed lists and names
    [",5 * * * *", "empty list element", [/minute/i]],
    ["5, * * * *", "empty list element", [/minute/i]],
    ["* * * * MON-", "range without end", [DOW]],
    ["0 0 * * MONDAY", "only three-letter names", [DOW, /MONDAY/]],
    ["0 0 * JANUARY *", "only three-letter names", [/month/i, /JANUARY/]],
    ["0 0 * * 1.5", "not a whole number", [DOW, /1\.5/]],
    ["0 0 * MON *", "day name in the month field", [/month/i, /MON/]],
    ["0 JAN * * *", "month name in the hour field", [/hour/i, /JAN/]],
    // names are JAN-DEC and SUN-SAT only: not the properties every JS object has
    ["0 0 * * constructor", "not a day name", [DOW, /constructor/]],
    ["0 0 * toString *", "not a month name", [/month/i, /toString/]],
    ["0 0 * __proto__ *", "not a month name", [/month/i, /__proto__/]],
    ["0 0 * * hasOwnProperty", "not a day name", [DOW, /hasOwnProperty/]],
    ["0 0 * valueOf-dec *", "not a month name", [/month/i, /valueOf/]],
    // L is for day-of-month only, and at most 30 days back
    ["0 L * * *", "L outside day-of-month", [/hour/i, /\bL\b/]],
    ["0 0 * * L", "L outside day-of-month", [DOW, /\bL\b/]],
    ["0 0 L-31 * *", "L-31 is before every month", [DOM, /L-31/]],
    // wrong field counts
    ["* * * * * * *", "seven fields", [/field/i, /\b7\b/]],
    ["*", "one field", [/field/i, /\b1\b/]],
    ["* * *", "three fields", [/field/i, /\b3\b/]],
    // empty
    ["   ", "only spaces", [/empty/i]],
    ["CRON_TZ=UTC", "prefix without expression", [/empty|field/i]],
    ["CRON_TZ= * * * * *", "empty zone", [/zone|CRON_TZ/i]],
    // can never fire (beyond robfig, which returns the zero time from Next)
    ["0 0 30 2 *", "30 February", [/30/, /never|impossible|cannot|feb/i]],
    ["0 0 31 4,6,9,11 *", "31 in 30-day months", [/31/, /never|impossible|cannot|apr/i]],
    ["0 0 30-31 2 *", "30-31 February", [/30-31/]],
    ["0 0 31 2 ?", "31 February with DOW ?", [/31/]],
    ["0 0 L-29 2 *", "February has at most 29 days", [/L-29/]],
    // bad @every durations
    ["@every", "no duration", [/duration/i]],
    ["@every 0s", "zero period", [/0s/]],
    ["@every -5m", "negative period", [/-5m/]],
    ["@every 1h 30m", "space inside the duration", [/1h 30m/]],
    ["@every 5", "no unit", [/duration/i, /\b5\b/]],
    ["@every 1x", "unknown unit", [/1x/]],
    ["@every 1d", "Go durations have no days", [/1d/]],
    ["@every5m", "no space after @every", [/@every5m/]],
    ["@daily 0 0 * * *", "descriptor with fields", [/@daily/]]
  ]

  it.effect.each(cases)("%j (%s)", ([expression, , mentions]) =>
    Effect.sync(() => {
      const error = rejected(expression)
      expect(error._tag).toBe("InvalidCronExpression")
      expect(error.expression).toBe(expression)
      for (const pattern of mentions) expect(error.reason).toMatch(pattern)
    }))

  it.effect("the error carries the expression as written, no job, and a message with both", () =>
    Effect.sync(() => {
      const expression = "CRON_TZ=Europe/London  0 25 * * *"
      const error = rejected(expression)
      expect(error.expression).toBe(expression)
      expect(error.job).toBeUndefined()
      expect(error.reason).toMatch(/hour/i)
      expect(error.message).toContain(expression)
      expect(error.message).toContain(error.reason)
    }))

  it.effect("valid neighbours of the rejected ones parse", () =>
    Effect.sync(() => {
      for (
        const expression of [
          "0 0 29 2 *",
          "0 0 L-28 2 *",
          "0 0 30 2 MON",
          "0 0 31 1-12 *",
          "0 0 * * 7",
          "0 0 * * SUN-SAT",
          "0 0 * JAN-DEC *",
          "59 23 31 12 SAT",
          "0 0 L-30 1 *",
          "@every 500ms",
          "*/60 * * * *"
        ]
      ) {
        parsed(expression)
      }
      expect(fires("*/60 * * * *", "2026-01-01T00:00:00Z", 2)).toEqual(
        isos(["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"])
      )
    }))
})

describe("review findings", () => {
  it.effect("@every beyond 100 years is rejected rather than overflowing a Date", () =>
    Effect.sync(() => {
      const result = CronSpec.parse("@every 99999999999999999h")
      expect(Either.isLeft(result) && result.left.reason).toContain("at most 100 years")
    }))

  it.effect("descriptors and @every are case-insensitive", () =>
    Effect.sync(() => {
      expect(parsed("@DAILY").kind).toBe("fixed")
      expect(parsed("@EVERY 1h").everyMillis).toBe(HOUR)
    }))

  it.effect("day-of-week 7/5 is Sunday, as 7 alone is", () =>
    Effect.sync(() => {
      expect(fires("0 0 * * 7/5", "2026-01-01T00:00:00Z", 2)).toEqual(
        isos(["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"])
      )
    }))

  it.effect("years below 100 keep their zone offsets (Date.UTC reads them as 19xx)", () =>
    Effect.sync(() => {
      const spec = parsed("0 0 * * *", { timezone: "America/New_York" })
      expect(new Date(spec.next(at("0050-01-01T00:00:00Z"))).getUTCFullYear()).toBe(50)
    }))
})

describe("errors name the problem: values, bounds and steps out of range (issue 10)", () => {
  // One wording for every field: "<value as written> is not in <min>-<max>".
  const FIELDS: ReadonlyArray<readonly [FieldName, string, number, number]> = [
    ["second", "second", 0, 59],
    ["minute", "minute", 0, 59],
    ["hour", "hour", 0, 23],
    ["dom", "day-of-month", 1, 31],
    ["month", "month", 1, 12],
    ["dow", "day-of-week", 0, 7]
  ]
  const outOfRange = FIELDS.flatMap(([field, label, min, max]) =>
    [
      [`${min - 1}`, `${min - 1}`],
      [`${max + 1}`, `${max + 1}`],
      [`${min}-${max + 1}`, `${max + 1}`],
      [`${min - 1}-${max}`, `${min - 1}`],
      [`${max + 1}/2`, `${max + 1}`],
      ["99999999999999999999", "99999999999999999999"]
    ].map(([text = "", value = ""]) =>
      [CYCLES[field].build(text), `${label} field "${text}": ${value} is not in ${min}-${max}`] as const
    )
  )

  it.effect.each(outOfRange)("%j: %s", ([expression, reason]) =>
    Effect.sync(() => {
      expect(rejected(expression).reason).toBe(reason)
    }))

  // A step is a whole number from 1 to the number of values the field has (day-of-week: 7, as 7 is Sunday).
  const STEPS: ReadonlyArray<readonly [FieldName, string, number]> = [
    ["second", "second", 60],
    ["minute", "minute", 60],
    ["hour", "hour", 24],
    ["dom", "day-of-month", 31],
    ["month", "month", 12],
    ["dow", "day-of-week", 7]
  ]
  const badSteps = STEPS.flatMap(([field, label, size]) =>
    [
      [`*/${size + 1}`, `step ${size + 1} is not in 1-${size}`],
      ["*/99999999999999999999", `step 99999999999999999999 is not in 1-${size}`],
      [`1-2/${size + 1}`, `step ${size + 1} is not in 1-${size}`],
      ["*/0", `step 0 is not in 1-${size}`],
      ["*/-1", `step -1 is not in 1-${size}`],
      ["*/1.5", `step "1.5" is not a whole number in 1-${size}`]
    ].map(([text = "", reason = ""]) => [CYCLES[field].build(text), `${label} field "${text}": ${reason}`] as const)
  )

  it.effect.each(badSteps)("%j: %s", ([expression, reason]) =>
    Effect.sync(() => {
      expect(rejected(expression).reason).toBe(reason)
    }))

  it.effect.each(STEPS)(
    "%s: the largest step, %s/%i, is accepted and means the first value",
    ([field, , size]) =>
      Effect.sync(() => {
        expect(valuesOf(field, `*/${size}`)).toEqual([field === "dom" || field === "month" ? 1 : 0])
      })
  )

  const malformed: ReadonlyArray<readonly [string, string]> = [
    ["-5 * * * *", "minute field \"-5\": -5 is not in 0-59"],
    ["5--5 * * * *", "minute field \"5--5\": -5 is not in 0-59"],
    [
      "0 0 L-31 * *",
      "day-of-month field \"L-31\": 31 is not in 0-30 (L-n counts days back from the last day of the month)"
    ],
    [
      "0 0 L-99999999999999999999 * *",
      "day-of-month field \"L-99999999999999999999\": 99999999999999999999 is not in 0-30 " +
      "(L-n counts days back from the last day of the month)"
    ],
    ["5- * * * *", "minute field \"5-\": range \"5-\" has no end"],
    ["0 0 * * -mon", "day-of-week field \"-mon\": range \"-mon\" has no start"],
    ["- * * * *", "minute field \"-\": range \"-\" has no start"],
    ["0 0 L- * *", "day-of-month field \"L-\": \"L-\" needs a number of days after \"-\" (L-2)"],
    ["/5 * * * *", "minute field \"/5\": a value is missing before \"/\""],
    ["5/ * * * *", "minute field \"5/\": the step after \"/\" is missing"],
    ["1,5/ * * * *", "minute field \"1,5/\": the step after \"/\" is missing in \"5/\""],
    ["0-0-0 * * * *", "minute field \"0-0-0\": too many \"-\""],
    ["1,*/5/5 * * * *", "minute field \"1,*/5/5\": too many \"/\" in \"*/5/5\""],
    ["5-3 * * * *", "minute field \"5-3\": range \"5-3\" ends before it starts"],
    ["0 0 1-L * *", "day-of-month field \"1-L\": \"L\" stands alone or as L-n (L-2), never in a range or a step"],
    ["0 0 * JANUARY *", "month field \"JANUARY\": \"JANUARY\" is not a whole number or a name (JAN-DEC)"]
  ]

  it.effect.each(malformed)("%j: %s", ([expression, reason]) =>
    Effect.sync(() => {
      expect(rejected(expression).reason).toBe(reason)
    }))

  it.effect("the message keeps its shape: invalid cron expression \"<expr>\": <reason>", () =>
    Effect.sync(() => {
      expect(rejected("-1 * * * *").message).toBe(
        "invalid cron expression \"-1 * * * *\": minute field \"-1\": -1 is not in 0-59"
      )
      const withJob = new CronSpec.InvalidCronExpression({ expression: "0 0 0 * *", reason: "r", job: "nightly" })
      expect(withJob.message).toBe("job \"nightly\": invalid cron expression \"0 0 0 * *\": r")
    }))

  it.effect("control and bidi characters in the expression and the job are escaped, never printed raw", () =>
    Effect.sync(() => {
      const error = rejected("\u001b[31m * * * *")
      expect(error.expression).toBe("\u001b[31m * * * *")
      expect(error.message).toBe(
        "invalid cron expression \"\\u001b[31m * * * *\": minute field \"\\u001b[31m\": " +
          "\"\\u001b[31m\" is not a whole number"
      )
      const named = new CronSpec.InvalidCronExpression({ ...error, job: "a\u001b]0;x\u0007b\u202e" })
      expect(named.message).toMatch(/^job "a\\u001b\]0;x\\u0007b\\u202e": invalid cron expression "\\u001b\[31m/)
      for (
        const expression of [
          "CRON_TZ=\u001b 0 * * * *",
          "@every 1\u001bh",
          "@dai\u202ely",
          "0 0 * \u0085 *",
          "0 0 \u2028 * *",
          "0 0 1\u200b * *"
        ]
      ) {
        const { message } = rejected(expression)
        expect(message).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u)
        expect(message).toMatch(/\\u(001b|202e|0085|2028|200b)/)
      }
    }))
})

describe("differences from robfig/cron (README \"Schedules\")", () => {
  // [rejected here, how robfig reads it (parses here), our reason]
  const rejectedHere: ReadonlyArray<readonly [string, string, string]> = [
    ["1,,2 * * * *", "1,2 * * * *", "minute field \"1,,2\": nothing between two \",\""],
    [",1 * * * *", "1 * * * *", "minute field \",1\": nothing before the first \",\""],
    ["1, * * * *", "1 * * * *", "minute field \"1,\": nothing after the last \",\""],
    ["*, * * * *", "* * * * *", "minute field \"*,\": nothing after the last \",\""],
    ["*-5 * * * *", "* * * * *", "minute field \"*-5\": a range cannot start with \"*\": write \"*\" alone"],
    ["+5 * * * *", "5 * * * *", "minute field \"+5\": \"+\" is not allowed: write 5"],
    ["*/+5 * * * *", "*/5 * * * *", "minute field \"*/+5\": \"+\" is not allowed: write 5"],
    ["-0 * * * *", "0 * * * *", "minute field \"-0\": -0 is not in 0-59"],
    ["*/61 * * * *", "0 * * * *", "minute field \"*/61\": step 61 is not in 1-60"],
    [
      "@every 0s",
      "@every 1s",
      "@every needs a period of at least 500ms (the shortest this scheduler keeps), got \"0s\""
    ],
    [
      "@every -5m",
      "@every 1s",
      "@every needs a period of at least 500ms (the shortest this scheduler keeps), got \"-5m\""
    ],
    [
      "@every 1ms",
      "@every 1s",
      "@every needs a period of at least 500ms (the shortest this scheduler keeps), got \"1ms\""
    ],
    [
      "@every 499ms",
      "@every 1s",
      "@every needs a period of at least 500ms (the shortest this scheduler keeps), got \"499ms\""
    ],
    [
      "@every .4s",
      "@every 1s",
      "@every needs a period of at least 500ms (the shortest this scheduler keeps), got \".4s\""
    ],
    ["@every +5m", "@every 5m", "\"+\" is not allowed: write @every 5m"],
    ["CRON_TZ= 0 0 * * *", "CRON_TZ=UTC 0 0 * * *", "the time zone after \"CRON_TZ=\" is empty"],
    ["CRON_TZ=Local 0 0 * * *", "0 0 * * *", "unknown time zone \"Local\""]
  ]

  it.effect.each(rejectedHere)(
    "%j is rejected; robfig's reading of it, %j, parses",
    ([expression, reading, reason]) =>
      Effect.sync(() => {
        expect(rejected(expression).reason).toBe(reason)
        expect(parsed(reading).expression).toBe(reading)
      })
  )

  // [accepted here (robfig rejects it), the robfig spelling it means]
  const acceptedHere: ReadonlyArray<readonly [string, string]> = [
    ["@DAILY", "@daily"],
    ["@Hourly", "@hourly"],
    ["@EVERY 1h", "@every 1h"],
    ["@every \t 90m", "@every 90m"],
    ["  @daily  ", "@daily"],
    [" CRON_TZ=UTC 0 0 * * *\t", "CRON_TZ=UTC 0 0 * * *"],
    ["\t0 0 * * *\n", "0 0 * * *"],
    ["CRON_TZ=utc 0 0 * * *", "CRON_TZ=UTC 0 0 * * *"],
    ["CRON_TZ=america/new_york 0 9 * * *", "CRON_TZ=America/New_York 0 9 * * *"],
    ["CRON_TZ=EUROPE/LONDON 30 1 * * *", "CRON_TZ=Europe/London 30 1 * * *"],
    ["0 0 * * 7", "0 0 * * 0"],
    ["0 0 * * 5-7", "0 0 * * 5,6,0"]
  ]

  it.effect.each(acceptedHere)("%j is accepted and means %j", ([expression, meaning]) =>
    Effect.sync(() => {
      const spec = parsed(expression)
      const reference = parsed(meaning)
      expect(spec.expression).toBe(expression.trim())
      expect(spec.timezone).toBe(reference.timezone)
      expect(spec.kind).toBe(reference.kind)
      const from = at("2026-03-01T00:00:00Z")
      expect(CronSpec.nextN(spec, from, 5).map(iso)).toEqual(CronSpec.nextN(reference, from, 5).map(iso))
    }))

  it.effect("zone names in any case print as the zone's own spelling", () =>
    Effect.sync(() => {
      expect(parsed("CRON_TZ=utc 0 0 * * *").timezone).toBe("UTC")
      expect(parsed("CRON_TZ=america/new_york 0 9 * * *").timezone).toBe("America/New_York")
      expect(parsed("0 9 * * *", { timezone: "europe/london" }).timezone).toBe("Europe/London")
      expect(fires("CRON_TZ=america/new_york 0 9 * * *", "2026-01-01T00:00:00Z", 1)).toEqual(
        isos(["2026-01-01T14:00:00Z"])
      )
    }))

  it.effect("near misses of the accepted forms stay rejected", () =>
    Effect.sync(() => {
      expect(rejected("@DAILYX").reason).toMatch(/^unknown descriptor "@DAILYX"/)
      expect(rejected("CRON_TZ=america/new_yorkx 0 9 * * *").reason).toBe(
        "unknown time zone \"america/new_yorkx\""
      )
    }))

  it.effect("*/01 is *, as in robfig: with day-of-month */01, day-of-week alone decides (AND, not OR)", () =>
    Effect.sync(() => {
      // 2026-01-01 is a Thursday; the next two Mondays are the 5th and the 12th.
      expect(fires("0 0 */01 * MON", "2026-01-01T00:00:00Z", 2)).toEqual(
        isos(["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"])
      )
    }))
})
