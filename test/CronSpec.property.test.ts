/**
 * CronSpec properties against an independent oracle.
 *
 * Random 5-field expressions, and 6-field ones with seconds first (values,
 * ranges, steps, `N/step`, lists, `*`, `?`, names in any case, `7` for Sunday,
 * `L`/`L-n`) are generated together with the set of values each field admits,
 * so the oracle never parses cron syntax. Wall times in America/New_York come
 * from `Intl.DateTimeFormat`, not from the module's TimeZone. The oracle
 * applies DESIGN.md's DST rule:
 *
 * - interval schedule (minute or hour field begins with `*` or `?`): an instant
 *   fires when its wall time matches;
 * - fixed-time schedule: an instant fires when its wall time matches and it is
 *   not the second pass of a repeated hour, or when it is a spring-forward
 *   transition and some wall time in the gap matches.
 *
 * Properties, in UTC and America/New_York, from random instants in 2000-2040
 * and from instants within three hours of a New York change: `next(t) > t`;
 * `next(t)` fires by the oracle; no minute (second, for 6 fields) strictly
 * between `t` and `next(t)` fires (brute force, capped at a few days or hours
 * so the suite stays fast); the kind is interval/fixed as the rule says;
 * expressions that can never fire are rejected and the others parse. Seeds are
 * fixed.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as CronSpec from "../src/CronSpec.js"

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

const iso = (ms: number): string => new Date(ms).toISOString()

// ---------------------------------------------------------------------------
// Generated expressions

interface Field {
  readonly text: string
  readonly values: ReadonlySet<number>
  /** robfig's star bit: a list element that is `*`, `?`, `*\/1` or `?/1`. */
  readonly star: boolean
  /** `L-n` elements of day-of-month, as n (`L` is 0). */
  readonly last: ReadonlySet<number>
}

interface Expr {
  readonly text: string
  /** 6 fields, seconds first; otherwise the seconds are 0. */
  readonly withSeconds: boolean
  readonly second: Field
  readonly minute: Field
  readonly hour: Field
  readonly dom: Field
  readonly month: Field
  readonly dow: Field
  readonly interval: boolean
}

interface Bounds {
  readonly min: number
  readonly max: number
  /** Highest value `*` and `N/step` reach (6 for day-of-week, where 7 is Sunday). */
  readonly top: number
  readonly maxStep: number
  readonly names?: ReadonlyArray<string>
  readonly nameBase: number
}

const SECONDS: Bounds = { min: 0, max: 59, top: 59, maxStep: 30, nameBase: 0 }
const MINUTES: Bounds = { min: 0, max: 59, top: 59, maxStep: 30, nameBase: 0 }
const HOURS: Bounds = { min: 0, max: 23, top: 23, maxStep: 12, nameBase: 0 }
const DOMS: Bounds = { min: 1, max: 31, top: 31, maxStep: 15, nameBase: 0 }
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  top: 12,
  maxStep: 6,
  names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
  nameBase: 1
}
const DOWS: Bounds = {
  min: 0,
  max: 7,
  top: 6,
  maxStep: 3,
  names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
  nameBase: 0
}

const NONE: ReadonlySet<number> = new Set()

const normalize = (bounds: Bounds, value: number): number => (bounds === DOWS && value === 7 ? 0 : value)

const valuesFrom = (bounds: Bounds, from: number, to: number, step: number): ReadonlySet<number> => {
  const values = new Set<number>()
  for (let v = from; v <= to; v += step) values.add(normalize(bounds, v))
  return values
}

/** A value as a number or, where the field has names, as a name in any case. */
const token = (bounds: Bounds, value: number): fc.Arbitrary<string> => {
  const name = bounds.names?.[value - bounds.nameBase]
  if (name === undefined) return fc.constant(String(value))
  return fc.constantFrom(String(value), name, name.toUpperCase(), name.charAt(0).toUpperCase() + name.slice(1))
}

interface Weights {
  readonly star: number
  readonly value: number
  readonly range: number
  readonly nStep: number
  readonly last: number
}

