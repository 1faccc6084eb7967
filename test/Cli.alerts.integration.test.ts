/**
 * `alerts` on the real PostgreSQL, without a running worker (the command opens the database itself): the alerts
 * firing, `--all`, `--job`, `--json`, `--limit`; run in this process, its output captured.
 */
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Either, Layer, Logger, Option, Redacted } from "effect"
import * as Evaluator from "../src/Alerts/Evaluator.js"
import { alertsCommand } from "../src/Cli/Alerts.js"
import * as Database from "../src/Database.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { servicesAvailable } from "./services.js"
import { suiteDatabase } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const T0 = Date.parse("2026-03-02T08:00:00Z")
const minutes = (n: number) => new Date(T0 + n * 60_000)

describe.skipIf(!available)("alerts (the command) on PostgreSQL", () => {
  const db = suiteDatabase()

  /** Runs `alerts <args>` on the suite's database: its stdout lines, or how it failed. */
  const alerts = (...args: Array<string>) =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const base = yield* Effect.console
      const console: Console.Console = {
        ...base,
        log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(parts.join(" ")))
      }
      const exit = yield* Command.run(alertsCommand, { name: "cron-worker", version: "0" })(
        ["node", "main.js", ...args]
      ).pipe(
        Effect.withConsole(console),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", db.url], ["LOG_LEVEL", "error"]]))),
        Effect.provide(NodeContext.layer),
        Effect.either
      )
      return { lines, exit }
    })

  it.live("firing by default; --all, --job, --limit; --json with every field; a bad --limit is a usage error", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const store = yield* Evaluator.makePg
        yield* store.fire({ rule: "missed_slots", job: "report", detail: "2 slots missed" }, minutes(0))
        yield* store.fire({ rule: "consecutive_failures", job: "billing", detail: "3 failed\u001b" }, minutes(1))
        yield* store.resolve({ rule: "missed_slots", job: "report", detail: "" }, minutes(2))
        yield* store.fire({ rule: "instance_lost", job: "", detail: "1 instances alive" }, minutes(3))
      }).pipe(
        Effect.provide(
          Database.layer.pipe(
            Layer.provide(WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)) })),
            Layer.provide(Logger.remove(Logger.defaultLogger))
          )
        )
      )

      const firing = yield* alerts()
      expect(firing.exit).toEqual(Either.right(undefined))
      expect(firing.lines.join("\n").split("\n")).toEqual([
        "SINCE                     STATE   RULE                  JOB      DETAIL",
        "2026-03-02T08:03:00.000Z  firing  instance_lost         -        1 instances alive",
        "2026-03-02T08:01:00.000Z  firing  consecutive_failures  billing  3 failed\\u001b"
      ])

      const all = (yield* alerts("--all")).lines.join("\n").split("\n")
      expect(all).toHaveLength(4)
      expect(all[3]).toContain("resolved 2026-03-02T08:02:00.000Z  missed_slots")

      const report = yield* alerts("--all", "--job", "report", "--json")
      expect(JSON.parse(report.lines.join(""))).toEqual([
        {
          id: expect.any(Number),
          rule: "missed_slots",
          job: "report",
          state: "resolved",
          since: "2026-03-02T08:00:00.000Z",
          resolvedAt: "2026-03-02T08:02:00.000Z",
          detail: "2 slots missed"
        }
      ])
      expect((yield* alerts("--job", "report")).lines).toEqual(["no alerts firing"])
      expect(
        JSON.parse((yield* alerts("--all", "--limit", "1", "--json")).lines.join("")).map(
          (a: { rule: string }) => a.rule
        )
      ).toEqual(["instance_lost"])

      const bad = yield* alerts("--limit", "0")
      expect(Either.isLeft(bad.exit) && bad.exit.left).toMatchObject({
        _tag: "CliExit",
        code: 2,
        lines: ["--limit must be from 1 to 500, got 0"]
      })
    }))
})
