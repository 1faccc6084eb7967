/**
 * The syntax of one cron field (values, names, ranges, steps, lists, `L` and
 * `L-n`), read into the values it allows, or a reason that names what is wrong
 * in the user's own words. Stricter than robfig/cron where robfig silently
 * drops or reinterprets text: see README "Differences from robfig/cron".
 */

/** Bounds and names of one field. */
export interface FieldRange {
  readonly label: string
  readonly min: number
  readonly max: number
  /** The highest value `*` and `N/step` reach: 6 for day-of-week, where 7 is only an alias of Sunday. */
  readonly top: number
  readonly names?: ReadonlyMap<string, number>
  /** The names as the user reads them in a message (`JAN-DEC`). */
  readonly namesHint?: string
}

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

export const RANGES = {
  second: { label: "second", min: 0, max: 59, top: 59 },
  minute: { label: "minute", min: 0, max: 59, top: 59 },
  hour: { label: "hour", min: 0, max: 23, top: 23 },
  dom: { label: "day-of-month", min: 1, max: 31, top: 31 },
  month: {
    label: "month",
    min: 1,
    max: 12,
    top: 12,
    names: new Map(MONTH_NAMES.map((n, i) => [n, i + 1])),
    namesHint: "JAN-DEC"
  },
  // 7 is accepted as Sunday, as Vixie cron and most schedulers do.
  dow: {
    label: "day-of-week",
    min: 0,
    max: 7,
    top: 6,
    names: new Map(DAY_NAMES.map((n, i) => [n, i])),
    namesHint: "SUN-SAT"
  }
} satisfies Record<string, FieldRange>

/** A field that could not be parsed; `reason` is shown to the user. */
export class FieldError {
  constructor(readonly reason: string) {}
}

/** What one field allows. */
export interface Parsed {
  /** Index `v` true: value `v` allowed. */
  readonly values: Array<boolean>
  /** robfig's star bit: an element is `*` or `?` with step 1. Decides the day-of-month/day-of-week rule. */
  star: boolean
  /** Bit `n` set: `L-n` allowed (`L` is `L-0`). */
  last: number
}

/** One code point as `\uXXXX` escapes (two for a surrogate pair). */
const unicodeEscape = (char: string): string =>
  char.split("").map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")

/**
 * `text` in double quotes, JSON-escaped, with control, format (bidi, zero-width)
 * and line-separator characters as `\uXXXX`: user input never reaches a
 * terminal or a log raw.
 */
export const quote = (text: string): string =>
  JSON.stringify(text).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, unicodeEscape)

/** Days `L-n` may count back from the last day of the month. */
const MAX_LAST = 30

const rangeText = (range: FieldRange) => `${range.min}-${range.max}`

/** The field being read, for messages. */
interface Context {
  readonly range: FieldRange
  readonly fail: (reason: string) => FieldError
  /** Where an error is when the field is a list (` in "5-"`); empty when the element is the whole field. */
  readonly where: string
}

/** One bound of a range (or a single value): a number, as written, or a name. */
const parseValue = (text: string, whole: string, side: "start" | "end", { fail, range, where }: Context) => {
  if (text === "*" || text === "?") return fail(`a range cannot ${side} with "${text}": write "${text}" alone`)
  if (whole === "") return fail("a value is missing before \"/\"")
  if (text === "") return fail(`range ${quote(whole)} has no ${side}`)
  if (text.startsWith("-") && !/^-\d+$/.test(text)) {
    // "-mon", "-": a range with no start; "5--x": one "-" too many.
    return fail(side === "start" ? `range ${quote(whole)} has no start` : `too many "-"${where}`)
  }
  if (/^\+\d+$/.test(text)) return fail(`"+" is not allowed: write ${text.slice(1)}`)
  if (/^-?\d+$/.test(text)) {
    const value = Number(text)
    const inRange = !text.startsWith("-") && value >= range.min && value <= range.max
    return inRange ? value : fail(`${text} is not in ${rangeText(range)}`)
  }
  const named = range.names?.get(text.toLowerCase())
  if (named !== undefined) return named
  return fail(`${quote(text)} is not a whole number${range.namesHint ? ` or a name (${range.namesHint})` : ""}`)
}

