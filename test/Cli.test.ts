import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Either, LogLevel, Option } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseInstant } from "../src/Cli.js"
import { CliSettings, escapeControl, quote, readConfigFor } from "../src/Cli/Common.js"
import * as CliConsole from "../src/Cli/Console.js"
import { describePause, runJson } from "../src/Cli/History.js"
import { decodeBody } from "../src/Cli/Outbox.js"
import { expressionLast, packageName, takeLogLevel } from "../src/Cli/Settings.js"

describe("parseInstant (--from)", () => {
  it.each([
    ["2026-03-08T07:00:00Z", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08T07:00:00.250Z", "2026-03-08T07:00:00.250Z"],
    ["2026-03-08T02:00:00-05:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08T07:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08 07:00:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08", "2026-03-08T00:00:00.000Z"]
  ])("reads %s (no offset: UTC)", (text, iso) => {
    expect(Either.map(parseInstant(text), (ms) => new Date(ms).toISOString())).toEqual(Either.right(iso))
  })

  it.each(["tomorrow", "2026-02-30", "2026-13-01", "2026-03-08T24:00", "08/03/2026", ""])(
    "rejects %j, naming it",
    (text) => {
      const result = parseInstant(text)
      expect(Either.isLeft(result)).toBe(true)
      expect(Either.isLeft(result) && result.left).toContain(`--from "${text}"`)
    }
  )
})

describe("the command line's console (help and errors of @effect/cli)", () => {
  const help = [
    "\u001b[0;1mOPTIONS\u001b[0m",
    "",
    "\u001b[0;1m--limit integer\u001b[0m",
    "",
    "  An integer.",
    "",
    "  how many runs to show, newest first (default 20)",
    "",
    "  This setting is optional.",
    "",
    "\u001b[0;1m--bare\u001b[0m",
    "",
    "  A true or false value.",
    "",
    "  This setting is optional.",
    ""
  ].join("\n")

  it("drops a primitive's generic line where a description follows it, and only there", () => {
    const tidy = CliConsole.dropGenericLines(CliConsole.stripAnsi(help))
    expect(tidy).not.toContain("An integer.")
    expect(tidy).toContain("  how many runs to show, newest first (default 20)")
    // Nothing better to say about --bare: its generic line stays.
    expect(tidy).toContain("--bare\n\n  A true or false value.\n\n  This setting is optional.")
  })

  it("strips ANSI escapes, and fixes the library's article", () => {
    expect(CliConsole.stripAnsi("\u001b[0;1m\u001b[0;37;1mcron-worker\u001b[0;1m\u001b[0m x")).toBe("cron-worker x")
    expect(CliConsole.fixArticles("'x' is not a integer")).toBe("'x' is not an integer")
    expect(CliConsole.fixArticles("'x' is not a date")).toBe("'x' is not a date")
  })

  it.effect("prints without colours on a stream that is not a terminal, with them on one", () =>
    Effect.gen(function*() {
      const out: Array<unknown> = []
      const err: Array<unknown> = []
      const base = Console.Console.of({
        ...(yield* Effect.console),
        log: (...args) => Effect.sync(() => void out.push(...args)),
        error: (...args) => Effect.sync(() => void err.push(...args))
      })
      const console = CliConsole.make(base, { stdoutColors: false, stderrColors: true })
      yield* Effect.all([console.log(help), console.error("\u001b[31m'x' is not a integer\u001b[0m")])
      expect(String(out[0])).not.toContain("\u001b")
      expect(String(out[0])).not.toContain("An integer.")
      expect(err).toEqual(["\u001b[31m'x' is not an integer\u001b[0m"])
    }))

  it("colours only on a terminal and never with NO_COLOR set", () => {
    const saved = process.env.NO_COLOR
    try {
      delete process.env.NO_COLOR
      expect([CliConsole.colorsFor({ isTTY: true }), CliConsole.colorsFor({})]).toEqual([true, false])
      process.env.NO_COLOR = "1"
      expect(CliConsole.colorsFor({ isTTY: true })).toBe(false)
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR
      else process.env.NO_COLOR = saved
    }
  })
})

describe("--log-level", () => {
  const argv = (...args: Array<string>) => ["node", "main.js", ...args]

  it.each(
    [
      [["history", "--log-level", "debug"], LogLevel.Debug],
      [["--log-level=warn", "history"], LogLevel.Warning],
      [["history", "--log-level", "WARNING"], LogLevel.Warning],
      [["history", "--log-level=none", "--log-level", "info"], LogLevel.Info]
    ] as const
  )("%j: the level, and argv without it", (args, level) => {
    expect(takeLogLevel(argv(...args))).toEqual(
      Either.right({ argv: argv("history"), level: Option.some(level) })
    )
  })

  it("leaves argv alone without it, and after --", () => {
    expect(takeLogLevel(argv("run", "x", "--", "--log-level", "x"))).toEqual(
      Either.right({ argv: argv("run", "x", "--", "--log-level", "x"), level: Option.none() })
    )
  })

  it.each([["--log-level", "loud"], ["--log-level"], ["--log-level="]])("rejects %j, naming the levels", (...args) => {
    const result = takeLogLevel(argv("history", ...args))
    expect(Either.isLeft(result) && result.left).toMatch(/^--log-level .*one of all, trace, debug, info, warning, warn/)
  })

  const config = (kind: "worker" | "tool", env: Record<string, string>, logLevel?: LogLevel.LogLevel) =>
    readConfigFor(kind).pipe(
      Effect.provideService(CliSettings, { logLevel: Option.fromNullable(logLevel), serviceName: undefined }),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.map((c) => c.logLevel)
    )

  it.effect("tools log from warn up by default, whatever LOG_LEVEL says; --log-level wins over it everywhere", () =>
    Effect.gen(function*() {
      expect(yield* config("tool", {})).toBe(LogLevel.Warning)
      expect(yield* config("tool", { LOG_LEVEL: "debug" })).toBe(LogLevel.Warning)
      expect(yield* config("tool", { LOG_LEVEL: "debug" }, LogLevel.Info)).toBe(LogLevel.Info)
      expect(yield* config("worker", {})).toBe(LogLevel.Info)
      expect(yield* config("worker", { LOG_LEVEL: "error" })).toBe(LogLevel.Error)
      expect(yield* config("worker", { LOG_LEVEL: "info" }, LogLevel.Warning)).toBe(LogLevel.Warning)
    }))
})

describe("the service name of a user's worker", () => {
  it("is the name of the nearest package.json above the entry script", () => {
    const dir = mkdtempSync(join(tmpdir(), "cron-worker-pkg-"))
    mkdirSync(join(dir, "bin"))
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "billing-worker" }))
    writeFileSync(join(dir, "bin", "main.mjs"), "")
    expect(packageName(join(dir, "bin", "main.mjs"))).toBe("billing-worker")
    writeFileSync(join(dir, "bin", "package.json"), JSON.stringify({ type: "module" }))
    expect(packageName(join(dir, "bin", "main.mjs")), "the nearest has no name").toBeUndefined()
    expect(packageName(undefined)).toBeUndefined()
  })
})

