/**
 * The worker's log lines: one JSON object per line on stdout (or a readable
 * line per entry with `LOG_FORMAT=pretty`), carrying `service`, the log
 * annotations of the current fiber (`job`, `run_id`, `nominal_at`, …) and the
 * current span's `trace_id` and `span_id`. Every line goes through
 * `Redact.scrub`: no secret reaches the log.
 */
import {
  Cause,
  Context,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  HashSet,
  Inspectable,
  Layer,
  Logger,
  LogLevel,
  Option,
  Tracer
} from "effect"
import * as Redact from "./Redact.js"
import type { LogFormat } from "./WorkerConfig.js"

const LEVEL_NAMES: Record<string, string> = {
  All: "TRACE",
  Trace: "TRACE",
  Debug: "DEBUG",
  Info: "INFO",
  Warning: "WARN",
  Error: "ERROR",
  Fatal: "FATAL",
  None: "OFF"
}

/** The fields of one log line, in the order they are written. */
export interface Entry {
  readonly time: Date
  readonly level: string
  readonly service: string
  readonly msg: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** Values JSON cannot take as they are: dates, bigints, errors, cycles. */
const jsonSafe = (value: unknown): unknown => {
  const seen = new WeakSet<object>()
  const walk = (v: unknown): unknown => {
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString()
    if (typeof v === "bigint") return v.toString()
    if (typeof v === "function" || typeof v === "symbol") return String(v)
    if (v instanceof Error) return v.message === "" ? v.name : `${v.name}: ${v.message}`
    if (typeof v !== "object" || v === null) return v
    if (seen.has(v)) return "[Circular]"
    seen.add(v)
    const out = Array.isArray(v) ? v.map(walk) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    seen.delete(v)
    return out
  }
  return walk(value)
}

/** What `key in line` finds on `formatJson`'s line object: its own keys and `Object.prototype`'s. */
const LINE_KEYS = { time: 0, level: 0, service: 0, msg: 0 }

/** Printable ASCII but `"` and a backslash: JSON writes such a string as it is, between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** `JSON.stringify(text)`, without its cost for the common string (a fifth of the time, measured). */
const quote = (text: string): string => (PLAIN.test(text) ? `"${text}"` : JSON.stringify(text))

/** The last line's time and its ISO text: the runs of one second log within a few milliseconds of each other. */
let lastMillis = NaN
let lastIso = ""
const isoOf = (date: Date): string => {
  const millis = date.getTime()
  if (millis !== lastMillis) {
    lastIso = date.toISOString()
    lastMillis = millis
  }
  return lastIso
}

/** A field's value as `JSON.stringify` writes it in the line's object (never `undefined`: those are left out). */
const valueJson = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return quote(value)
    case "number":
      return Number.isFinite(value) ? String(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    default:
      return JSON.stringify(jsonSafe(value))
  }
}

/** The start of a JSON line, up to its message. */
const head = (time: Date, level: string, serviceJson: string, msg: string): string =>
  `{"time":"${isoOf(time)}","level":${quote(level)},"service":${serviceJson},"msg":${quote(msg)}`

/** `,"key":value`, or nothing for a field the line leaves out (`undefined`, or named like one of the line's own). */
const field = (key: string, value: unknown): string =>
  value === undefined || key in LINE_KEYS ? "" : `,${quote(key)}:${valueJson(value)}`

/** A key that may be an array index, which JSON writes before all others: such lines go through the line object. */
const indexLike = (key: string): boolean => {
  const first = key.charCodeAt(0)
  return first >= 48 && first <= 57
}

/**
 * One JSON line: what `JSON.stringify` writes of the line's object, without building it. Field names never shadow
 * `time`, `level`, `service` or `msg`.
 */
export const formatJson = (entry: Entry): string => {
  let text = head(entry.time, entry.level, quote(entry.service), entry.msg)
  for (const key in entry.fields) {
    if (indexLike(key)) return viaObject(entry)
    text += field(key, entry.fields[key])
  }
  return Redact.scrub(text + "}")
}