/** One list element. `pick` narrows where values, ranges and `N/step` start. */
const part = (bounds: Bounds, w: Weights, pick: { readonly min: number; readonly max: number } = bounds) => {
  const step = fc.integer({ min: 1, max: bounds.maxStep })
  const value = fc.integer({ min: pick.min, max: pick.max })
  const arbitraries: Array<fc.WeightedArbitrary<Field>> = [
    {
      weight: w.star,
      arbitrary: fc.tuple(fc.constantFrom("*", "?"), fc.option(step, { nil: undefined })).map(([c, s]) => ({
        text: s === undefined ? c : `${c}/${s}`,
        values: valuesFrom(bounds, bounds.min, bounds.top, s ?? 1),
        star: s === undefined || s === 1,
        last: NONE
      }))
    },
    {
      weight: w.value,
      arbitrary: value.chain((v) =>
        token(bounds, v).map((text) => ({ text, values: new Set([normalize(bounds, v)]), star: false, last: NONE }))
      )
    },
    {
      weight: w.range,
      arbitrary: fc.tuple(value, value, fc.option(step, { nil: undefined })).chain(([x, y, s]) => {
        const [a, b] = x <= y ? [x, y] : [y, x]
        return fc.tuple(token(bounds, a), token(bounds, b)).map(([ta, tb]) => ({
          text: `${ta}-${tb}${s === undefined ? "" : `/${s}`}`,
          values: valuesFrom(bounds, a, b, s ?? 1),
          star: false,
          last: NONE
        }))
      })
    },
    {
      weight: w.nStep,
      arbitrary: fc.tuple(fc.integer({ min: pick.min, max: Math.min(pick.max, bounds.top) }), step).chain(([a, s]) =>
        token(bounds, a).map((ta) => ({
          text: `${ta}/${s}`,
          values: valuesFrom(bounds, a, bounds.top, s),
          star: false,
          last: NONE
        }))
      )
    }
  ]
  if (w.last > 0) {
    arbitraries.push({
      weight: w.last,
      arbitrary: fc.integer({ min: 0, max: 6 }).map((n) => ({
        text: n === 0 ? "L" : `L-${n}`,
        values: NONE,
        star: false,
        last: new Set([n])
      }))
    })
  }
  return fc.oneof(...arbitraries)
}

const field = (parts: fc.Arbitrary<Field>): fc.Arbitrary<Field> =>
  fc.array(parts, { minLength: 1, maxLength: 3 }).map((list) => ({
    text: list.map((p) => p.text).join(","),
    values: new Set(list.flatMap((p) => [...p.values])),
    star: list.some((p) => p.star),
    last: new Set(list.flatMap((p) => [...p.last]))
  }))

const ZERO: Field = { text: "0", values: new Set([0]), star: false, last: NONE }

const expression = (fields: {
  readonly second?: fc.Arbitrary<Field>
  readonly minute: fc.Arbitrary<Field>
  readonly hour: fc.Arbitrary<Field>
  readonly dom: fc.Arbitrary<Field>
  readonly month: fc.Arbitrary<Field>
  readonly dow: fc.Arbitrary<Field>
}): fc.Arbitrary<Expr> =>
  fc.record({ ...fields, second: fields.second ?? fc.constant(undefined) }).map((f) => ({
    ...f,
    withSeconds: f.second !== undefined,
    second: f.second ?? ZERO,
    text: [
      ...(f.second === undefined ? [] : [f.second.text]),
      f.minute.text,
      f.hour.text,
      f.dom.text,
      f.month.text,
      f.dow.text
    ]
      .join(" "),
    interval: /^[*?]/.test(f.minute.text) || /^[*?]/.test(f.hour.text)
  }))

const calendarFields = {
  dom: field(part(DOMS, { star: 8, value: 1, range: 1, nStep: 1, last: 1 })),
  month: field(part(MONTHS, { star: 8, value: 1, range: 1, nStep: 1, last: 0 })),
  dow: field(part(DOWS, { star: 8, value: 1, range: 1, nStep: 1, last: 0 }))
}

/** `*` in a calendar field; its value set covers every field's range. */
const STAR: Field = { text: "*", values: new Set(Array.from({ length: 32 }, (_, i) => i)), star: true, last: NONE }

const anyExpression = expression({
  minute: field(part(MINUTES, { star: 3, value: 2, range: 2, nStep: 2, last: 0 })),
  hour: field(part(HOURS, { star: 3, value: 2, range: 2, nStep: 1, last: 0 })),
  ...calendarFields
})

const withSeconds = expression({
  second: field(part(SECONDS, { star: 2, value: 3, range: 2, nStep: 2, last: 0 })),
  minute: field(part(MINUTES, { star: 4, value: 2, range: 2, nStep: 2, last: 0 })),
  hour: field(part(HOURS, { star: 4, value: 1, range: 2, nStep: 1, last: 0 })),
  dom: fc.constant(STAR),
  month: fc.constant(STAR),
  dow: fc.oneof({ weight: 3, arbitrary: fc.constant(STAR) }, { weight: 1, arbitrary: calendarFields.dow })
})

