/**
 * Delivers the outbox to RabbitMQ. Pending rows go out oldest first through a
 * confirm channel (persistent, `mandatory`, `message_id` = outbox id, W3C
 * `traceparent` header) and are marked delivered only after the broker
 * confirms. A returned (unroutable) message, or one whose exchange the broker
 * refuses, marks its row failed and is logged; a broker that is down or
 * restarts is reconnected with backoff and the rows wait. Rows are taken in
 * short transactions (marked `sending` under a lease, never locked across
 * broker I/O), and one relay sends at a time across every instance, so that
 * order holds.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Ref, Schedule } from "effect"
import { hostname } from "node:os"
import * as Amqp from "./OutboxRelay/Amqp.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** Rows per batch. */
const BATCH = 100
/** How long a batch marked `sending` belongs to its relay before another may take it over. */
const SEND_LEASE_SECONDS = 120
/** How long start-up waits for the broker before going on without it. */
const STARTUP_CONNECT = Duration.seconds(10)
/** Idle wait between looks at the outbox. */
const POLL = Duration.seconds(1)
/** Backoff after a failed delivery: 1 s, doubling, at most 30 s. */
const RECONNECT = Schedule.exponential(Duration.seconds(1), 2).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)
/** `pg_advisory_xact_lock` id serialising the relays' batch taking: "cw_relay" in ASCII. */
const RELAY_LOCK = 0x63775f72656c6179n

/** What a flush left behind. */
export interface FlushResult {
  readonly delivered: number
  readonly pending: number
  readonly failed: number
}

export interface OutboxRelayShape {
  /** False when `RABBITMQ_URL` is unset: messages wait in the outbox. */
  readonly enabled: boolean
  /** Delivers pending messages now, for up to `timeout`; says what is left. */
  readonly flush: (timeout: Duration.DurationInput) => Effect.Effect<FlushResult>
}

export class OutboxRelay extends Context.Tag("cron-worker/OutboxRelay")<OutboxRelay, OutboxRelayShape>() {}

export const describeUrl = Amqp.describeUrl

/** Why a delivery attempt stopped: the broker (the connection is dropped and reopened) or the database. */
class DeliveryFailed {
  constructor(readonly origin: "broker" | "database", readonly error: string) {}
}

