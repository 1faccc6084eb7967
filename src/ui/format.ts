/** Times, offsets and durations as the page shows them. */

const pad = (n: number) => String(n).padStart(2, "0")

const partsIn = (date: Date, timeZone: string | undefined) => {
  const parts = new Intl.DateTimeFormat("en-CA", {
    ...(timeZone !== undefined ? { timeZone } : {}),
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    weekday: "short",
    hourCycle: "h23"
  }).formatToParts(date)
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? ""
  return {
    date: `${get("year")}-${get("month")}-${get("day")}`,
    time: `${get("hour")}:${get("minute")}:${get("second")}`,
    weekday: get("weekday")
  }
}

/** `2026-03-08 03:00:00` in `timeZone` (default: the browser's). */
export const dateTime = (iso: string | undefined, timeZone?: string): string => {
  if (iso === undefined) return "—"
  const { date, time } = partsIn(new Date(iso), timeZone)
  return `${date} ${time}`
}

/** `Sun 2026-03-08 03:00:00` in `timeZone`. */
export const wallClock = (iso: string, timeZone: string): string => {
  const { date, time, weekday } = partsIn(new Date(iso), timeZone)
  return `${weekday} ${date} ${time}`
}

/** The UTC offset of `timeZone` at `date`: `UTC-03:00`, `UTC+05:30`, `UTC`. */
export const offset = (date: Date, timeZone: string): string => {
  const name = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
    .formatToParts(date)
    .find((p) => p.type === "timeZoneName")?.value ?? "GMT"
  return name === "GMT" ? "UTC" : name.replace("GMT", "UTC")
}

/** `in 3 min`, `12 s ago`. */
export const relative = (iso: string | undefined, now = Date.now()): string => {
  if (iso === undefined) return "—"
  const delta = new Date(iso).getTime() - now
  const abs = Math.abs(delta)
  const text = abs < 1_000
    ? "now"
    : abs < 60_000
    ? `${Math.round(abs / 1000)} s`
    : abs < 3_600_000
    ? `${Math.round(abs / 60_000)} min`
    : abs < 86_400_000
    ? `${(abs / 3_600_000).toFixed(1)} h`
    : `${(abs / 86_400_000).toFixed(1)} d`
  return text === "now" ? text : delta > 0 ? `in ${text}` : `${text} ago`
}

/** `850 ms`, `12.4 s`, `3 min 05 s`, `2 h 10 min`. */
export const duration = (ms: number | undefined): string => {
  if (ms === undefined) return "—"
  if (ms < 1_000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${pad(Math.round((ms % 60_000) / 1000))} s`
  return `${Math.floor(ms / 3_600_000)} h ${pad(Math.round((ms % 3_600_000) / 60_000))} min`
}

/** A `datetime-local` input's value (the browser's zone) as an ISO instant; undefined when empty. */
export const fromLocalInput = (value: string): string | undefined =>
  value === "" ? undefined : new Date(value).toISOString()

/** An instant as a `datetime-local` input's value, in the browser's zone. */
export const toLocalInput = (date: Date): string => {
  const { date: day, time } = partsIn(date, undefined)
  return `${day}T${time.slice(0, 5)}`
}
