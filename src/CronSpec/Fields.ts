/**
 * The six time fields of a cron expression as look-up tables (`Syntax` reads
 * each field's text), and the search for the first matching wall time. Wall
 * times are epoch-style milliseconds of the local calendar (see `TimeZone`), so
 * this file knows nothing about zones or DST.
 */

import { FieldError, parseField, quote, RANGES } from "./Syntax.js"

const DAY = 86_400_000

/** The fields of a parsed expression. Tables give the next allowed value ≥ an index, or -1. */
export interface Fields {
  readonly second: Int8Array
  readonly minute: Int8Array
  readonly hour: Int8Array
  readonly month: Int8Array
  /** Next allowed day-of-month ≥ an index, ignoring `L`; used when day-of-week is `*`. */
  readonly dom: Int8Array
  /** Bit `d` set: day-of-month `d` (1–31) allowed. */
  readonly domMask: number
  /** Bit `n` set: `L-n` allowed (`L` is `L-0`), the n-th day before the month's last. */
  readonly lastMask: number
  /** Bit `w` set: weekday `w` (0 = Sunday) allowed. */
  readonly dowMask: number
  readonly domStar: boolean
  readonly dowStar: boolean
  /**
   * Vixie cron's rule: the minute or the hour field begins with `*` (or `?`).
   * Such schedules follow real time across DST changes; the others are fixed times.
   */
  readonly interval: boolean
}

/** Month names as a sentence reads them, January first. */
export const MONTH_TITLES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December"
]

const nextTable = (values: ReadonlyArray<boolean>, size: number): Int8Array => {
  const table = new Int8Array(size + 1).fill(-1)
  let next = -1
  for (let v = size - 1; v >= 0; v--) {
    if (values[v]) next = v
    table[v] = next
  }
  return table
}

const mask = (values: ReadonlyArray<boolean>): number => {
  let bits = 0
  values.forEach((on, v) => {
    if (on) bits |= 1 << v
  })
  return bits
}

/** Longest length of each month (February in a leap year). */
const MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** With day-of-week `*`, day-of-month alone decides: it must occur in some allowed month. */
const canFire = (f: Fields, months: ReadonlyArray<boolean>): boolean =>
  !f.dowStar || f.domStar || months.some((on, m) => {
    if (!on) return false
    const days = MAX_DAYS[m]!
    // Bits 1..days of the day mask; bits 0..days-1 of the L-n mask.
    return (f.domMask & (2 ** (days + 1) - 2)) !== 0 || (f.lastMask & (2 ** days - 1)) !== 0
  })

/** Parses the six fields (seconds first), or says which one is wrong and why. */
export const parseFields = (
  texts: readonly [string, string, string, string, string, string]
): Fields | FieldError => {
  const [secondText, minuteText, hourText, domText, monthText, dowText] = texts
  const second = parseField(secondText, RANGES.second, false)
  if (second instanceof FieldError) return second
  const minute = parseField(minuteText, RANGES.minute, false)
  if (minute instanceof FieldError) return minute
  const hour = parseField(hourText, RANGES.hour, false)
  if (hour instanceof FieldError) return hour
  const dom = parseField(domText, RANGES.dom, true)
  if (dom instanceof FieldError) return dom
  const month = parseField(monthText, RANGES.month, false)
  if (month instanceof FieldError) return month
  const dow = parseField(dowText, RANGES.dow, false)
  if (dow instanceof FieldError) return dow
  const dowValues = dow.values.slice(0, 7)
  if (dow.values[7]) dowValues[0] = true
  const fields: Fields = {
    second: nextTable(second.values, 60),
    minute: nextTable(minute.values, 60),
    hour: nextTable(hour.values, 24),
    month: nextTable(month.values, 13),
    dom: nextTable(dom.values, 32),
    domMask: mask(dom.values),
    lastMask: dom.last,
    dowMask: mask(dowValues),
    domStar: dom.star,
    dowStar: dow.star,
    interval: /^[*?]/.test(minuteText) || /^[*?]/.test(hourText)
  }
  if (!canFire(fields, month.values)) {
    const names = month.values.flatMap((on, m) => (on ? [MONTH_TITLES[m - 1]!] : []))
    return new FieldError(`it can never fire: day-of-month ${quote(domText)} never occurs in ${names.join(", ")}`)
  }
  return fields
}