/** Hours around the New York changes (01:00-03:00) are picked far more often. */
const dstExpression = expression({
  minute: field(part(MINUTES, { star: 3, value: 3, range: 2, nStep: 2, last: 0 })),
  hour: field(part(HOURS, { star: 2, value: 4, range: 2, nStep: 1, last: 0 }, { min: 1, max: 3 })),
  dom: fc.oneof({ weight: 3, arbitrary: fc.constant(STAR) }, { weight: 1, arbitrary: calendarFields.dom }),
  month: fc.oneof({ weight: 3, arbitrary: fc.constant(STAR) }, { weight: 1, arbitrary: calendarFields.month }),
  dow: fc.oneof({ weight: 3, arbitrary: fc.constant(STAR) }, { weight: 1, arbitrary: calendarFields.dow })
})

// ---------------------------------------------------------------------------
// Oracle

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/** Does the local wall time `wall` (epoch-style ms of the local calendar) match? */
const matches = (e: Expr, wall: number): boolean => {
  const d = new Date(wall)
  if (!e.second.values.has(d.getUTCSeconds())) return false
  if (!e.minute.values.has(d.getUTCMinutes())) return false
  if (!e.hour.values.has(d.getUTCHours())) return false
  const month = d.getUTCMonth() + 1
  if (!e.month.values.has(month)) return false
  const day = d.getUTCDate()
  const domOk = e.dom.values.has(day) || e.dom.last.has(daysIn(d.getUTCFullYear(), month) - day)
  const dowOk = e.dow.values.has(d.getUTCDay())
  return e.dom.star || e.dow.star ? domOk && dowOk : domOk || dowOk
}

const LONGEST = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** With day-of-week `*` and day-of-month restricted, some allowed month must have an allowed day. */
const canFire = (e: Expr): boolean =>
  !e.dow.star || e.dom.star || [...e.month.values].some((m) => {
    const longest = LONGEST[m] ?? 0
    return [...e.dom.values].some((d) => d <= longest) || [...e.dom.last].some((n) => n < longest)
  })

interface Zone {
  readonly name: string
  readonly offsetAt: (instant: number) => number
}

const UTC: Zone = { name: "UTC", offsetAt: () => 0 }

const newYorkFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York",
  hourCycle: "h23",
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  minute: "numeric",
  second: "numeric"
})

const intlOffset = (instant: number): number => {
  const part = (type: Intl.DateTimeFormatPartTypes, parts: Array<Intl.DateTimeFormatPart>) =>
    Number(parts.find((p) => p.type === type)?.value ?? Number.NaN)
  const parts = newYorkFormat.formatToParts(instant)
  const local = Date.UTC(
    part("year", parts),
    part("month", parts) - 1,
    part("day", parts),
    part("hour", parts),
    part("minute", parts),
    part("second", parts)
  )
  return local - Math.floor(instant / SECOND) * SECOND
}

/** New York changes offset on whole UTC hours (checked below), so one Intl call per hour suffices. */
const hourlyOffsets = new Map<number, number>()
const NEW_YORK: Zone = {
  name: "America/New_York",
  offsetAt: (instant) => {
    const hour = Math.floor(instant / HOUR)
    let offset = hourlyOffsets.get(hour)
    if (offset === undefined) {
      offset = intlOffset(hour * HOUR)
      hourlyOffsets.set(hour, offset)
    }
    return offset
  }
}

const resolution = (e: Expr): number => (e.withSeconds ? SECOND : MINUTE)

/** Does the schedule fire at the real instant `x` (a whole second, or minute for 5 fields)? */
const fires = (e: Expr, zone: Zone, x: number): boolean => {
  const offset = zone.offsetAt(x)
  if (e.interval || zone === UTC) return matches(e, x + offset)
  const secondPass = zone.offsetAt(x - HOUR) - offset === HOUR
  if (!secondPass && matches(e, x + offset)) return true
  const before = zone.offsetAt(x - SECOND)
  if (offset > before) {
    // x is a spring-forward transition: the wall clock jumped from x + before to x + offset.
    for (let w = x + before; w < x + offset; w += resolution(e)) if (matches(e, w)) return true
  }
  return false
}

/**
 * US rules: 2000-2006 first Sunday of April / last Sunday of October; since 2007 second Sunday of March / first of
 * November.
 */
const sunday = (year: number, month: number, nth: number): number => {
  const first = new Date(Date.UTC(year, month - 1, 1)).getUTCDay()
  return 1 + ((7 - first) % 7) + 7 * (nth - 1)
}
const lastSunday = (year: number, month: number): number => {
  const last = daysIn(year, month)
  return last - new Date(Date.UTC(year, month - 1, last)).getUTCDay()
}
const newYorkTransition = (year: number, spring: boolean): number =>
  spring
    ? year >= 2007 ? Date.UTC(year, 2, sunday(year, 3, 2), 7) : Date.UTC(year, 3, sunday(year, 4, 1), 7)
    : year >= 2007
    ? Date.UTC(year, 10, sunday(year, 11, 1), 6)
    : Date.UTC(year, 9, lastSunday(year, 10), 6)

