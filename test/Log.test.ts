import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import * as Log from "../src/Log.js"

const entry: Log.Entry = {
  time: new Date("2026-01-01T00:00:00Z"),
  level: "INFO",
  service: "financial-worker",
  msg: "job started",
  fields: { job: "cleanup", nominal_at: new Date("2026-01-01T02:00:00Z"), msg: "shadow", duration_ms: 12 }
}

describe("Log", () => {
  it("JSON lines start with time, level, service, msg; fields never shadow them", () => {
    const line = Log.formatJson(entry)
    expect(line).toBe(
      `{"time":"2026-01-01T00:00:00.000Z","level":"INFO","service":"financial-worker","msg":"job started",` +
        `"job":"cleanup","nominal_at":"2026-01-01T02:00:00.000Z","duration_ms":12}`
    )
  })

  it("JSON lines are what JSON.stringify writes of the line's object, whatever the fields", () => {
    const cases: Array<Record<string, unknown>> = [
      { job: "a\"b\\c\n\u0001\u2028é", n: 1.5, neg: -0, nan: NaN, inf: Infinity, yes: true, no: null },
      { skipped: undefined, after: "x" },
      { "2": "index first", job: "j", "10": 10 },
      { constructor: "dropped", toString: "dropped", job: "j" },
      { nested: { a: [1, new Date(0)] }, big: 10n, job: "j" },
      { time: "shadow", level: "shadow", service: "shadow", "weird key\"": 1 }
    ]
    for (const fields of cases) {
      const line: Record<string, unknown> = { time: entry.time.toISOString(), level: "INFO", service: "s", msg: "m" }
      for (const key in fields) {
        if (key in line) continue
        const value = fields[key]
        const json = value instanceof Object ? JSON.parse(JSON.stringify(value)) : value
        line[key] = typeof value === "bigint" ? value.toString() : json
      }
      expect(Log.formatJson({ ...entry, service: "s", msg: "m", fields })).toBe(JSON.stringify(line))
    }
  })

  it("pretty lines read like the Go worker's", () => {
    expect(Log.formatPretty({ ...entry, fields: { job: "cleanup", error: "disk full" } })).toBe(
      `2026-01-01T00:00:00.000Z INFO  job started job=cleanup error="disk full"`
    )
  })

  it("pretty lines quote a value with control characters, escaped, so no raw escape reaches the terminal", () => {
    expect(Log.formatPretty({ ...entry, fields: { job: "a\u001b[31mb", reason: "x\u009by" } })).toBe(
      `2026-01-01T00:00:00.000Z INFO  job started job="a\\u001b[31mb" reason="x\\u009by"`
    )
  })

  it.effect("the logger writes annotations, levels and the span's trace and span ids", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      yield* Effect.logWarning("job skipped (max concurrent executions reached)").pipe(
        Effect.annotateLogs({ job: "c", max_concurrent: 2 }),
        Effect.withSpan("run"),
        Effect.provide(Logger.replace(Logger.defaultLogger, Log.make("svc", "json", (line) => lines.push(line)))),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect(lines).toHaveLength(1)
      const parsed = JSON.parse(lines[0]!)
      expect(parsed).toMatchObject({
        level: "WARN",
        service: "svc",
        msg: "job skipped (max concurrent executions reached)",
        job: "c",
        max_concurrent: 2
      })
      expect(parsed.trace_id).toMatch(/^[0-9a-f]{32}$/)
      expect(parsed.span_id).toMatch(/^[0-9a-f]{16}$/)
    }))

  it.effect("a logged cause becomes the error field", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      yield* Effect.logError("worker failed to start", new Error("boom")).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Log.make("svc", "json", (line) => lines.push(line))))
      )
      expect(JSON.parse(lines[0]!).msg).toContain("worker failed to start")
    }))

  it.effect("the logger's JSON line is formatJson's of the same entry, byte for byte, whatever the annotations", () =>
    Effect.gen(function*() {
      const cases: Array<Record<string, unknown>> = [
        { job: "a\"b\\c\n\u0001\u2028é", n: 1.5, neg: -0, nan: NaN, inf: Infinity, yes: true, no: null },
        { skipped: undefined, after: "x" },
        { "2": "index first", job: "j", "10": 10 },
        { constructor: "dropped", toString: "dropped", job: "j" },
        { nested: { a: [1, new Date(0)] }, big: 10n, at: new Date(5), fn: () => 1, job: "j" },
        { time: "shadow", level: "shadow", service: "shadow", msg: "shadow", "weird key\"": 1 },
        { trace_id: "mine", job: "j" },
        { span_id: undefined, job: "j" },
        { error: "annotated", job: "j" },
        { password: "hunter2", url: "postgres://u:secret@h/db" },
        { del: "a\u007fb", big: 1e21, small: -1.5e-7, "clé é": "\ud800", tab: "a\tb", empty: "" }
      ]
      for (const annotations of cases) {
        for (const [spanned, failed] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const direct: Array<string> = []
          const viaEntry: Array<string> = []
          const both = Logger.zip(
            Log.make("svc \"x\"", "json", (line) => direct.push(line)),
            Logger.make((options) => viaEntry.push(Log.formatJson(Log.toEntry("svc \"x\"", options))))
          )
          const log = failed ? Effect.logError("job failed", new Error("boom")) : Effect.logInfo("job started")
          yield* log.pipe(
            Effect.annotateLogs(annotations),
            spanned ? Effect.withSpan("run") : (self) => self,
            Effect.provide(Logger.replace(Logger.defaultLogger, both))
          )
          expect(direct).toHaveLength(1)
          expect(direct).toEqual(viaEntry)
        }
      }
    }))
})