/** `formatJson` by `JSON.stringify` of the line's object. */
const viaObject = (entry: Entry): string => {
  const line: Record<string, unknown> = {
    time: entry.time.toISOString(),
    level: entry.level,
    service: entry.service,
    msg: entry.msg
  }
  for (const key in entry.fields) {
    if (key in line) continue
    const value = entry.fields[key]
    line[key] = typeof value === "object" || typeof value === "bigint" || typeof value === "function" ||
        typeof value === "symbol"
      ? jsonSafe(value)
      : value
  }
  return Redact.scrub(JSON.stringify(line))
}

/** DEL and the C1 controls, which JSON leaves as they are, as `\u` escapes. */
const escapeC1 = (text: string) =>
  text.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** `2026-11-29T10:00:00.000Z INFO  job started job=cleanup run_id=…`, as the Go worker printed. */
export const formatPretty = (entry: Entry): string => {
  const fields = Object.entries(entry.fields)
    .map(([key, value]) => {
      const rendered = jsonSafe(value)
      const text = typeof rendered === "string" ? rendered : JSON.stringify(rendered)
      // Quoted (JSON-escaped, C1 controls too) when it has spaces, quotes or control characters: one token, no raw
      // escape sequences.
      // eslint-disable-next-line no-control-regex
      const quoted = /[\s"=\u0000-\u001f\u007f-\u009f]/.test(text) || text === ""
      return `${key}=${quoted ? escapeC1(JSON.stringify(text)) : text}`
    })
    .join(" ")
  return Redact.scrub(
    `${entry.time.toISOString()} ${entry.level.padEnd(5)} ${entry.msg}${fields === "" ? "" : ` ${fields}`}`
  )
}

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((part) => (typeof part === "string" ? part : Inspectable.toStringUnknown(part))).join(" ")
}

/** The span the line was logged in, if any. */
const spanOf = (options: Logger.Logger.Options<unknown>) =>
  Context.getOption(FiberRefs.getOrDefault(options.context, FiberRef.currentContext), Tracer.ParentSpan)

/** The line's level as written. */
const levelOf = (options: Logger.Logger.Options<unknown>): string =>
  LEVEL_NAMES[options.logLevel._tag] ?? options.logLevel.label

/** The line's cause as its `error` field, if it has one. */
const errorOf = (options: Logger.Logger.Options<unknown>): string | undefined =>
  Cause.isEmpty(options.cause) ? undefined : Cause.pretty(options.cause, { renderErrorCause: true })

/** The log entry Effect hands a logger, flattened into our fields. */
export const toEntry = (service: string, options: Logger.Logger.Options<unknown>): Entry => {
  const fields: Record<string, unknown> = {}
  for (const [key, value] of HashMap.toEntries(options.annotations)) fields[key] = value
  const span = spanOf(options)
  if (Option.isSome(span)) {
    fields.trace_id ??= span.value.traceId
    fields.span_id ??= span.value.spanId
  }
  const error = fields.error === undefined ? errorOf(options) : undefined
  if (error !== undefined) fields.error = error
  return {
    time: options.date,
    level: levelOf(options),
    service,
    msg: messageText(options.message),
    fields
  }
}

/**
 * Lines on their way to stdout or stderr. A line below ERROR waits for the end of the current turn of the event
 * loop (a microtask), and the lines waiting then go out together in one write: the runs that start together (a
 * thousand jobs on one second) cost one system call, not two per run. An ERROR line goes out at once, after those
 * waiting, and so do `WAITING_MAX` lines; whatever waits is written when the process exits. (A process killed
 * while its event loop is held loses the lines below ERROR of that one turn.)
 */
/** Lines that wait together at most: a bound on the memory and on the size of one write. */
const WAITING_MAX = 1024