// ---------------------------------------------------------------------------
// Calendar arithmetic on day numbers (days since 1970-01-01), after Howard Hinnant.

export const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

const civilFromDays = (days: number): { year: number; month: number; day: number } => {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day }
}

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const daysInMonth = (year: number, month: number) => (month === 2 && !isLeap(year) ? 28 : MAX_DAYS[month]!)

const dayMatches = (f: Fields, year: number, month: number, day: number, dayNumber: number): boolean => {
  const domMatch = (f.domMask & (1 << day)) !== 0 ||
    (f.lastMask !== 0 && (f.lastMask & (1 << (daysInMonth(year, month) - day))) !== 0)
  const weekday = ((dayNumber % 7) + 11) % 7 // 1970-01-01 was a Thursday (4)
  const dowMatch = (f.dowMask & (1 << weekday)) !== 0
  return f.domStar || f.dowStar ? domMatch && dowMatch : domMatch || dowMatch
}

/** How far ahead the search looks: far enough for 29 February across a skipped leap year. */
const SEARCH_DAYS = 366 * 12

/**
 * The first wall time ≥ `from` (whole seconds) that matches `f`, or `Infinity`
 * when there is none within twelve years (never, for a validated expression).
 */
export const nextWall = (f: Fields, from: number): number => {
  let dayNumber = Math.floor(from / DAY)
  const limit = dayNumber + SEARCH_DAYS
  const secondOfDay = Math.floor((from - dayNumber * DAY) / 1000)
  let hour = Math.floor(secondOfDay / 3600)
  let minute = Math.floor(secondOfDay / 60) % 60
  let second = secondOfDay % 60
  let { year, month, day } = civilFromDays(dayNumber)
  const nextDay = (): void => {
    dayNumber++
    day++
    hour = minute = second = 0
    if (day > daysInMonth(year, month)) {
      day = 1
      if (++month > 12) {
        month = 1
        year++
      }
    }
  }
  while (dayNumber <= limit) {
    const allowedMonth = f.month[month]!
    if (allowedMonth !== month) {
      if (allowedMonth < 0) {
        year++
        month = f.month[1]!
      } else month = allowedMonth
      day = 1
      hour = minute = second = 0
      dayNumber = daysFromCivil(year, month, 1)
      continue
    }
    if (!dayMatches(f, year, month, day, dayNumber)) {
      if (f.dowStar && f.lastMask === 0) {
        const allowedDay = f.dom[day]!
        if (allowedDay > day && allowedDay <= daysInMonth(year, month)) {
          dayNumber += allowedDay - day
          day = allowedDay
          hour = minute = second = 0
          continue
        }
        day = daysInMonth(year, month)
        dayNumber = daysFromCivil(year, month, day)
      }
      nextDay()
      continue
    }
    const allowedHour = f.hour[hour]!
    if (allowedHour < 0) {
      nextDay()
      continue
    }
    if (allowedHour !== hour) {
      hour = allowedHour
      minute = second = 0
    }
    const allowedMinute = f.minute[minute]!
    if (allowedMinute < 0) {
      hour++
      minute = second = 0
      continue
    }
    if (allowedMinute !== minute) {
      minute = allowedMinute
      second = 0
    }
    const allowedSecond = f.second[second]!
    if (allowedSecond < 0) {
      minute++
      second = 0
      continue
    }
    return dayNumber * DAY + hour * 3_600_000 + minute * 60_000 + allowedSecond * 1000
  }
  return Infinity
}