const make = Effect.gen(function*() {
  const config = yield* WorkerConfig
  const sql = yield* SqlClient.SqlClient
  const counts = sql<{ pending: number; failed: number }>`
    SELECT count(*) FILTER (WHERE status IN ('pending', 'sending'))::int AS pending, count(*)
      FILTER (WHERE status = 'failed')::int AS failed
    FROM cron_worker.outbox`.pipe(Effect.map((rows) => rows[0] ?? { pending: 0, failed: 0 }), Effect.orDie)
  if (Option.isNone(config.rabbitmqUrl)) {
    yield* Effect.logWarning("rabbitmq not configured: published messages wait in the outbox")
    return OutboxRelay.of({ enabled: false, flush: () => Effect.map(counts, (c) => ({ delivered: 0, ...c })) })
  }
  const url = Redacted.value(config.rabbitmqUrl.value)
  const host = Amqp.describeUrl(url)
  const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
  const current = yield* Ref.make(Option.none<Amqp.Connection>())
  const dropConnection = Effect.flatMap(
    Ref.getAndSet(current, Option.none()),
    Option.match({ onNone: () => Effect.void, onSome: Amqp.close })
  )
  yield* Effect.addFinalizer(() =>
    Effect.flatMap(
      Ref.get(current),
      Option.match({
        onNone: () => Effect.void,
        onSome: (connection) =>
          Amqp.close(connection).pipe(Effect.zipRight(Effect.logInfo("rabbitmq connection closed")))
      })
    )
  )

  const connecting = yield* Effect.makeSemaphore(1)
  /** One delivery at a time in this process: the background relay and `flush` take turns. */
  const delivering = yield* Effect.makeSemaphore(1)

  /** The open connection, or a new one; fails with the reason. */
  const connected = connecting.withPermits(1)(Effect.gen(function*() {
    const existing = yield* Ref.get(current)
    if (Option.isSome(existing) && !existing.value.closed) return existing.value
    if (Option.isSome(existing)) yield* Amqp.close(existing.value)
    const connection = yield* Amqp.open(url, config.serviceName)
    yield* Ref.set(current, Option.some(connection))
    yield* Effect.logInfo("rabbitmq initialized").pipe(Effect.annotateLogs({ exchange: config.rabbitmqExchange, host }))
    return connection
  })).pipe(Effect.mapError((error) => new DeliveryFailed("broker", error)))

  const onDatabase = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.mapError(effect, (error) => new DeliveryFailed("database", Amqp.message(error)))

  /**
   * The next batch, oldest first: pending rows, and rows whose relay's lease
   * expired, unless another relay is sending now. Marked `sending` and committed.
   */
  const take = onDatabase(sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(${RELAY_LOCK.toString()}::bigint)`
    const busy = yield* sql`
      SELECT 1 FROM cron_worker.outbox WHERE status = 'sending' AND sender <> ${instance} AND send_lease > now()
        LIMIT 1`
    if (busy.length > 0) return []
    const rows = yield* sql<Amqp.Message & { readonly seq: string }>`
      UPDATE cron_worker.outbox
      SET status = 'sending', sender = ${instance}, send_lease = now() + make_interval(secs => ${SEND_LEASE_SECONDS})
      WHERE id IN (
        SELECT id FROM cron_worker.outbox WHERE status IN ('pending', 'sending') ORDER BY seq LIMIT ${BATCH} FOR UPDATE
      )
      RETURNING id, seq, exchange, routing_key, payload, content_type, headers, created_at`
    return [...rows].sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)))
  }))).pipe(Effect.withTracerEnabled(false))

  /** Puts this relay's unsettled batch back to pending (best effort: its lease would free it anyway). */
  const giveBack = sql`
    UPDATE cron_worker.outbox SET status = 'pending', sender = NULL, send_lease = NULL
    WHERE status = 'sending' AND sender = ${instance}`.pipe(Effect.ignore)

  /** Records what became of each message of a batch, in one statement per kind of outcome. */
  const record = (rows: ReadonlyArray<Amqp.Message>, outcomes: ReadonlyArray<Amqp.Outcome>) =>
    onDatabase(Effect.gen(function*() {
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
        yield* sql`
          UPDATE cron_worker.outbox o
          SET status = u.status, attempts = o.attempts + 1, last_error = u.error, sender = NULL, send_lease = NULL
          FROM unnest(${others.map((o) => o.row.id)}::uuid[], ${others.map((o) => o.status)}::text[], ${
          others.map((o) => o.error)
        }::text[])
            AS u (id, status, error)
          WHERE o.id = u.id`
      }
      for (const { error, row, status } of others) {
        const fields = { message_id: row.id, exchange: row.exchange, routing_key: row.routing_key, error }
        yield* (status === "failed"
          ? Effect.logError("outbox message unroutable")
          : Effect.logWarning("outbox message not confirmed"))
          .pipe(Effect.annotateLogs(fields))
      }
      return delivered.length
    }))

  /** One batch: take it, declare its exchanges, publish it, record it. Returns how many rows it handled. */
  const deliverBatch = Effect.gen(function*() {
    // The connection first: with the broker down, rows stay plainly pending.
    const connection = yield* connected
    const rows = yield* take
    if (rows.length === 0) return { handled: 0, delivered: 0 }
    const refused = new Map<string, string>()
    for (const exchange of new Set(rows.map((row) => row.exchange))) {
      const refusal = yield* Amqp.declare(connection, exchange).pipe(
        Effect.mapError((error) => new DeliveryFailed("broker", error))
      )
      if (refusal !== undefined) refused.set(exchange, refusal)
    }
    const outcomes = yield* Amqp.publishAll(connection, rows, refused, config.serviceName).pipe(
      Effect.mapError((error) => new DeliveryFailed("broker", error))
    )
    const delivered = yield* record(rows, outcomes)
    const retry = outcomes.find((outcome) => outcome._tag === "retry")
    // A nack means broker trouble: back off rather than hammer it with the same rows.
    if (retry !== undefined) return yield* Effect.fail(new DeliveryFailed("broker", retry.error))
    return { handled: rows.length, delivered }
  })

  /** Delivers until nothing is pending; a broker failure drops the connection, a database one keeps it. */
  const drain = delivering.withPermits(1)(Effect.gen(function*() {
    let delivered = 0
    for (;;) {
      const batch = yield* deliverBatch.pipe(
        Effect.tapError((
          failure
        ) => (failure.origin === "broker" ? Effect.zipRight(dropConnection, giveBack) : Effect.void))
      )
      delivered += batch.delivered
      if (batch.handled < BATCH) return delivered
    }
  }))

  const relay = drain.pipe(
    Effect.tapError((failure) =>
      Effect.logWarning("outbox delivery failed: messages wait in the outbox, retrying").pipe(
        Effect.annotateLogs({ host, origin: failure.origin, error: failure.error })
      )
    ),
    Effect.retry(RECONNECT),
    Effect.zipRight(Effect.sleep(POLL)),
    Effect.forever
  )

  // Connect now, so that a reachable broker is ready before the first job runs; if it is not, the relay retries.
  yield* connected.pipe(
    Effect.flatMap((connection) => Amqp.declare(connection, config.rabbitmqExchange)),
    Effect.tap((refusal) =>
      refusal === undefined
        ? Effect.void
        : Effect.logError("RABBITMQ_EXCHANGE cannot be used: its messages will be marked failed").pipe(
          Effect.annotateLogs({ exchange: config.rabbitmqExchange, error: refusal })
        )
    ),
    Effect.timeout(STARTUP_CONNECT),
    Effect.catchAll((error) =>
      Effect.logWarning("rabbitmq unavailable at start-up: messages wait in the outbox, retrying").pipe(
        Effect.annotateLogs({ host, error: error instanceof DeliveryFailed ? error.error : String(error) })
      )
    )
  )
  yield* Effect.forkScoped(relay)

  return OutboxRelay.of({
    enabled: true,
    flush: (timeout) =>
      drain.pipe(
        Effect.retry(RECONNECT),
        Effect.catchAll(() => Effect.succeed(0)),
        Effect.timeoutOption(timeout),
        Effect.flatMap((delivered) =>
          Effect.map(counts, (c) => ({ delivered: Option.getOrElse(delivered, () => 0), ...c }))
        )
      )
  })
})

/** The relay: a background fiber when `RABBITMQ_URL` is set, a no-op that says so otherwise. */
export const layer: Layer.Layer<OutboxRelay, never, SqlClient.SqlClient | WorkerConfig> = Layer.scoped(
  OutboxRelay,
  make
)