const parseStep = (text: string, { fail, range, where }: Context): number | FieldError => {
  const size = range.top - range.min + 1
  if (text === "") return fail(`the step after "/" is missing${where}`)
  if (/^\+\d+$/.test(text)) return fail(`"+" is not allowed: write ${text.slice(1)}`)
  if (!/^-?\d+$/.test(text)) return fail(`step ${quote(text)} is not a whole number in 1-${size}`)
  const step = Number(text)
  return step >= 1 && step <= size ? step : fail(`step ${text} is not in 1-${size}`)
}

/** A value, a range or `*`, with an optional step: `5`, `MON-FRI`, `*\/15`, `5/15`, `1-30/10`. */
const parsePart = (part: string, parsed: Parsed, context: Context): FieldError | undefined => {
  const { fail, range, where } = context
  const [whole = "", stepText, ...extra] = part.split("/")
  if (extra.length > 0) return fail(`too many "/"${where}`)
  const isStar = whole === "*" || whole === "?"
  let start = range.min
  let end = range.top
  if (!isStar) {
    // A leading "-" belongs to the number ("-1", "5--1"): a negative value is out of range, not a syntax puzzle.
    const bounds = /^(-?[^-]*)(?:-(-?[^-]*))?$/.exec(whole)
    if (bounds === null) return fail(`too many "-"${where}`)
    const first = parseValue(bounds[1] ?? "", whole, "start", context)
    if (first instanceof FieldError) return first
    const second = bounds[2] === undefined ? first : parseValue(bounds[2], whole, "end", context)
    if (second instanceof FieldError) return second
    start = first
    // "N/step" means "N-max/step", as in robfig/cron (7, Sunday, stays 7).
    end = bounds[2] === undefined && stepText !== undefined ? Math.max(range.top, start) : second
  }
  const step = stepText === undefined ? 1 : parseStep(stepText, context)
  if (step instanceof FieldError) return step
  if (start > end) return fail(`range ${quote(whole)} ends before it starts`)
  for (let v = start; v <= end; v += step) parsed.values[v] = true
  if (isStar && step === 1) parsed.star = true
  return undefined
}

/** `L` or `L-n` in day-of-month; anything else that begins with `L` there is not a value. */
const parseLast = (part: string, { fail, where }: Context): number | FieldError => {
  const match = /^L(?:-(\d*))?$/i.exec(part)
  if (match === null) return fail(`"L" stands alone or as L-n (L-2), never in a range or a step${where}`)
  const days = match[1]
  if (days === "") return fail(`${quote(part)} needs a number of days after "-" (L-2)`)
  if (days !== undefined && Number(days) > MAX_LAST) {
    return fail(`${days} is not in 0-${MAX_LAST} (L-n counts days back from the last day of the month)`)
  }
  return Number(days ?? 0)
}

const emptyElement = (index: number, count: number): string =>
  index === 0 ? "nothing before the first \",\"" : index === count - 1
    ? "nothing after the last \",\""
    : "nothing between two \",\""

/** Parses one field. `allowLast`: day-of-month, where `L` and `L-n` are values. */
export const parseField = (field: string, range: FieldRange, allowLast: boolean): Parsed | FieldError => {
  const fail = (reason: string) => new FieldError(`${range.label} field ${quote(field)}: ${reason}`)
  if (field === "") return new FieldError(`${range.label} field is empty`)
  const parsed: Parsed = { values: new Array<boolean>(range.max + 1).fill(false), star: false, last: 0 }
  const parts = field.split(",")
  for (const [index, part] of parts.entries()) {
    if (part === "") return fail(emptyElement(index, parts.length))
    const context: Context = { range, fail, where: part === field ? "" : ` in ${quote(part)}` }
    if (allowLast ? /L/i.test(part) : /^L(-\d*)?$/i.test(part)) {
      if (!allowLast) return fail("\"L\" is only allowed in day-of-month")
      const days = parseLast(part, context)
      if (days instanceof FieldError) return days
      parsed.last |= 1 << days
      continue
    }
    const error = parsePart(part, parsed, context)
    if (error) return error
  }
  return parsed
}
