/**
 * Cron expressions: parsing and next-fire-time computation, time zones and DST
 * included. The syntax is robfig/cron v3's (5 fields, or 6 with seconds first;
 * ranges, steps, lists, names, `?`, descriptors, `@every`, `CRON_TZ=`), plus `L`
 * and `L-n` in day-of-month. The DST rule is Vixie cron's, made exact: see
 * README "Semantics".
 */
import { Either, Schema } from "effect"
import { type Fields, nextWall, parseFields } from "./CronSpec/Fields.js"
import { FieldError, quote } from "./CronSpec/Syntax.js"
import * as TimeZone from "./TimeZone.js"

/**
 * An expression that cannot be parsed, names an unknown time zone, or can
 * never fire (`0 0 30 2 *`). `job` is set when the expression belongs to a job
 * being registered. The message shows the job and the expression quoted, with
 * control characters escaped (`\u001b`), so that no input reaches a terminal raw.
 */
export class InvalidCronExpression extends Schema.TaggedError<InvalidCronExpression>()("InvalidCronExpression", {
  expression: Schema.String,
  reason: Schema.String,
  job: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const job = this.job === undefined ? "" : `job ${quote(this.job)}: `
    return `${job}invalid cron expression ${quote(this.expression)}: ${this.reason}`
  }
}

const SECOND = 1000
/**
 * Shortest `@every` period: the shortest the engine keeps without missing slots on a busy machine (a pause of the
 * process longer than a period makes it miss one). robfig raises shorter periods to a second; here they are an
 * error, which says so.
 */
export const MIN_EVERY = 500
/** Longest `@every` period: beyond it, fire times leave the range of a `Date`. */
const MAX_EVERY = 100 * 366 * 86_400_000

const DESCRIPTORS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *"
}

const UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000
}

/** Go's duration syntax, as robfig's `@every` takes it: `1h30m`, `90s`, `500ms`, `1.5h`. */
const parseDuration = (text: string): number | undefined => {
  if (!/^(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))*$/.test(text)) {
    return undefined
  }
  let total = 0
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(amount) * UNITS[unit!]!
  }
  return Math.round(total)
}

/**
 * A parsed schedule, immutable and shared by every job with the same
 * expression and zone.
 */
export class CronSpec {
  /** @internal */
  constructor(
    /** The expression as written, trimmed. */
    readonly expression: string,
    /** The zone the schedule is read in: the `CRON_TZ=` prefix, else the job's or the worker's. */
    readonly zone: TimeZone.TimeZone,
    private readonly fields: Fields | undefined,
    /** For `@every`: the period in milliseconds. */
    readonly everyMillis: number | undefined
  ) {}

  get timezone(): string {
    return this.zone.name
  }

  /** `every` for `@every`; `interval` or `fixed` for cron fields (see README "Semantics"). */
  get kind(): "every" | "interval" | "fixed" {
    return this.fields === undefined ? "every" : this.fields.interval ? "interval" : "fixed"
  }

  /**
   * The first fire instant strictly after `after` (epoch ms); `Infinity` never
   * happens for a spec that parsed. `@every` counts whole periods from `anchor`
   * (the job's registration; by default `after` itself).
   */
  next(after: number, anchor: number = after): number {
    if (this.bounds !== undefined) {
      const next = this.unbounded(Math.max(after, this.bounds.start - 1), anchor)
      return next >= this.bounds.end ? Infinity : next
    }
    return this.unbounded(after, anchor)
  }

  /**
   * The same schedule, firing only at instants in [`start`, `end`): a schedule's `startAt` and `endAt`. Past `end`,
   * `next` is `Infinity`, so the clock leaves the job out.
   */
  within(start: number = -Infinity, end: number = Infinity): CronSpec {
    if (start === -Infinity && end === Infinity) return this
    const bounded = new CronSpec(this.expression, this.zone, this.fields, this.everyMillis)
    bounded.bounds = { start, end }
    return bounded
  }

  /** `startAt` and `endAt` of a schedule created at run time; none for code jobs. */
  private bounds: { readonly start: number; readonly end: number } | undefined = undefined

  private unbounded(after: number, anchor: number): number {
    if (this.fields === undefined) {
      const period = this.everyMillis!
      return anchor + (Math.floor((after - anchor) / period) + 1) * period
    }
    return this.fields.interval ? this.nextInterval(after, this.fields) : this.nextFixed(after, this.fields)
  }

  /** Interval schedules fire at every real instant whose wall time matches. */
  private nextInterval(after: number, fields: Fields): number {
    let instant = Math.floor(after / SECOND) * SECOND + SECOND
    for (;;) {
      const wall = this.zone.wallAt(instant)
      const match = nextWall(fields, wall)
      if (match === Infinity) return Infinity
      const candidate = instant + (match - wall)
      const transition = this.zone.nextTransition(instant, candidate)
      if (transition === undefined) return candidate
      instant = transition
    }
  }