describe("user text in output", () => {
  it("names are quoted with control characters escaped; other text has only its control characters escaped", () => {
    expect(quote("bad\u001b[31mname\n")).toBe(`"bad\\u001b[31mname\\n"`)
    expect(escapeControl("db \"maintenance\"\u0007\tnow")).toBe(`db "maintenance"\\u0007\\tnow`)
    // DEL and the C1 controls (\u009b is a terminal's CSI) too, which JSON leaves as they are.
    expect(quote("a\u009b31mb\u007f")).toBe(`"a\\u009b31mb\\u007f"`)
  })

  it("a pause reads since when, by whom and why", () => {
    expect(describePause({ job: "j", at: new Date(0), by: "ana@host", reason: "window\u001b" })).toBe(
      "since 1970-01-01T00:00:00.000Z by ana@host: window\\u001b"
    )
  })
})

describe("history --json", () => {
  const record = {
    runId: "r",
    job: "j",
    nominalAt: new Date(0),
    reason: "scheduled",
    status: "skipped",
    skipReason: "paused",
    attempt: 0,
    instance: "i",
    startedAt: new Date(16),
    finishedAt: new Date(16),
    durationMs: 16,
    error: undefined
  } as const

  it("a skipped run has no attempt and no duration: null, every field present", () => {
    expect(runJson(record)).toEqual({
      runId: "r",
      job: "j",
      nominalAt: "1970-01-01T00:00:00.000Z",
      reason: "scheduled",
      status: "skipped",
      skipReason: "paused",
      attempt: null,
      instance: "i",
      startedAt: "1970-01-01T00:00:00.016Z",
      finishedAt: "1970-01-01T00:00:00.016Z",
      durationMs: null,
      error: null,
      scheduleVersion: null
    })
    expect(runJson({ ...record, status: "succeeded", skipReason: undefined, attempt: 2 })).toMatchObject({
      attempt: 2,
      durationMs: 16
    })
    expect(runJson({ ...record, job: "schedule:s1", scheduleVersion: 3 })).toMatchObject({ scheduleVersion: 3 })
  })
})

describe("outbox bodies", () => {
  const bytes = (text: string) => new TextEncoder().encode(text)

  it.each(
    [
      ["application/json", bytes(`{"a":1}`), { encoding: "json", value: { a: 1 } }],
      ["application/vnd.report+json; charset=utf-8", bytes("[1]"), { encoding: "json", value: [1] }],
      ["application/json", bytes("not json"), { encoding: "text", value: "not json" }],
      ["text/plain", bytes("héllo"), { encoding: "text", value: "héllo" }],
      ["application/octet-stream", bytes("hi"), { encoding: "base64", value: "aGk=" }],
      ["text/plain", new Uint8Array([0xff, 0xfe]), { encoding: "base64", value: "//4=" }]
    ] as const
  )("%s %j", (type, payload, body) => {
    expect(decodeBody(payload, type)).toEqual(body)
  })
})

describe("expressionLast", () => {
  const argv = (...args: Array<string>) => ["node", "main.js", ...args]
  it("moves an expression that begins with - (it has spaces: never an option) after the options of next", () => {
    expect(expressionLast(argv("next", "-1 * * * *", "--count", "2"))).toEqual(
      argv("next", "--count", "2", "-1 * * * *")
    )
  })
  it("takes the token after -- as the expression and drops the --", () => {
    expect(expressionLast(argv("next", "--count", "2", "--", "-1 * * * *", "--from", "2026-01-01"))).toEqual(
      argv("next", "--count", "2", "--from", "2026-01-01", "-1 * * * *")
    )
  })
  it("leaves other commands and ordinary expressions alone", () => {
    expect(expressionLast(argv("pause", "job", "--reason", "-- broken disk"))).toEqual(
      argv("pause", "job", "--reason", "-- broken disk")
    )
    expect(expressionLast(argv("next", "* * * * *", "--count", "2"))).toEqual(argv("next", "* * * * *", "--count", "2"))
  })
})
