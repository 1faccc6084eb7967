// jobs/closeMonth.ts
import { SqlClient } from "@effect/sql"
import { Job, Publisher } from "cron-worker"
import { Effect } from "effect"

export const closeMonth = Job.make({
  name: "close_month",
  schedule: "CRON_TZ=America/Sao_Paulo 0 3 L * *", // 03:00 on the last day of the month
  run: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const publisher = yield* Publisher.Publisher
    const run = yield* Job.CurrentRun
    yield* Effect.gen(function*() {
      yield* sql`UPDATE finance.invoices SET updated_at = now() WHERE due_date < ${run.nominalAt}`
      yield* publisher.publish("financial.events", "invoices.month.closed", { at: run.nominalAt })
    }).pipe(sql.withTransaction)
  })
})