  /**
   * Fixed-time schedules fire once per matching wall time: the earlier pass of
   * a repeated time, the end of the gap for a skipped one.
   */
  private nextFixed(after: number, fields: Fields): number {
    let from = Math.floor(this.zone.wallAt(after) / SECOND) * SECOND + SECOND
    for (;;) {
      const match = nextWall(fields, from)
      if (match === Infinity) return Infinity
      const instant = this.zone.resolveWall(match)
      if (instant > after) return instant
      from = match + SECOND
    }
  }
}

const cache = new Map<string, CronSpec>()
/** Parsed specs kept at most; past that the cache starts again. */
const MAX_CACHED = 10_000

/** Options of {@link parse}. */
export interface ParseOptions {
  /** Zone for expressions without a `CRON_TZ=` prefix. Default `UTC`. */
  readonly timezone?: string | undefined
}

const fail = (expression: string, reason: string) => Either.left(new InvalidCronExpression({ expression, reason }))

const parseUncached = (expression: string, zoneName: string): Either.Either<CronSpec, InvalidCronExpression> => {
  let rest = expression.trim()
  const prefix = /^(?:CRON_TZ|TZ)=(\S*)(?:\s+|$)/.exec(rest)
  if (prefix) {
    zoneName = prefix[1]!
    rest = rest.slice(prefix[0].length)
    if (zoneName === "") return fail(expression, `the time zone after "${prefix[0].split("=")[0]}=" is empty`)
  }
  const zone = TimeZone.make(zoneName)
  if (zone === undefined) return fail(expression, `unknown time zone ${quote(zoneName)}`)
  if (rest === "") return fail(expression, "the expression is empty")
  const every = /^@every(?=\s|$)\s*(.*)$/is.exec(rest)
  if (every) {
    const text = every[1]!
    if (text === "") return fail(expression, "@every needs a duration, such as \"@every 1h30m\" or \"@every 500ms\"")
    const sign = /^[+-]/.test(text) ? text.slice(0, 1) : ""
    const millis = parseDuration(text.slice(sign.length))
    if (millis === undefined) return fail(expression, `${quote(text)} is not a duration (examples: 1h30m, 90s, 500ms)`)
    if (sign === "+") return fail(expression, `"+" is not allowed: write @every ${text.slice(1)}`)
    if (sign === "-" || millis < MIN_EVERY) {
      return fail(
        expression,
        `@every needs a period of at least ${MIN_EVERY}ms (the shortest this scheduler keeps), got ${quote(text)}`
      )
    }
    if (millis > MAX_EVERY) return fail(expression, `@every needs a period of at most 100 years, got ${quote(text)}`)
    return Either.right(new CronSpec(expression.trim(), zone, undefined, millis))
  }
  if (rest.startsWith("@")) {
    const fields = DESCRIPTORS[rest.toLowerCase()]
    if (fields === undefined) {
      return fail(
        expression,
        `unknown descriptor ${quote(rest)} (known: ${Object.keys(DESCRIPTORS).join(" ")} @every <duration>)`
      )
    }
    rest = fields
  }
  const texts = rest.split(/\s+/)
  if (texts.length === 5) texts.unshift("0")
  if (texts.length !== 6) {
    return fail(
      expression,
      `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got ${texts.length}`
    )
  }
  const [second = "", minute = "", hour = "", dom = "", month = "", dow = ""] = texts
  const parsed = parseFields([second, minute, hour, dom, month, dow])
  if (parsed instanceof FieldError) return fail(expression, parsed.reason)
  return Either.right(new CronSpec(expression.trim(), zone, parsed, undefined))
}

/**
 * Parses `expression`. Identical expressions in the same zone share one
 * `CronSpec`, so 10,000 jobs on a few schedules hold a few parsed specs.
 */
export const parse = (
  expression: string,
  options?: ParseOptions
): Either.Either<CronSpec, InvalidCronExpression> => {
  const zoneName = options?.timezone ?? "UTC"
  const key = `${zoneName}\n${expression}`
  const cached = cache.get(key)
  if (cached !== undefined) return Either.right(cached)
  const result = parseUncached(expression, zoneName)
  if (Either.isRight(result)) {
    // Expressions come from code and from the admin API's previews: bounded, whatever is sent.
    if (cache.size >= MAX_CACHED) cache.clear()
    cache.set(key, result.right)
  }
  return result
}

/** The next `count` fire instants after `after` (epoch ms), in order. */
export const nextN = (spec: CronSpec, after: number, count: number, anchor: number = after): Array<number> => {
  const out: Array<number> = []
  let cursor = after
  while (out.length < count) {
    cursor = spec.next(cursor, anchor)
    if (cursor === Infinity) break
    out.push(cursor)
  }
  return out
}
