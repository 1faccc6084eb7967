/**
 * `report_generator` on the real worker stack (PostgreSQL, outbox, relay,
 * RabbitMQ): the report arrives on a queue bound to its routing key with the
 * right body and properties, and a slot run again publishes nothing new.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Option, Redacted, Schema } from "effect"
import * as Infrastructure from "../../src/Infrastructure.js"
import { reportGenerator, ROUTING_KEY, WeeklyReport } from "../../src/jobs/reportGenerator.js"
import * as Demo from "../../src/jobs/seedDemo.js"
import { Scheduler } from "../../src/Scheduler.js"
import * as Worker from "../../src/Worker.js"
import * as WorkerConfig from "../../src/WorkerConfig.js"
import { bindQueue, servicesAvailable, TEST_RABBITMQ_URL, unique } from "../services.js"
import { captureLogs, frozenAt, suiteDatabase } from "../utils.js"
import { financeSchema } from "./fixtures.js"

const available = await servicesAvailable()

const WEEK = 7 * 86_400_000

/** A Monday 08:00 UTC: a slot of `0 8 * * 1`. */
const MONDAY = Date.parse("2026-03-02T08:00:00Z")

const decodeReport = (content: Buffer) => Schema.decodeUnknown(Schema.parseJson(WeeklyReport))(content.toString("utf8"))

describe.skipIf(!available)("report_generator on PostgreSQL and RabbitMQ", () => {
  const db = suiteDatabase()

  /** The worker with this one job, on this file's database and the broker. */
  const worker = (exchange: string) =>
    Worker.layer([reportGenerator]).pipe(
      Layer.provideMerge(Scheduler.Default),
      Layer.provideMerge(Infrastructure.layer),
      Layer.provideMerge(
        WorkerConfig.layerWith({
          databaseUrl: Option.some(Redacted.make(db.url)),
          databasePoolSize: 4,
          rabbitmqUrl: Option.some(Redacted.make(TEST_RABBITMQ_URL)),
          rabbitmqExchange: exchange,
          shutdownTimeout: Duration.seconds(5)
        }).pipe(Layer.merge(financeSchema))
      ),
      Layer.provide(Logger.remove(Logger.defaultLogger))
    )

  const queueOn = (exchange: string) =>
    Effect.acquireRelease(
      Effect.promise(() => bindQueue(exchange, ROUTING_KEY)),
      (queue) => Effect.promise(queue.close)
    )

  it.live("publishes the weekly report: counts of the live rows, JSON body, persistent, message_id = report_id", () => {
    const exchange = unique("cw_test_ex")
    const logs = captureLogs()
    return Effect.gen(function*() {
      const queue = yield* queueOn(exchange)
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const scheduler = yield* Scheduler
        yield* Demo.seed
        const record = Option.getOrThrow(yield* scheduler.trigger(reportGenerator.name))
        expect(record).toMatchObject({ job: "report_generator", status: "succeeded", reason: "manual" })

        const [message, ...more] = yield* Effect.promise(() => queue.take(1))
        expect(more).toEqual([])
        expect(message?.fields).toMatchObject({ exchange, routingKey: ROUTING_KEY })
        expect(message?.properties).toMatchObject({ contentType: "application/json", deliveryMode: 2 })
        const raw: unknown = JSON.parse(message?.content.toString("utf8") ?? "")
        expect(typeof raw === "object" && raw !== null ? Object.keys(raw).sort() : raw).toEqual(
          ["active_budgets", "generated_at", "period_end", "period_start", "report_id", "total_invoices", "total_users"]
        )
        const report = yield* decodeReport(message?.content ?? Buffer.alloc(0))
        // Demo: 3 users (1 deleted), 2 budgets (1 deleted), 2 invoices.
        expect(report).toMatchObject({ total_users: 2, active_budgets: 1, total_invoices: 2 })
        expect(report.period_end).toEqual(record.nominalAt)
        expect(report.period_start).toEqual(new Date(record.nominalAt.getTime() - WEEK))
        expect(report.generated_at.getTime()).toBeGreaterThanOrEqual(record.startedAt.getTime())
        expect(message?.properties.messageId).toBe(report.report_id)

        const [row] = yield* sql<{ job: string; run_id: string; status: string }>`
          SELECT job, run_id, status FROM cron_worker.outbox WHERE id = ${report.report_id}`
        expect(row).toMatchObject({ job: "report_generator", run_id: record.runId })
        const published = logs.withMessage("weekly report published")
        expect(published.map((entry) => entry.fields)).toEqual([
          expect.objectContaining({ report_id: report.report_id, total_users: 2, active_budgets: 1, total_invoices: 2 })
        ])
      }).pipe(Effect.provide(worker(exchange)), Effect.provide(logs.layer))
    }).pipe(Effect.scoped)
  })

  it.live("the report id comes from the slot's instant: a re-run of the slot publishes no second report", () => {
    const exchange = unique("cw_test_ex")
    return Effect.gen(function*() {
      const queue = yield* queueOn(exchange)
      yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const runAt = (millis: number) =>
          scheduler.trigger(reportGenerator.name).pipe(
            Effect.withClock(frozenAt(millis)),
            Effect.map(Option.getOrThrow)
          )
        const first = yield* runAt(MONDAY)
        const again = yield* runAt(MONDAY)
        const nextWeek = yield* runAt(MONDAY + WEEK)
        expect([first, again, nextWeek].map((r) => [r.status, r.nominalAt.getTime()])).toEqual([
          ["succeeded", MONDAY],
          ["succeeded", MONDAY],
          ["succeeded", MONDAY + WEEK]
        ])
        expect(first.runId).not.toBe(again.runId)

        const messages = yield* Effect.promise(() => queue.take(2))
        // Give a duplicate every chance to show up.
        yield* Effect.sleep("1200 millis")
        messages.push(...(yield* Effect.promise(() => queue.take(0, 200))))
        const reports = yield* Effect.forEach(messages, (m) => decodeReport(m.content))
        expect(reports.map((r) => r.period_end.getTime())).toEqual([MONDAY, MONDAY + WEEK])
        expect(messages.map((m) => m.properties.messageId)).toEqual(reports.map((r) => r.report_id))
        expect(reports[0]?.report_id).not.toBe(reports[1]?.report_id)
        expect(reports[0]?.period_start.getTime()).toBe(MONDAY - WEEK)
      }).pipe(Effect.provide(worker(exchange)))
    }).pipe(Effect.scoped)
  })
})
