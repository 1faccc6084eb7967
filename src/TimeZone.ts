/**
 * IANA time zones as the scheduler needs them: the UTC offset in effect at an
 * instant, the instants at which it changes, and wall time → instant resolution.
 *
 * Offsets are read from the runtime's `Intl` data once per zone and per 50-day
 * chunk of time, and kept as a short list of transitions, so that computing a
 * next fire time costs array look-ups, not `Intl` calls.
 *
 * Instants are epoch milliseconds. A *wall time* is the local calendar date and
 * clock time encoded the same way (`Date.UTC(y, m, d, h, mi, s)`), so that
 * `wall = instant + offsetAt(instant)`.
 */

const SECOND = 1000
const HOUR = 3_600_000
const DAY = 86_400_000
/** Width of one cached chunk of transitions: a whole number of samples. */
const CHUNK = 50 * DAY
/** Sampling step inside a chunk; offsets are assumed not to change and change back within it. */
const SAMPLE = 12 * HOUR
/** Offsets in the tz database stay within ±16 h. */
const MAX_OFFSET = 16 * HOUR

interface Chunk {
  readonly startOffset: number
  /** Instants at which the offset changes, ascending, each in [chunk start, chunk end). */
  readonly at: ReadonlyArray<number>
  /** The offset in effect from `at[i]` on. */
  readonly offset: ReadonlyArray<number>
}

/**
 * A time zone with cached offset transitions. Build it with {@link make}; one
 * instance per zone name is shared process-wide.
 */
export class TimeZone {
  private readonly chunks = new Map<number, Chunk>()
  private constructor(
    /** The IANA name as configured, with `Intl`'s capitalisation (`utc` → `UTC`). */
    readonly name: string,
    private readonly format: Intl.DateTimeFormat | undefined
  ) {}

  /** @internal */
  static create(name: string, format: Intl.DateTimeFormat | undefined): TimeZone {
    return new TimeZone(name, format)
  }

  /** True for zones whose offset never changes (UTC). */
  get isFixed(): boolean {
    return this.format === undefined
  }

  /** Offset of wall time from UTC, in ms, in effect at `instant`. */
  offsetAt(instant: number): number {
    if (this.format === undefined) return 0
    const chunk = this.chunk(Math.floor(instant / CHUNK))
    let offset = chunk.startOffset
    for (let i = 0; i < chunk.at.length && chunk.at[i]! <= instant; i++) offset = chunk.offset[i]!
    return offset
  }

  /** The first instant in (`instant`, `limit`] at which the offset changes, if any. */
  nextTransition(instant: number, limit: number): number | undefined {
    if (this.format === undefined) return undefined
    for (let index = Math.floor(instant / CHUNK); index * CHUNK <= limit; index++) {
      const chunk = this.chunk(index)
      for (const at of chunk.at) {
        if (at > limit) return undefined
        if (at > instant) return at
      }
    }
    return undefined
  }

  /** The wall time at `instant`. */
  wallAt(instant: number): number {
    return instant + this.offsetAt(instant)
  }

  /**
   * The instant at which the wall clock shows `wall`, resolved as fixed-time
   * schedules need it: the earlier instant when the time occurs twice (a
   * repeated hour), and the first instant after the gap when it does not occur
   * at all (the transition itself).
   */
  resolveWall(wall: number): number {
    if (this.format === undefined) return wall
    let start = wall - MAX_OFFSET
    let offset = this.offsetAt(start)
    const end = wall + MAX_OFFSET
    for (;;) {
      const next = this.nextTransition(start, end)
      const candidate = wall - offset
      if (candidate >= start && (next === undefined || candidate < next)) return candidate
      if (next === undefined) return candidate
      const after = this.offsetAt(next)
      // The wall clock jumps from `next + offset` to `next + after`: `wall` lies in that gap.
      if (after > offset && wall >= next + offset && wall < next + after) return next
      start = next
      offset = after
    }
  }

  private chunk(index: number): Chunk {
    let chunk = this.chunks.get(index)
    if (chunk === undefined) {
      chunk = this.buildChunk(index * CHUNK)
      this.chunks.set(index, chunk)
    }
    return chunk
  }

