/**
 * The outbox rows a relay holds. A relay takes a batch in a short
 * transaction, marking it `sending` under its token and a lease, and records
 * each row's outcome afterwards; no database lock is held while the broker is
 * talked to. The token belongs to one process (`<instance>/<random hex>`):
 * two processes that share `WORKER_INSTANCE_ID` (a worker and a `run` in the
 * same container) still never take each other's batch, and a batch is taken
 * over only when its lease has expired (its relay died).
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Duration, Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as Metrics from "../Metrics.js"
import type * as Amqp from "./Amqp.js"

/** `pg_advisory_xact_lock` id serialising the relays' batch taking: "cw_relay" in ASCII. */
const RELAY_LOCK = 0x63775f72656c6179n

/**
 * A relay token for this process: `instance` (readable for operators, in the
 * `sender` column) and a random suffix of its own.
 */
export const token = (instance: string): string => `${instance}/${randomBytes(6).toString("hex")}`

export interface Options {
  /** This relay's token, from {@link token}. */
  readonly token: string
  /** How long a taken batch belongs to this relay before another may take it over. */
  readonly sendLease: Duration.Duration
  /** Rows per batch. */
  readonly batch: number
}

/** What is left in the outbox: pending (and being sent) and failed rows. */
export interface Counts {
  readonly pending: number
  readonly failed: number
}

/** A taken row, with its place in the outbox. */
export type Taken = Amqp.Message & { readonly seq: string }

export interface Claims {
  /**
   * The next batch, oldest first: pending rows, and rows whose relay's lease
   * expired; none while another relay holds a batch under a valid lease, so
   * that one relay sends at a time and order holds. Marked `sending` and
   * committed.
   */
  readonly take: Effect.Effect<ReadonlyArray<Taken>, SqlError>
  /**
   * Puts this relay's unsettled batch back to pending. `unconfirmed`: the
   * batch was published without a confirm (the broker may have it), which
   * counts as an attempt and is kept as the rows' `last_error`.
   */
  readonly giveBack: (unconfirmed?: string) => Effect.Effect<void, SqlError>
  /** Records what became of each row of a batch, one statement per kind of outcome; returns how many were delivered. */
  readonly record: (
    rows: ReadonlyArray<Amqp.Message>,
    outcomes: ReadonlyArray<Amqp.Outcome>
  ) => Effect.Effect<number, SqlError>
  readonly counts: Effect.Effect<Counts, SqlError>
}

/** What is left in the outbox. */
export const counts: Effect.Effect<Counts, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<Counts>`
      SELECT count(*) FILTER (WHERE status IN ('pending', 'sending'))::int AS pending, count(*)
        FILTER (WHERE status = 'failed')::int AS failed
      FROM cron_worker.outbox`.pipe(Effect.map((rows) => rows[0] ?? { pending: 0, failed: 0 }))
)

export const make = (options: Options): Effect.Effect<Claims, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const leaseSeconds = Duration.toMillis(options.sendLease) / 1000

    const take = sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${RELAY_LOCK.toString()}::bigint)`
      const busy = yield* sql`
        SELECT 1 FROM cron_worker.outbox
        WHERE status = 'sending' AND sender <> ${options.token} AND send_lease > now() LIMIT 1`
      if (busy.length > 0) return []
      const rows = yield* sql<Taken>`
        UPDATE cron_worker.outbox
        SET status = 'sending', sender = ${options.token}, send_lease = now() + make_interval(secs => ${leaseSeconds})
        WHERE id IN (
          SELECT id FROM cron_worker.outbox WHERE status IN ('pending', 'sending') ORDER BY seq LIMIT ${options.batch}
          FOR UPDATE
        )
        RETURNING id, seq, exchange, routing_key, payload, content_type, headers, created_at`
      return [...rows].sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)))
    })).pipe(Effect.withTracerEnabled(false))

    const giveBack = (unconfirmed?: string) =>
      sql`
        UPDATE cron_worker.outbox SET status = 'pending', sender = NULL, send_lease = NULL
          ${unconfirmed === undefined ? sql`` : sql`, attempts = attempts + 1, last_error = ${unconfirmed}`}
        WHERE status = 'sending' AND sender = ${options.token}`.pipe(Effect.asVoid)

    const record = (rows: ReadonlyArray<Amqp.Message>, outcomes: ReadonlyArray<Amqp.Outcome>) =>
      Effect.gen(function*() {
        const now = new Date(yield* Clock.currentTimeMillis)
        const delivered = rows.filter((_, i) => outcomes[i]?._tag === "delivered").map((row) => row.id)
        const others = rows.flatMap((row, i) => {
          const outcome = outcomes[i]
          return outcome === undefined || outcome._tag === "delivered"
            ? []
            : [{ row, status: outcome._tag === "failed" ? "failed" : "pending", error: outcome.error }]
        })
        if (delivered.length > 0) {
          yield* sql`
            UPDATE cron_worker.outbox
            SET status = 'delivered', delivered_at = ${now}, attempts = attempts + 1,
              last_error = NULL, sender = NULL, send_lease = NULL
            WHERE id = ANY(${delivered}::uuid[])`
        }
        if (others.length > 0) {
          // A nacked row goes back to pending only if this relay still holds it (not taken over meanwhile).
          yield* sql`
            UPDATE cron_worker.outbox o
            SET status = u.status, attempts = o.attempts + 1, last_error = u.error, sender = NULL, send_lease = NULL
            FROM unnest(${others.map((o) => o.row.id)}::uuid[], ${others.map((o) => o.status)}::text[], ${
            others.map((o) => o.error)
          }::text[])
              AS u (id, status, error)
            WHERE o.id = u.id AND (u.status = 'failed' OR o.sender = ${options.token})`
        }
        Metrics.outbox("delivered", delivered.length)
        for (const { error, row, status } of others) {
          if (status === "failed") {
            Metrics.outbox("failed")
            if (error.startsWith("unroutable")) Metrics.outbox("unroutable")
          }
          const fields = { message_id: row.id, exchange: row.exchange, routing_key: row.routing_key, error }
          yield* (status === "failed"
            ? Effect.logError("outbox message unroutable")
            : Effect.logWarning("outbox message not confirmed"))
            .pipe(Effect.annotateLogs(fields))
        }
        return delivered.length
      })

    return { take, giveBack, record, counts: Effect.provideService(counts, SqlClient.SqlClient, sql) }
  })