// ---------------------------------------------------------------------------

/**
 * Checks `next` from `after` against the oracle; returns next(after).
 * Brute-forces every minute (every second for 6 fields) in (after, min(next, after + cap)).
 */
const checkNext = (e: Expr, zone: Zone, spec: CronSpec.CronSpec, after: number, cap: number): number => {
  const context = `"${e.text}" in ${zone.name} (${e.interval ? "interval" : "fixed"}) from ${iso(after)}`
  const next = spec.next(after)
  if (!(next > after)) return assert.fail(`${context}: next ${iso(next)} is not after its input`)
  const step = resolution(e)
  if (next % step !== 0) {
    return assert.fail(`${context}: next ${iso(next)} is not a whole ${step === SECOND ? "second" : "minute"}`)
  }
  if (!fires(e, zone, next)) return assert.fail(`${context}: next ${iso(next)} does not fire by the oracle`)
  const limit = Math.min(next, after + cap)
  for (let x = (Math.floor(after / step) + 1) * step; x < limit; x += step) {
    if (fires(e, zone, x)) return assert.fail(`${context}: ${iso(x)} fires but next returned ${iso(next)}`)
  }
  return next
}

/** Parses, and checks that only expressions that can never fire are rejected. */
const parseChecked = (e: Expr, zone: Zone): CronSpec.CronSpec | undefined => {
  const result = CronSpec.parse(e.text, { timezone: zone.name })
  if (!canFire(e)) {
    if (Either.isRight(result)) return assert.fail(`"${e.text}" can never fire but parsed`)
    return undefined
  }
  if (Either.isLeft(result)) return assert.fail(`"${e.text}" should parse: ${result.left.reason}`)
  expect(result.right.kind).toBe(e.interval ? "interval" : "fixed")
  return result.right
}

const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 11, 31) })

describe("the oracle's own assumptions", () => {
  it.effect("America/New_York changes offset exactly at the US-rule instants, 2000-2040", () =>
    Effect.sync(() => {
      for (let year = 2000; year <= 2040; year++) {
        for (const spring of [true, false]) {
          const t = newYorkTransition(year, spring)
          expect(intlOffset(t - SECOND), `${year} ${spring}`).toBe(spring ? -5 * HOUR : -4 * HOUR)
          expect(intlOffset(t), `${year} ${spring}`).toBe(spring ? -4 * HOUR : -5 * HOUR)
          // constant over the UTC hours either side
          expect(intlOffset(t - HOUR)).toBe(intlOffset(t - SECOND))
          expect(intlOffset(t + HOUR - SECOND)).toBe(intlOffset(t))
        }
      }
    }))

  it.effect("the fixed-time oracle reproduces hand-checked New York 2026 cases", () =>
    Effect.sync(() => {
      const e = (minute: ReadonlyArray<number>, hour: ReadonlyArray<number>, interval: boolean): Expr => {
        const all = (from: number, to: number) => valuesFrom(MINUTES, from, to, 1)
        const f = (values: ReadonlySet<number>, star: boolean): Field => ({ text: "", values, star, last: NONE })
        return {
          text: "",
          withSeconds: false,
          second: ZERO,
          minute: f(new Set(minute), false),
          hour: f(new Set(hour), false),
          dom: f(all(1, 31), true),
          month: f(all(1, 12), true),
          dow: f(all(0, 6), true),
          interval
        }
      }
      const at = Date.parse
      // 30 2 * * *: the spring transition fires, nothing in the repeated hour
      expect(fires(e([30], [2], false), NEW_YORK, at("2026-03-08T07:00:00Z"))).toBe(true)
      expect(fires(e([30], [2], false), NEW_YORK, at("2026-03-08T07:30:00Z"))).toBe(false)
      // 30 1 * * *: first pass only
      expect(fires(e([30], [1], false), NEW_YORK, at("2026-11-01T05:30:00Z"))).toBe(true)
      expect(fires(e([30], [1], false), NEW_YORK, at("2026-11-01T06:30:00Z"))).toBe(false)
      // the same as an interval schedule: both passes
      expect(fires(e([30], [1], true), NEW_YORK, at("2026-11-01T06:30:00Z"))).toBe(true)
    }))
})