class Sink {
  private waiting: Array<string> = []
  private scheduled = false
  constructor(private readonly stream: "stdout" | "stderr") {}
  private readonly flushLater = () => {
    this.scheduled = false
    this.flush()
  }
  /** Writes `line` (no newline), at once when `urgent`, else with the others of this turn. */
  push(line: string, urgent: boolean): void {
    this.waiting.push(line)
    if (urgent || this.waiting.length >= WAITING_MAX) return this.flush()
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(this.flushLater)
  }
  flush(): void {
    if (this.waiting.length === 0) return
    const text = this.waiting.join("\n") + "\n"
    this.waiting = []
    process[this.stream].write(text)
  }
}

const sinks = { stdout: new Sink("stdout"), stderr: new Sink("stderr") }
process.once("exit", () => {
  sinks.stdout.flush()
  sinks.stderr.flush()
})

/** Writes a formatted line to `stream`; `level` decides whether it waits for the end of the turn (see `Sink`). */
const emit = (stream: "stdout" | "stderr" = "stdout", level: LogLevel.LogLevel, line: string): void =>
  sinks[stream].push(line, LogLevel.greaterThanEqual(level, LogLevel.Error))

/**
 * `formatJson(toEntry(service, options))` written straight to a string, byte for byte, with no entry on the way:
 * every run logs two lines at INFO. `undefined` where the two could differ, left to them: a field named like the
 * span's or the cause's (`trace_id`, `span_id`, `error`), or like an array index.
 */
const directJson = (serviceJson: string, options: Logger.Logger.Options<unknown>): string | undefined => {
  let text = head(options.date, levelOf(options), serviceJson, messageText(options.message))
  for (const [key, value] of options.annotations) {
    if (key === "trace_id" || key === "span_id" || key === "error" || indexLike(key)) return undefined
    text += field(key, value)
  }
  const span = spanOf(options)
  if (Option.isSome(span)) text += `,"trace_id":${quote(span.value.traceId)},"span_id":${quote(span.value.spanId)}`
  return Redact.scrub(text + field("error", errorOf(options)) + "}")
}

/** A logger that writes formatted lines to `write` (by default stdout, see `Sink`). */
export const make = (
  service: string,
  format: LogFormat,
  write?: (line: string) => void,
  stream: "stdout" | "stderr" = "stdout"
): Logger.Logger<unknown, void> => {
  const serviceJson = JSON.stringify(service)
  return Logger.make((options) => {
    const line = format === "json"
      ? directJson(serviceJson, options) ?? formatJson(toEntry(service, options))
      : formatPretty(toEntry(service, options))
    if (write === undefined) emit(stream, options.logLevel, line)
    else write(line)
  })
}

/** Replaces Effect's default (and pretty) logger with ours, at `level` and above. */
export const layer = (options: {
  readonly service: string
  readonly format: LogFormat
  readonly level: LogLevel.LogLevel
  /** Where lines go. Default stdout; tools whose stdout is their output log to stderr. */
  readonly stream?: "stdout" | "stderr" | undefined
}): Layer.Layer<never> =>
  Layer.merge(
    Layer.scopedDiscard(
      Effect.locallyScopedWith(FiberRef.currentLoggers, (loggers) =>
        loggers.pipe(
          HashSet.remove(Logger.defaultLogger),
          HashSet.remove(Logger.prettyLoggerDefault),
          HashSet.add(make(options.service, options.format, undefined, options.stream))
        ))
    ),
    Logger.minimumLogLevel(options.level)
  )

/**
 * A writer for lines logged outside any fiber (signal handlers, the shutdown
 * watchdog), in the same format and obeying the same minimum level.
 */
export const writer = (options: {
  readonly service: string
  readonly format: LogFormat
  readonly level: LogLevel.LogLevel
  /** Where lines go. Default stdout. */
  readonly stream?: "stdout" | "stderr" | undefined
}) =>
(level: LogLevel.LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
  if (LogLevel.lessThan(level, options.level)) return
  const entry: Entry = {
    time: new Date(),
    level: LEVEL_NAMES[level._tag] ?? level.label,
    service: options.service,
    msg,
    fields
  }
  // After the lines of fibers waiting to go out: at once, whatever its level (signal handlers, the watchdog).
  sinks[options.stream ?? "stdout"].push(options.format === "json" ? formatJson(entry) : formatPretty(entry), true)
}
