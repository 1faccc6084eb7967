/** The alert history on PostgreSQL (embedded or not): `cron_worker.alerts`, as `Alerts/Evaluator.ts` records it. */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { AlertHistory, type AlertHistoryShape } from "../AlertHistory.js"

interface Row {
  readonly id: string
  readonly rule: string
  readonly job: string
  readonly since: Date
  readonly resolved_at: Date | null
  readonly detail: string
}

/** The history on the `SqlClient` in context. Database failures are defects, as the run store's. */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return AlertHistory.of(
    {
      list: (query) => {
        const where = [
          ...(query.state === "active" ? [sql`resolved_at IS NULL`] : []),
          ...(query.state === "resolved" ? [sql`resolved_at IS NOT NULL`] : []),
          ...(query.job === undefined ? [] : [sql`job = ${query.job}`])
        ]
        return sql<Row>`
        SELECT id::text AS id, rule, job, since, resolved_at, detail FROM cron_worker.alerts
        ${where.length === 0 ? sql`` : sql`WHERE ${sql.and(where)}`}
        ORDER BY since DESC, id DESC
        LIMIT ${query.limit}`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              id: Number(row.id),
              rule: row.rule,
              job: row.job,
              since: row.since,
              resolvedAt: row.resolved_at ?? undefined,
              detail: row.detail
            }))
          ),
          Effect.orDie
        )
      }
    } satisfies AlertHistoryShape
  )
})

/** {@link make} as a layer. */
export const layer: Layer.Layer<AlertHistory, never, SqlClient.SqlClient> = Layer.effect(AlertHistory, make)