describe("properties", () => {
  it.prop(
    "UTC: next is after, fires, and skips no firing minute",
    [anyExpression, instant],
    ([e, t]) => {
      const spec = parseChecked(e, UTC)
      if (spec !== undefined) checkNext(e, UTC, spec, t, 4 * DAY)
    },
    { fastCheck: { seed: 20260308, numRuns: 300 } }
  )

  it.prop(
    "America/New_York: next is after, fires, and skips no firing minute",
    [anyExpression, instant],
    ([e, t]) => {
      const spec = parseChecked(e, NEW_YORK)
      if (spec !== undefined) checkNext(e, NEW_YORK, spec, t, 4 * DAY)
    },
    { fastCheck: { seed: 20261101, numRuns: 300 } }
  )

  it.prop(
    "America/New_York near the changes, 2000-2040: four successive fires follow the DST rule",
    [
      dstExpression,
      fc.integer({ min: 2000, max: 2040 }),
      fc.boolean(),
      fc.integer({ min: -3 * HOUR, max: 3 * HOUR })
    ],
    ([e, year, spring, delta]) => {
      const spec = parseChecked(e, NEW_YORK)
      if (spec === undefined) return
      let cursor = newYorkTransition(year, spring) + delta
      for (let i = 0; i < 4; i++) cursor = checkNext(e, NEW_YORK, spec, cursor, 2 * DAY)
    },
    { fastCheck: { seed: 42, numRuns: 600 } }
  )

  it.prop(
    "6 fields (seconds first), UTC and America/New_York: next is after, fires, and skips no firing second",
    [withSeconds, instant, fc.constantFrom(UTC, NEW_YORK)],
    ([e, t, zone]) => {
      const spec = parseChecked(e, zone)
      if (spec !== undefined) checkNext(e, zone, spec, t, 6 * HOUR)
    },
    { fastCheck: { seed: 60, numRuns: 200 } }
  )

  it.prop(
    "6 fields near the New York changes: four successive fires follow the DST rule",
    [withSeconds, fc.integer({ min: 2000, max: 2040 }), fc.boolean(), fc.integer({ min: -3 * HOUR, max: 3 * HOUR })],
    ([e, year, spring, delta]) => {
      const spec = parseChecked(e, NEW_YORK)
      if (spec === undefined) return
      let cursor = newYorkTransition(year, spring) + delta
      for (let i = 0; i < 4; i++) cursor = checkNext(e, NEW_YORK, spec, cursor, 3 * HOUR)
    },
    { fastCheck: { seed: 61, numRuns: 200 } }
  )

  it.prop(
    "late days of the month with day-of-week * are rejected exactly when no allowed month has them",
    [
      expression({
        minute: fc.constant({ text: "0", values: new Set([0]), star: false, last: NONE }),
        hour: fc.constant({ text: "12", values: new Set([12]), star: false, last: NONE }),
        dom: field(fc.oneof(
          fc.integer({ min: 27, max: 31 }).map((d) => ({
            text: String(d),
            values: new Set([d]),
            star: false,
            last: NONE
          })),
          fc.integer({ min: 26, max: 30 }).map((n) => ({
            text: `L-${n}`,
            values: NONE,
            star: false,
            last: new Set([n])
          }))
        )),
        month: field(fc.oneof(
          {
            weight: 4,
            arbitrary: fc.constantFrom(2, 4, 6, 9, 11).chain((m) =>
              token(MONTHS, m).map((text) => ({ text, values: new Set([m]), star: false, last: NONE }))
            )
          },
          { weight: 1, arbitrary: part(MONTHS, { star: 1, value: 4, range: 2, nStep: 1, last: 0 }) }
        )),
        dow: fc.constantFrom("*", "?").map((text) => ({ ...STAR, text }))
      }),
      instant
    ],
    ([e, t]) => {
      const spec = parseChecked(e, UTC)
      if (spec !== undefined) checkNext(e, UTC, spec, t, 0)
    },
    { fastCheck: { seed: 2902, numRuns: 300 } }
  )

  it.prop(
    "five fields and six with seconds 0 first are the same schedule",
    [anyExpression, instant, fc.constantFrom(UTC, NEW_YORK)],
    ([e, t, zone]) => {
      if (!canFire(e)) return
      const five = CronSpec.parse(e.text, { timezone: zone.name })
      const six = CronSpec.parse(`0 ${e.text}`, { timezone: zone.name })
      if (Either.isLeft(five) || Either.isLeft(six)) return assert.fail(`"${e.text}" should parse in both forms`)
      expect(CronSpec.nextN(six.right, t, 3)).toEqual(CronSpec.nextN(five.right, t, 3))
    },
    { fastCheck: { seed: 7, numRuns: 200 } }
  )
})