  private buildChunk(start: number): Chunk {
    const at: Array<number> = []
    const offsets: Array<number> = []
    const end = start + CHUNK
    let previous = start - SECOND
    let previousOffset = this.intlOffset(previous)
    for (let sample = start; sample <= end; sample += SAMPLE) {
      const point = Math.min(sample, end) - (sample === start ? 0 : SECOND)
      const pointOffset = this.intlOffset(point)
      while (pointOffset !== previousOffset) {
        const transition = this.bisect(previous, previousOffset, point)
        const offset = this.intlOffset(transition)
        if (transition >= start && transition < end) {
          at.push(transition)
          offsets.push(offset)
        }
        previous = transition
        previousOffset = offset
      }
      previous = point
      previousOffset = pointOffset
    }
    return { startOffset: this.intlOffset(start), at, offset: offsets }
  }

  /** The first whole second in (`low`, `high`] whose offset differs from `lowOffset`. */
  private bisect(low: number, lowOffset: number, high: number): number {
    while (high - low > SECOND) {
      const middle = low + Math.floor((high - low) / (2 * SECOND)) * SECOND
      if (this.intlOffset(middle) === lowOffset) low = middle
      else high = middle
    }
    return high
  }

  private intlOffset(instant: number): number {
    const whole = Math.floor(instant / SECOND) * SECOND
    let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0
    for (const part of this.format!.formatToParts(whole)) {
      switch (part.type) {
        case "year":
          year = Number(part.value)
          break
        case "month":
          month = Number(part.value)
          break
        case "day":
          day = Number(part.value)
          break
        case "hour":
          hour = Number(part.value)
          break
        case "minute":
          minute = Number(part.value)
          break
        case "second":
          second = Number(part.value)
          break
      }
    }
    const wall = Date.UTC(year, month - 1, day, hour, minute, second)
    // Date.UTC reads years 0–99 as 1900–1999.
    return (year < 100 ? new Date(wall).setUTCFullYear(year) : wall) - whole
  }
}

const zones = new Map<string, TimeZone | null>()

const FIXED_UTC = new Set([
  "UTC",
  "Etc/UTC",
  "Etc/UCT",
  "Etc/Universal",
  "Etc/Zulu",
  "Etc/GMT",
  "GMT",
  "UCT",
  "Universal",
  "Zulu"
])

/**
 * The zone named `name` (an IANA name such as `America/New_York`, or `UTC`), or
 * `undefined` when the runtime does not know it.
 */
export const make = (name: string): TimeZone | undefined => {
  const cached = zones.get(name)
  if (cached !== undefined) return cached ?? undefined
  let zone: TimeZone | null = null
  if (name.trim() !== "") {
    try {
      const format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric"
      })
      const resolved = format.resolvedOptions().timeZone
      // Keep the name as configured (ICU may answer an older alias, Asia/Calcutta for Asia/Kolkata), fixing only its
      // case.
      const display = resolved.toLowerCase() === name.toLowerCase() ? resolved : name
      zone = FIXED_UTC.has(resolved)
        ? TimeZone.create(display === "Etc/UTC" ? "UTC" : display, undefined)
        : TimeZone.create(display, format)
    } catch {
      // An unknown zone: Intl throws a RangeError; the caller reports the name.
      zone = null
    }
  }
  zones.set(name, zone)
  return zone ?? undefined
}

/** The UTC zone. */
export const utc: TimeZone = make("UTC")!

/** `2026-03-08T03:00:00-04:00`: the wall time of `instant` in `zone`, with its offset. */
export const formatLocal = (instant: number, zone: TimeZone): string => {
  const offset = zone.offsetAt(instant)
  const wall = new Date(instant + offset).toISOString().replace(/\.000Z$/, "").replace(/Z$/, "")
  const sign = offset < 0 ? "-" : "+"
  const minutes = Math.round(Math.abs(offset) / 60_000)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${wall}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`
}

/** `2026-03-08T07:00:00Z`: an instant in UTC, with milliseconds only when they are not zero. */
export const formatInstant = (instant: number): string => new Date(instant).toISOString().replace(/\.000Z$/, "Z")
