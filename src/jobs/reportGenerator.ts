/**
 * `report_generator`, Mondays at 08:00: counts users, active budgets and
 * invoices (not deleted) and publishes the weekly report to
 * `RABBITMQ_EXCHANGE` with routing key `reports.weekly.generated`. The report
 * id is derived from the slot's instant, so a retried or re-run slot
 * publishes the same message id, which the outbox keeps once.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import * as Job from "../Job.js"
import { Publisher } from "../Publisher.js"
import { WorkerConfig } from "../WorkerConfig.js"

export const ROUTING_KEY = "reports.weekly.generated"

/** The message body. */
export const WeeklyReport = Schema.Struct({
  report_id: Schema.UUID,
  generated_at: Schema.Date,
  period_start: Schema.Date,
  period_end: Schema.Date,
  total_users: Schema.NonNegativeInt,
  active_budgets: Schema.NonNegativeInt,
  total_invoices: Schema.NonNegativeInt
})
export type WeeklyReport = typeof WeeklyReport.Type

/** A name-based UUID (version 5 layout, SHA-1): the same name always gives the same id. */
export const uuidFromName = (name: string): string => {
  const bytes = createHash("sha1").update(`cron-worker:${name}`).digest().subarray(0, 16)
  bytes[6] = (bytes[6]! & 0x0f) | 0x50
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const WEEK = 7 * 86_400_000

export const reportGenerator = Job.make({
  name: "report_generator",
  schedule: "0 8 * * 1",
  description: "Publishes the weekly report (users, active budgets, invoices) to RabbitMQ",
  run: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const publisher = yield* Publisher
    const config = yield* WorkerConfig
    const run = yield* Job.CurrentRun
    yield* Effect.gen(function*() {
      const [counts] = yield* sql<{ total_users: number; active_budgets: number; total_invoices: number }>`
        SELECT
          (SELECT count(*) FROM finance.users WHERE deleted_at IS NULL)::int AS total_users,
          (SELECT count(*) FROM finance.budgets WHERE deleted_at IS NULL)::int AS active_budgets,
          (SELECT count(*) FROM finance.invoices WHERE deleted_at IS NULL)::int AS total_invoices`
      const report = yield* Schema.encode(WeeklyReport)({
        report_id: uuidFromName(`report_generator/${run.nominalAt.toISOString()}`),
        generated_at: new Date(yield* Clock.currentTimeMillis),
        period_start: new Date(run.nominalAt.getTime() - WEEK),
        period_end: run.nominalAt,
        total_users: counts?.total_users ?? 0,
        active_budgets: counts?.active_budgets ?? 0,
        total_invoices: counts?.total_invoices ?? 0
      })
      yield* publisher.publish(config.rabbitmqExchange, ROUTING_KEY, report, {
        messageId: report.report_id,
        contentType: "application/json"
      })
      yield* Effect.logInfo("weekly report published").pipe(Effect.annotateLogs({
        report_id: report.report_id,
        total_users: report.total_users,
        active_budgets: report.active_budgets,
        total_invoices: report.total_invoices
      }))
    }).pipe(sql.withTransaction)
  })
})
