/**
 * An expression in words, for people reading a preview: "at 08:00 on Monday, America/Sao_Paulo". The common shapes
 * (fixed times; every second, minute or hour; days of the week, a day of the month, a month; descriptors; `@every`)
 * are put in words; any other is shown as written, with its zone, rather than described wrongly.
 */
import { MONTH_TITLES } from "./Fields.js"
import { RANGES } from "./Syntax.js"

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

const DESCRIPTORS: Record<string, string> = {
  "@yearly": "at 00:00 on 1 January",
  "@annually": "at 00:00 on 1 January",
  "@monthly": "at 00:00 on day 1 of the month",
  "@weekly": "at 00:00 on Sunday",
  "@daily": "at 00:00 every day",
  "@midnight": "at 00:00 every day",
  "@hourly": "at minute 0 of every hour"
}

const number = (field: string, max: number): number | undefined =>
  /^\d{1,2}$/.test(field) && Number(field) <= max ? Number(field) : undefined

const any = (field: string) => field === "*" || field === "?"

const two = (n: number) => String(n).padStart(2, "0")

/** A day of the week, by number (0 or 7 is Sunday) or name. */
const day = (field: string): string | undefined => {
  const n = number(field, 7)
  if (n !== undefined) return DAYS[n % 7]
  const named = RANGES.dow.names.get(field.toLowerCase())
  return named === undefined ? undefined : DAYS[named]
}

const month = (field: string): string | undefined => {
  const n = number(field, 12)
  const value = n ?? RANGES.month.names.get(field.toLowerCase())
  return value === undefined || value === 0 ? undefined : MONTH_TITLES[value - 1]
}

const list = (words: ReadonlyArray<string>) =>
  words.length === 1 ? words[0]! : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`

/** The time of day in words, or undefined when it is not one of the shapes described. */
const timeOf = (second: string, minute: string, hour: string): { text: string; daily: boolean } | undefined => {
  const s = number(second, 59)
  const m = number(minute, 59)
  const h = number(hour, 23)
  if (s !== undefined && m !== undefined && h !== undefined) {
    return { text: `at ${two(h)}:${two(m)}${s === 0 ? "" : `:${two(s)}`}`, daily: true }
  }
  if (s !== undefined && m !== undefined && any(hour)) {
    return { text: `at minute ${m}${s === 0 ? "" : `, second ${s},`} of every hour`, daily: false }
  }
  if (s !== undefined && any(minute) && any(hour)) {
    return { text: s === 0 ? "every minute" : `every minute at second ${s}`, daily: false }
  }
  if (any(second) && any(minute) && any(hour)) return { text: "every second", daily: false }
  return undefined
}

/** The days in words ("" for every day), or undefined when they are not one of the shapes described. */
const daysOf = (dom: string, dow: string): string | undefined => {
  if (any(dom) && any(dow)) return ""
  if (any(dom)) {
    const range = /^([^-,]+)-([^-,]+)$/.exec(dow)
    if (range) {
      const from = day(range[1]!)
      const to = day(range[2]!)
      return from === undefined || to === undefined ? undefined : ` on ${from} to ${to}`
    }
    const days = dow.split(",").map(day)
    return days.some((d) => d === undefined) ? undefined : ` on ${list(days as Array<string>)}`
  }
  const n = number(dom, 31)
  return any(dow) && n !== undefined && n > 0 ? ` on day ${n} of the month` : undefined
}

/** `expression` (in `zone` unless it says `CRON_TZ=`) in words, ending with the zone. */
export const describe = (expression: string, zone: string): string => {
  let rest = expression.trim()
  const prefix = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(rest)
  if (prefix) {
    zone = prefix[1]!
    rest = rest.slice(prefix[0].length)
  }
  const asWritten = `${rest}, ${zone}`
  const every = /^@every\s+(\S+)$/i.exec(rest)
  if (every) return `every ${every[1]}, ${zone}`
  if (rest.startsWith("@")) {
    const words = DESCRIPTORS[rest.toLowerCase()]
    return words === undefined ? asWritten : `${words}, ${zone}`
  }
  const fields = rest.split(/\s+/)
  if (fields.length === 5) fields.unshift("0")
  if (fields.length !== 6) return asWritten
  const [second, minute, hour, dom, monthField, dow] = fields as [string, string, string, string, string, string]
  const time = timeOf(second, minute, hour)
  const days = daysOf(dom, dow)
  if (time === undefined || days === undefined) return asWritten
  const inMonth = any(monthField) ? "" : month(monthField)
  if (inMonth === undefined) return asWritten
  const when = days === "" && time.daily ? " every day" : days
  return `${time.text}${when}${inMonth === "" ? "" : ` in ${inMonth}`}, ${zone}`
}
