/**
 * `user_digest`, a job kind: the schedules of it are made at run time, one per user who asks for a digest (through
 * the admin API or `schedules create`), each with its own expression and zone. A run counts the user's invoices of
 * the period and publishes the digest to `RABBITMQ_EXCHANGE` with routing key `digests.user.generated`; its message
 * id comes from the schedule and the slot, so a re-run of the slot publishes nothing twice.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import * as Job from "../Job.js"
import * as Kind from "../Kind.js"
import { Publisher } from "../Publisher.js"
import { WorkerConfig } from "../WorkerConfig.js"
import { uuidFromName } from "./reportGenerator.js"

export const DIGEST_ROUTING_KEY = "digests.user.generated"

/** What a schedule of the kind carries. */
export const UserDigestPayload = Schema.Struct({
  userId: Schema.NonEmptyTrimmedString,
  /** How many days back the digest looks. */
  days: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 90)), { default: () => 7 })
})

export const userDigest = Kind.make({
  name: "user_digest",
  description: "Publishes one user's invoice digest to RabbitMQ",
  payload: UserDigestPayload,
  defaults: { timeout: "1 minute" },
  run: ({ days, userId }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const publisher = yield* Publisher
      const config = yield* WorkerConfig
      const run = yield* Job.CurrentRun
      yield* Effect.gen(function*() {
        const since = new Date(run.nominalAt.getTime() - days * 86_400_000)
        const [counts] = yield* sql<{ invoices: number }>`
          SELECT count(*)::int AS invoices FROM finance.invoices
          WHERE user_id::text = ${userId} AND deleted_at IS NULL AND created_at >= ${since}`
        const digestId = uuidFromName(`${run.job}/${run.nominalAt.toISOString()}`)
        yield* publisher.publish(config.rabbitmqExchange, DIGEST_ROUTING_KEY, {
          digest_id: digestId,
          user_id: userId,
          since: since.toISOString(),
          until: run.nominalAt.toISOString(),
          invoices: counts?.invoices ?? 0
        }, { messageId: digestId, contentType: "application/json" })
        yield* Effect.logInfo("user digest published").pipe(Effect.annotateLogs({ digest_id: digestId }))
      }).pipe(sql.withTransaction)
    })
})
