/**
 * TimeZone: offsets, transitions and wall-time resolution.
 *
 * Every expected instant below was computed independently with Python's
 * `zoneinfo` (tzdata 2025b; Node's ICU has 2025c, identical for these dates)
 * and pasted in as UTC; the local time is in the comment. Wall times are
 * written as `Date.UTC(...)` of the local calendar, the encoding the module
 * documents (`wall = instant + offsetAt(instant)`).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TimeZone from "../src/TimeZone.js"

const MINUTE = 60_000
const HOUR = 3_600_000

const at = (iso: string): number => {
  const ms = Date.parse(iso)
  assert.isFalse(Number.isNaN(ms), `bad instant in test table: ${iso}`)
  return ms
}

const isos = (list: ReadonlyArray<string>): Array<string> => list.map((s) => new Date(at(s)).toISOString())

const wall = (y: number, mo: number, d: number, h: number, mi: number, s = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi, s)

const zone = (name: string): TimeZone.TimeZone => {
  const z = TimeZone.make(name)
  if (z === undefined) return assert.fail(`zone ${name} should be known to the runtime`)
  return z
}

describe("TimeZone.make", () => {
  it.effect.each(["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Sao_Paulo"])(
    "knows %s under its own name",
    (name) =>
      Effect.sync(() => {
        expect(zone(name).name).toBe(name)
      })
  )

  // The module documents `name` as the canonical IANA name. ICU (Node 20) resolves
  // these current IANA names to their pre-2022 "backward" aliases (Asia/Calcutta,
  // Asia/Katmandu, Europe/Kiev), which is neither what the user wrote nor IANA's
  // canonical name, and differs between Node versions.
  it.effect.each(["Asia/Kolkata", "Asia/Kathmandu", "Europe/Kyiv"])(
    "reports %s as the IANA name, not ICU's legacy alias",
    (name) =>
      Effect.sync(() => {
        expect(zone(name).name).toBe(name)
      })
  )

  it.effect.each(["Mars/Olympus", "Not A Zone", "", "America/Nowhere", "+25:00"])(
    "returns undefined for the unknown zone %j",
    (name) =>
      Effect.sync(() => {
        expect(TimeZone.make(name)).toBeUndefined()
      })
  )

  it.effect("shares one instance per zone name", () =>
    Effect.sync(() => {
      expect(TimeZone.make("Europe/London")).toBe(TimeZone.make("Europe/London"))
    }))
})

describe("TimeZone UTC fast path", () => {
  const utc = zone("UTC")

  it.effect("UTC is fixed, with offset 0 and no transitions", () =>
    Effect.sync(() => {
      expect(utc.isFixed).toBe(true)
      expect(TimeZone.utc.name).toBe("UTC")
      expect(TimeZone.utc.isFixed).toBe(true)
      for (const instant of [0, at("2026-03-08T07:00:00Z"), at("2026-11-01T06:00:00Z"), at("2040-12-31T23:59:59Z")]) {
        expect(utc.offsetAt(instant)).toBe(0)
        expect(utc.wallAt(instant)).toBe(instant)
      }
      expect(utc.nextTransition(at("2000-01-01T00:00:00Z"), at("2040-01-01T00:00:00Z"))).toBeUndefined()
    }))

  it.effect("UTC resolves every wall time to itself", () =>
    Effect.sync(() => {
      for (const w of [wall(2026, 3, 8, 2, 30), wall(2026, 11, 1, 1, 30), wall(2000, 2, 29, 23, 59, 59)]) {
        expect(utc.resolveWall(w)).toBe(w)
      }
    }))

  it.effect("a zone with DST is not fixed", () =>
    Effect.sync(() => {
      expect(zone("America/New_York").isFixed).toBe(false)
    }))
})

describe("TimeZone.offsetAt", () => {
  // [zone, instant (UTC), offset in minutes]
  const cases: ReadonlyArray<readonly [string, string, number]> = [
    ["America/New_York", "2026-01-15T12:00:00Z", -300], // EST
    ["America/New_York", "2026-07-15T12:00:00Z", -240], // EDT
    ["America/New_York", "1990-07-15T12:00:00Z", -240],
    ["Europe/London", "2026-01-15T12:00:00Z", 0], // GMT
    ["Europe/London", "2026-07-15T12:00:00Z", 60], // BST
    ["Australia/Lord_Howe", "2026-01-15T12:00:00Z", 660], // +11:00 (DST)
    ["Australia/Lord_Howe", "2026-07-15T12:00:00Z", 630], // +10:30
    ["America/Sao_Paulo", "2018-12-01T12:00:00Z", -120], // -02 (DST, abolished in 2019)
    ["America/Sao_Paulo", "2018-07-01T12:00:00Z", -180],
    ["Asia/Kolkata", "2026-07-15T12:00:00Z", 330],
    ["Asia/Kathmandu", "2026-07-15T12:00:00Z", 345],
    // Either side of each 2026 transition, to the millisecond.
    ["America/New_York", "2026-03-08T06:59:59.999Z", -300], // 01:59:59.999 EST
    ["America/New_York", "2026-03-08T07:00:00Z", -240], // 03:00 EDT
    ["America/New_York", "2026-11-01T05:59:59.999Z", -240], // 01:59:59.999 EDT
    ["America/New_York", "2026-11-01T06:00:00Z", -300], // 01:00 EST
    ["Europe/London", "2026-03-29T00:59:59Z", 0],
    ["Europe/London", "2026-03-29T01:00:00Z", 60],
    ["Europe/London", "2026-10-25T00:59:59Z", 60],
    ["Europe/London", "2026-10-25T01:00:00Z", 0],
    ["Australia/Lord_Howe", "2026-04-04T14:59:59Z", 660],
    ["Australia/Lord_Howe", "2026-04-04T15:00:00Z", 630],
    ["Australia/Lord_Howe", "2026-10-03T15:29:59Z", 630],
    ["Australia/Lord_Howe", "2026-10-03T15:30:00Z", 660],
    ["America/Sao_Paulo", "2018-11-04T02:59:59Z", -180],
    ["America/Sao_Paulo", "2018-11-04T03:00:00Z", -120],
    ["America/Sao_Paulo", "2019-02-17T01:59:59Z", -120],
    ["America/Sao_Paulo", "2019-02-17T02:00:00Z", -180]
  ]

  it.effect.each(cases)("%s at %s is %i minutes", ([name, iso, minutes]) =>
    Effect.sync(() => {
      const z = zone(name)
      expect(z.offsetAt(at(iso))).toBe(minutes * MINUTE)
      expect(z.wallAt(at(iso))).toBe(at(iso) + minutes * MINUTE)
    }))

  it.effect("is the same whichever order instants are asked in (cache does not leak between chunks)", () =>
    Effect.sync(() => {
      const z = zone("America/Sao_Paulo")
      const instants = [
        at("2019-02-17T02:00:00Z"),
        at("2018-02-18T01:59:59Z"),
        at("2018-11-04T03:00:00Z"),
        at("2018-02-18T02:00:00Z"),
        at("2018-11-04T02:59:59Z")
      ]
      const expected = [-180, -120, -120, -180, -180]
      expect(instants.map((i) => z.offsetAt(i) / MINUTE)).toEqual(expected)
    }))
})

describe("TimeZone.nextTransition", () => {
  // [zone, from, limit, expected transition or undefined]
  const cases: ReadonlyArray<readonly [string, string, string, string | undefined]> = [
    // 02:00 EST -> 03:00 EDT
    ["America/New_York", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", "2026-03-08T07:00:00Z"],
    // strictly after: 02:00 EDT -> 01:00 EST
    ["America/New_York", "2026-03-08T07:00:00Z", "2026-12-31T00:00:00Z", "2026-11-01T06:00:00Z"],
    ["America/New_York", "2026-03-08T06:59:59Z", "2026-12-31T00:00:00Z", "2026-03-08T07:00:00Z"],
    ["America/New_York", "2026-01-01T00:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:00:00Z"], // limit is inclusive
    ["America/New_York", "2026-01-01T00:00:00Z", "2026-03-08T06:59:59Z", undefined],
    ["America/New_York", "2026-03-09T00:00:00Z", "2026-10-01T00:00:00Z", undefined],
    ["Europe/London", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", "2026-03-29T01:00:00Z"], // 01:00 GMT -> 02:00 BST
    ["Europe/London", "2026-03-29T01:00:00Z", "2026-12-31T00:00:00Z", "2026-10-25T01:00:00Z"], // 02:00 BST -> 01:00 GMT
    // 02:00 +11 -> 01:30 +10:30
    ["Australia/Lord_Howe", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", "2026-04-04T15:00:00Z"],
    // 02:00 +10:30 -> 02:30 +11
    ["Australia/Lord_Howe", "2026-04-04T15:00:00Z", "2026-12-31T00:00:00Z", "2026-10-03T15:30:00Z"],
    // 00:00 -03 -> 01:00 -02
    ["America/Sao_Paulo", "2018-06-01T00:00:00Z", "2019-06-01T00:00:00Z", "2018-11-04T03:00:00Z"],
    // 00:00 -02 -> 23:00 -03
    ["America/Sao_Paulo", "2018-11-04T03:00:00Z", "2019-06-01T00:00:00Z", "2019-02-17T02:00:00Z"],
    ["America/Sao_Paulo", "2019-03-01T00:00:00Z", "2025-01-01T00:00:00Z", undefined], // DST abolished
    ["Asia/Kolkata", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", undefined]
  ]

  it.effect.each(cases)("%s after %s up to %s: %s", ([name, from, limit, expected]) =>
    Effect.sync(() => {
      const found = zone(name).nextTransition(at(from), at(limit))
      expect(found === undefined ? undefined : new Date(found).toISOString()).toBe(
        expected === undefined ? undefined : new Date(at(expected)).toISOString()
      )
    }))

  it.effect("the offset differs on either side of each transition found", () =>
    Effect.sync(() => {
      for (const name of ["America/New_York", "Europe/London", "Australia/Lord_Howe"]) {
        const z = zone(name)
        let cursor = at("2025-01-01T00:00:00Z")
        const end = at("2028-01-01T00:00:00Z")
        let count = 0
        for (;;) {
          const t = z.nextTransition(cursor, end)
          if (t === undefined) break
          expect(t).toBeGreaterThan(cursor)
          expect(t % 1000).toBe(0)
          expect(z.offsetAt(t)).not.toBe(z.offsetAt(t - 1000))
          cursor = t
          count++
        }
        expect(count).toBe(6) // two a year, 2025-2027
      }
    }))
})

describe("TimeZone.nextTransition walked over decades", () => {
  const walk = (name: string, from: string, to: string): Array<string> => {
    const z = zone(name)
    const out: Array<string> = []
    let cursor = at(from)
    for (;;) {
      const t = z.nextTransition(cursor, at(to))
      if (t === undefined) return out
      out.push(new Date(t).toISOString())
      cursor = t
    }
  }
  const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()
  const nthSunday = (year: number, month: number, n: number) =>
    1 + ((7 - new Date(Date.UTC(year, month - 1, 1)).getUTCDay()) % 7) + 7 * (n - 1)
  const lastSunday = (year: number, month: number) =>
    daysIn(year, month) - new Date(Date.UTC(year, month - 1, daysIn(year, month))).getUTCDay()

  it.effect("America/New_York follows the US rules, 2000-2040", () =>
    Effect.sync(() => {
      const expected: Array<string> = []
      for (let y = 2000; y <= 2040; y++) {
        // 2000-2006: first Sunday of April, last Sunday of October; since 2007: second Sunday of March, first of
        // November
        const spring = y >= 2007 ? Date.UTC(y, 2, nthSunday(y, 3, 2), 7) : Date.UTC(y, 3, nthSunday(y, 4, 1), 7)
        const autumn = y >= 2007 ? Date.UTC(y, 10, nthSunday(y, 11, 1), 6) : Date.UTC(y, 9, lastSunday(y, 10), 6)
        expected.push(new Date(spring).toISOString(), new Date(autumn).toISOString())
      }
      expect(walk("America/New_York", "2000-01-01T00:00:00Z", "2040-12-31T00:00:00Z")).toEqual(expected)
    }))

  it.effect("Europe/London follows the EU rule (last Sundays of March and October, 01:00 UTC), 2000-2040", () =>
    Effect.sync(() => {
      const expected: Array<string> = []
      for (let y = 2000; y <= 2040; y++) {
        expected.push(
          new Date(Date.UTC(y, 2, lastSunday(y, 3), 1)).toISOString(),
          new Date(Date.UTC(y, 9, lastSunday(y, 10), 1)).toISOString()
        )
      }
      expect(walk("Europe/London", "2000-01-01T00:00:00Z", "2040-12-31T00:00:00Z")).toEqual(expected)
    }))

  // From zoneinfo: Brazil set its dates by decree year by year, then abolished DST in 2019.
  it.effect("America/Sao_Paulo, 2000-2020", () =>
    Effect.sync(() => {
      expect(walk("America/Sao_Paulo", "2000-01-01T00:00:00Z", "2021-01-01T00:00:00Z")).toEqual(isos([
        "2000-02-27T02:00:00Z",
        "2000-10-08T03:00:00Z",
        "2001-02-18T02:00:00Z",
        "2001-10-14T03:00:00Z",
        "2002-02-17T02:00:00Z",
        "2002-11-03T03:00:00Z",
        "2003-02-16T02:00:00Z",
        "2003-10-19T03:00:00Z",
        "2004-02-15T02:00:00Z",
        "2004-11-02T03:00:00Z",
        "2005-02-20T02:00:00Z",
        "2005-10-16T03:00:00Z",
        "2006-02-19T02:00:00Z",
        "2006-11-05T03:00:00Z",
        "2007-02-25T02:00:00Z",
        "2007-10-14T03:00:00Z",
        "2008-02-17T02:00:00Z",
        "2008-10-19T03:00:00Z",
        "2009-02-15T02:00:00Z",
        "2009-10-18T03:00:00Z",
        "2010-02-21T02:00:00Z",
        "2010-10-17T03:00:00Z",
        "2011-02-20T02:00:00Z",
        "2011-10-16T03:00:00Z",
        "2012-02-26T02:00:00Z",
        "2012-10-21T03:00:00Z",
        "2013-02-17T02:00:00Z",
        "2013-10-20T03:00:00Z",
        "2014-02-16T02:00:00Z",
        "2014-10-19T03:00:00Z",
        "2015-02-22T02:00:00Z",
        "2015-10-18T03:00:00Z",
        "2016-02-21T02:00:00Z",
        "2016-10-16T03:00:00Z",
        "2017-02-19T02:00:00Z",
        "2017-10-15T03:00:00Z",
        "2018-02-18T02:00:00Z",
        "2018-11-04T03:00:00Z",
        "2019-02-17T02:00:00Z"
      ]))
    }))

  it.effect("Australia/Lord_Howe (30-minute shifts), 2015-2030", () =>
    Effect.sync(() => {
      expect(walk("Australia/Lord_Howe", "2015-01-01T00:00:00Z", "2031-01-01T00:00:00Z")).toEqual(isos([
        "2015-04-04T15:00:00Z",
        "2015-10-03T15:30:00Z",
        "2016-04-02T15:00:00Z",
        "2016-10-01T15:30:00Z",
        "2017-04-01T15:00:00Z",
        "2017-09-30T15:30:00Z",
        "2018-03-31T15:00:00Z",
        "2018-10-06T15:30:00Z",
        "2019-04-06T15:00:00Z",
        "2019-10-05T15:30:00Z",
        "2020-04-04T15:00:00Z",
        "2020-10-03T15:30:00Z",
        "2021-04-03T15:00:00Z",
        "2021-10-02T15:30:00Z",
        "2022-04-02T15:00:00Z",
        "2022-10-01T15:30:00Z",
        "2023-04-01T15:00:00Z",
        "2023-09-30T15:30:00Z",
        "2024-04-06T15:00:00Z",
        "2024-10-05T15:30:00Z",
        "2025-04-05T15:00:00Z",
        "2025-10-04T15:30:00Z",
        "2026-04-04T15:00:00Z",
        "2026-10-03T15:30:00Z",
        "2027-04-03T15:00:00Z",
        "2027-10-02T15:30:00Z",
        "2028-04-01T15:00:00Z",
        "2028-09-30T15:30:00Z",
        "2029-03-31T15:00:00Z",
        "2029-10-06T15:30:00Z",
        "2030-04-06T15:00:00Z",
        "2030-10-05T15:30:00Z"
      ]))
    }))

  // Including the 24-hour jump over 2011-12-30 (-10 -> +14).
  it.effect("Pacific/Apia, 2010-2021", () =>
    Effect.sync(() => {
      expect(walk("Pacific/Apia", "2010-01-01T00:00:00Z", "2022-01-01T00:00:00Z")).toEqual(isos([
        "2010-09-26T11:00:00Z",
        "2011-04-02T14:00:00Z",
        "2011-09-24T14:00:00Z",
        "2011-12-30T10:00:00Z",
        "2012-03-31T14:00:00Z",
        "2012-09-29T14:00:00Z",
        "2013-04-06T14:00:00Z",
        "2013-09-28T14:00:00Z",
        "2014-04-05T14:00:00Z",
        "2014-09-27T14:00:00Z",
        "2015-04-04T14:00:00Z",
        "2015-09-26T14:00:00Z",
        "2016-04-02T14:00:00Z",
        "2016-09-24T14:00:00Z",
        "2017-04-01T14:00:00Z",
        "2017-09-23T14:00:00Z",
        "2018-03-31T14:00:00Z",
        "2018-09-29T14:00:00Z",
        "2019-04-06T14:00:00Z",
        "2019-09-28T14:00:00Z",
        "2020-04-04T14:00:00Z",
        "2020-09-26T14:00:00Z",
        "2021-04-03T14:00:00Z"
      ]))
      expect(zone("Pacific/Apia").resolveWall(wall(2011, 12, 30, 12, 0))).toBe(at("2011-12-30T10:00:00Z"))
    }))
})

describe("TimeZone.resolveWall", () => {
  // [zone, wall time, expected instant]
  const cases: ReadonlyArray<readonly [string, number, string, string]> = [
    ["America/New_York", wall(2026, 7, 1, 12, 0), "2026-07-01T16:00:00Z", "unique: 12:00 EDT"],
    ["America/New_York", wall(2026, 11, 1, 1, 30), "2026-11-01T05:30:00Z", "ambiguous: earlier, 01:30 EDT"],
    ["America/New_York", wall(2026, 11, 1, 1, 0), "2026-11-01T05:00:00Z", "ambiguous: earlier, 01:00 EDT"],
    ["America/New_York", wall(2026, 11, 1, 2, 0), "2026-11-01T07:00:00Z", "unique: 02:00 EST"],
    ["America/New_York", wall(2026, 3, 8, 2, 30), "2026-03-08T07:00:00Z", "gap: the transition, 03:00 EDT"],
    ["America/New_York", wall(2026, 3, 8, 2, 0), "2026-03-08T07:00:00Z", "gap start: 03:00 EDT"],
    ["America/New_York", wall(2026, 3, 8, 2, 59, 59), "2026-03-08T07:00:00Z", "gap end: 03:00 EDT"],
    ["America/New_York", wall(2026, 3, 8, 3, 0), "2026-03-08T07:00:00Z", "just after the gap: 03:00 EDT"],
    ["America/New_York", wall(2026, 3, 8, 1, 59, 59), "2026-03-08T06:59:59Z", "just before the gap: 01:59:59 EST"],
    ["Europe/London", wall(2026, 10, 25, 1, 30), "2026-10-25T00:30:00Z", "ambiguous: earlier, 01:30 BST"],
    ["Europe/London", wall(2026, 3, 29, 1, 30), "2026-03-29T01:00:00Z", "gap: 02:00 BST"],
    ["Australia/Lord_Howe", wall(2026, 4, 5, 1, 45), "2026-04-04T14:45:00Z", "ambiguous: earlier, 01:45 +11:00"],
    ["Australia/Lord_Howe", wall(2026, 4, 5, 1, 29, 59), "2026-04-04T14:29:59Z", "unique: 01:29:59 +11:00"],
    ["Australia/Lord_Howe", wall(2026, 10, 4, 2, 15), "2026-10-03T15:30:00Z", "gap: 02:30 +11:00"],
    ["America/Sao_Paulo", wall(2018, 11, 4, 0, 0), "2018-11-04T03:00:00Z", "midnight in the gap: 01:00 -02"],
    ["America/Sao_Paulo", wall(2019, 2, 16, 23, 30), "2019-02-17T01:30:00Z", "ambiguous: earlier, 23:30 -02"],
    ["Asia/Kathmandu", wall(2026, 1, 1, 0, 0), "2025-12-31T18:15:00Z", "unique: +05:45"]
  ]

  it.effect.each(cases)("%s wall %i -> %s (%s)", ([name, w, expected]) =>
    Effect.sync(() => {
      expect(new Date(zone(name).resolveWall(w)).toISOString()).toBe(new Date(at(expected)).toISOString())
    }))

  it.effect("round-trips every first-pass instant, minute by minute, across both 2026 New York changes", () =>
    Effect.sync(() => {
      const z = zone("America/New_York")
      for (
        const [start, end] of [
          [at("2026-03-08T04:00:00Z"), at("2026-03-08T10:00:00Z")],
          [at("2026-11-01T03:00:00Z"), at("2026-11-01T09:00:00Z")]
        ] as const
      ) {
        for (let instant = start; instant < end; instant += MINUTE) {
          const secondPass = z.offsetAt(instant - HOUR) - z.offsetAt(instant) === HOUR
          const expected = secondPass ? instant - HOUR : instant
          expect(z.resolveWall(z.wallAt(instant))).toBe(expected)
        }
      }
    }))
})

describe("TimeZone formatting", () => {
  it.effect.each(
    [
      ["America/New_York", "2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00"],
      ["America/New_York", "2026-03-08T06:59:59Z", "2026-03-08T01:59:59-05:00"],
      ["Australia/Lord_Howe", "2026-04-04T15:00:00Z", "2026-04-05T01:30:00+10:30"],
      ["Asia/Kathmandu", "2025-12-31T18:15:00Z", "2026-01-01T00:00:00+05:45"],
      ["America/St_Johns", "2026-01-15T12:00:00Z", "2026-01-15T08:30:00-03:30"],
      ["UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"]
    ] as const
  )("formatLocal %s %s = %s", ([name, iso, expected]) =>
    Effect.sync(() => {
      expect(TimeZone.formatLocal(at(iso), zone(name))).toBe(expected)
    }))

  it.effect("formatInstant shows milliseconds only when they are not zero", () =>
    Effect.sync(() => {
      expect(TimeZone.formatInstant(at("2026-03-08T07:00:00Z"))).toBe("2026-03-08T07:00:00Z")
      expect(TimeZone.formatInstant(at("2026-03-08T07:00:00.500Z"))).toBe("2026-03-08T07:00:00.500Z")
    }))
})
