import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, Schema, TestClock } from "effect"
import * as Job from "../../src/Job.js"
import { reportGenerator, ROUTING_KEY, uuidFromName, WeeklyReport } from "../../src/jobs/reportGenerator.js"
import * as Demo from "../../src/jobs/seedDemo.js"
import { Published } from "../../src/Publisher.js"
import * as RunStore from "../../src/RunStore.js"
import * as Worker from "../../src/Worker.js"
import { captureLogs } from "../utils.js"
import { eventually, jobsLayer } from "./fixtures.js"

const SUNDAY = Date.parse("2026-06-07T12:00:00Z")
const MONDAY_0800 = new Date("2026-06-08T08:00:00Z")

const decode = (payload: Uint8Array) =>
  Schema.decodeUnknownSync(WeeklyReport)(JSON.parse(new TextDecoder().decode(payload)))

describe("report_generator", () => {
  const logs = captureLogs()
  it.layer(jobsLayer(logs, { rabbitmqExchange: "finance.test" }), { timeout: "60 seconds" })((it) => {
    it.effect("on Monday at 08:00 publishes the weekly report counting what is not deleted", () =>
      Effect.gen(function*() {
        const store = yield* RunStore.RunStore
        yield* TestClock.setTime(SUNDAY)
        yield* Demo.seed
        yield* Worker.start([reportGenerator])
        // To 08:00 exactly: the run does real I/O, and moving the clock further would fire its timeout.
        yield* TestClock.adjust("20 hours")
        const [record] = yield* eventually(
          Effect.map(
            store.history({ job: "report_generator" }),
            (h) => (h[0] !== undefined && h[0].status !== "running" ? h : undefined)
          )
        )
        expect(record).toMatchObject({ status: "succeeded", error: undefined })
        const [message] = yield* Ref.get(yield* Published)
        expect(message).toMatchObject({
          exchange: "finance.test",
          routingKey: ROUTING_KEY,
          contentType: "application/json"
        })
        const report = decode(message!.payload)
        expect(report).toMatchObject({
          report_id: uuidFromName(`report_generator/${MONDAY_0800.toISOString()}`),
          period_start: new Date("2026-06-01T08:00:00Z"),
          period_end: MONDAY_0800,
          // Demo.seed: 3 users (one deleted), 2 budgets (one deleted), 2 invoices.
          total_users: 2,
          active_budgets: 1,
          total_invoices: 2
        })
        expect(message!.id).toBe(report.report_id)
        expect(logs.withMessage("weekly report published")[0]?.fields).toMatchObject({ report_id: report.report_id })
      }))

    it.effect("a re-run of the same slot publishes the same report id, which is kept once", () =>
      Effect.gen(function*() {
        const published = yield* Published
        yield* Ref.set(published, [])
        const sql = yield* SqlClient.SqlClient
        const slot = {
          job: "report_generator",
          runId: "r",
          nominalAt: new Date("2026-06-15T08:00:00Z"),
          attempt: 1,
          reason: "scheduled" as const
        }
        const runSlot = reportGenerator.run.pipe(Effect.provideService(Job.CurrentRun, slot))
        yield* runSlot
        yield* sql`UPDATE finance.users SET deleted_at = now() WHERE deleted_at IS NULL`
        yield* runSlot.pipe(Effect.provideService(Job.CurrentRun, { ...slot, attempt: 2 }))
        const messages = yield* Ref.get(published)
        expect(messages).toHaveLength(1)
        expect(decode(messages[0]!.payload).total_users).toBe(2)
      }))
  })
})
