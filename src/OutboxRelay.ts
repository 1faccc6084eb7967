/**
 * Delivers the outbox to RabbitMQ. Pending rows go out in order through a
 * confirm channel (persistent, `mandatory`, `message_id` = outbox id, W3C
 * `traceparent` header) and are marked delivered only after the broker
 * confirms. A returned (unroutable) message marks its row failed and is
 * logged; a broker that is down or restarts is reconnected with backoff and
 * the rows wait. Several workers share the outbox through `SKIP LOCKED`.
 */
import { SqlClient } from "@effect/sql"
import amqp from "amqplib"
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Ref, Schedule } from "effect"
import * as Redact from "./Redact.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** Rows per transaction. */
const BATCH = 100
/** How long start-up waits for the broker before going on without it. */
const STARTUP_CONNECT = Duration.seconds(10)
/** Longest wait for the broker's confirms of one batch. */
const CONFIRM_TIMEOUT = Duration.seconds(30)
/** Idle wait between looks at the outbox. */
const POLL = Duration.seconds(1)
/** Reconnection backoff: 1 s, doubling, at most 30 s. */
const RECONNECT = Schedule.exponential(Duration.seconds(1), 2).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)

interface Row {
  readonly id: string
  readonly exchange: string
  readonly routing_key: string
  readonly payload: Uint8Array
  readonly content_type: string
  readonly headers: Record<string, string>
  readonly created_at: Date
}

interface Connection {
  readonly model: amqp.ChannelModel
  readonly channel: amqp.ConfirmChannel
  /** Message ids the broker returned as unroutable, with its reason. */
  readonly returned: Map<string, string>
  readonly declared: Set<string>
  closed: boolean
}

type Outcome = { readonly _tag: "delivered" } | { readonly _tag: "failed"; readonly error: string } | {
  readonly _tag: "retry"
  readonly error: string
}

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

/** `host:port` of an AMQP URL, without credentials. */
export const describeUrl = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === "amqps:" ? "5671" : "5672")}`
}

const message = (error: unknown) => Redact.scrub(error instanceof Error ? error.message : String(error))

const open = (url: string, name: string) =>
  Effect.tryPromise({
    try: async () => {
      const model = await amqp.connect(url, { timeout: 10_000, clientProperties: { connection_name: name } })
      const channel = await model.createConfirmChannel()
      const connection: Connection = { model, channel, returned: new Map(), declared: new Set(), closed: false }
      const lost = () => {
        connection.closed = true
      }
      model.on("close", lost)
      model.on("error", lost)
      channel.on("close", lost)
      channel.on("error", lost)
      channel.on("return", (returned: amqp.Message) => {
        const id = String(returned.properties.messageId)
        connection.returned.set(id, `unroutable: no queue bound to exchange "${returned.fields.exchange}" with routing key "${returned.fields.routingKey}"`)
      })
      return connection
    },
    catch: message
  })

const close = (connection: Connection) =>
  Effect.promise(async () => {
    connection.closed = true
    await connection.model.close().catch(() => undefined)
  })

/**
 * Declares the exchanges of `rows` not yet declared on this connection, each
 * on a channel of its own: an exchange the broker refuses (it exists with
 * another type) closes only that channel. Returns the refused ones, with why.
 */
const declareExchanges = async (connection: Connection, rows: ReadonlyArray<Row>) => {
  const refused = new Map<string, string>()
  for (const exchange of new Set(rows.map((row) => row.exchange))) {
    if (exchange === "" || connection.declared.has(exchange)) continue
    const probe = await connection.model.createChannel()
    probe.on("error", () => undefined)
    try {
      await probe.assertExchange(exchange, "topic", { durable: true })
      connection.declared.add(exchange)
      await probe.close()
    } catch (error) {
      refused.set(exchange, `exchange "${exchange}" cannot be used: ${message(error)}`)
    }
  }
  return refused
}

/** Publishes `rows` in order and waits for the broker's confirms. */
const publishAll = (connection: Connection, rows: ReadonlyArray<Row>, appId: string) =>
  Effect.tryPromise({
    try: async (): Promise<Array<Outcome>> => {
      const { channel } = connection
      const refused = await declareExchanges(connection, rows)
      const confirms = rows.map((row) =>
        new Promise<Outcome>((resolve) => {
          const refusal = refused.get(row.exchange)
          if (refusal !== undefined) return resolve({ _tag: "failed", error: refusal })
          channel.publish(row.exchange, row.routing_key, Buffer.from(row.payload), {
            persistent: true,
            mandatory: true,
            contentType: row.content_type,
            messageId: row.id,
            timestamp: Math.floor(row.created_at.getTime() / 1000),
            appId,
            headers: row.headers
          }, (error: unknown) => {
            const returned = connection.returned.get(row.id)
            connection.returned.delete(row.id)
            if (returned !== undefined) resolve({ _tag: "failed", error: returned })
            else if (error !== null && error !== undefined) resolve({ _tag: "retry", error: `nacked by the broker: ${message(error)}` })
            else resolve({ _tag: "delivered" })
          })
        })
      )
      return Promise.all(confirms)
    },
    catch: message
  }).pipe(
    // A broker that stops answering must not hold the batch's transaction open.
    Effect.timeoutFail({ duration: CONFIRM_TIMEOUT, onTimeout: () => "the broker did not confirm within 30 seconds" })
  )

const make = Effect.gen(function*() {
  const config = yield* WorkerConfig
  const sql = yield* SqlClient.SqlClient
  const counts = sql<{ pending: number; failed: number }>`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'failed')::int AS failed
    FROM cron_worker.outbox`.pipe(Effect.map((rows) => rows[0] ?? { pending: 0, failed: 0 }), Effect.orDie)
  if (Option.isNone(config.rabbitmqUrl)) {
    yield* Effect.logWarning("rabbitmq not configured: published messages wait in the outbox")
    return OutboxRelay.of({ enabled: false, flush: () => Effect.map(counts, (c) => ({ delivered: 0, ...c })) })
  }
  const url = Redacted.value(config.rabbitmqUrl.value)
  const host = describeUrl(url)
  const current = yield* Ref.make(Option.none<Connection>())
  yield* Effect.addFinalizer(() =>
    Effect.flatMap(Ref.get(current), Option.match({
      onNone: () => Effect.void,
      onSome: (connection) => close(connection).pipe(Effect.zipRight(Effect.logInfo("rabbitmq connection closed")))
    })))

  const connecting = yield* Effect.makeSemaphore(1)

  /** The open connection, or a new one (declaring the configured exchange); fails with the reason. */
  const connected = connecting.withPermits(1)(Effect.gen(function*() {
    const existing = yield* Ref.get(current)
    if (Option.isSome(existing) && !existing.value.closed) return existing.value
    if (Option.isSome(existing)) yield* close(existing.value)
    const connection = yield* open(url, config.serviceName)
    yield* Effect.tryPromise({
      try: () => connection.channel.assertExchange(config.rabbitmqExchange, "topic", { durable: true }),
      catch: message
    }).pipe(Effect.tapError(() => close(connection)))
    connection.declared.add(config.rabbitmqExchange)
    yield* Ref.set(current, Option.some(connection))
    yield* Effect.logInfo("rabbitmq initialized").pipe(Effect.annotateLogs({ exchange: config.rabbitmqExchange, host }))
    return connection
  }))

  /** One batch: lock pending rows, publish them, record each outcome. Returns how many rows it handled. */
  const deliverBatch = (connection: Connection) =>
    sql.withTransaction(Effect.gen(function*() {
      const rows = yield* sql<Row>`
        SELECT id, exchange, routing_key, payload, content_type, headers, created_at
        FROM cron_worker.outbox WHERE status = 'pending'
        ORDER BY seq LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`
      if (rows.length === 0) return { handled: 0, delivered: 0 }
      const outcomes = yield* publishAll(connection, rows, config.serviceName)
      const now = new Date(yield* Clock.currentTimeMillis)
      let delivered = 0
      for (const [index, outcome] of outcomes.entries()) {
        const row = rows[index]!
        const fields = { message_id: row.id, exchange: row.exchange, routing_key: row.routing_key }
        if (outcome._tag === "delivered") {
          delivered++
          yield* sql`UPDATE cron_worker.outbox SET status = 'delivered', delivered_at = ${now}, attempts = attempts + 1, last_error = NULL WHERE id = ${row.id}`
          yield* Effect.logDebug("outbox message delivered").pipe(Effect.annotateLogs(fields))
        } else {
          const status = outcome._tag === "failed" ? "failed" : "pending"
          yield* sql`UPDATE cron_worker.outbox SET status = ${status}, attempts = attempts + 1, last_error = ${outcome.error} WHERE id = ${row.id}`
          yield* (outcome._tag === "failed" ? Effect.logError("outbox message unroutable") : Effect.logWarning("outbox message not confirmed"))
            .pipe(Effect.annotateLogs({ ...fields, error: outcome.error }))
        }
      }
      return { handled: rows.length, delivered }
    })).pipe(Effect.mapError(message))

  /** Delivers until the outbox has nothing pending; fails (and drops the connection) on a broker error. */
  const drain = Effect.gen(function*() {
    let delivered = 0
    for (;;) {
      const connection = yield* connected
      const batch = yield* deliverBatch(connection).pipe(
        Effect.tapError(() => Effect.flatMap(Ref.getAndSet(current, Option.none()), Option.match({ onNone: () => Effect.void, onSome: close })))
      )
      delivered += batch.delivered
      if (batch.handled < BATCH) return delivered
    }
  })

  const relay = drain.pipe(
    Effect.tapError((error) =>
      Effect.logWarning("outbox delivery failed: messages wait in the outbox, retrying").pipe(Effect.annotateLogs({ host, error }))
    ),
    Effect.retry(RECONNECT),
    Effect.zipRight(Effect.sleep(POLL)),
    Effect.forever
  )
  // Connect now, so that a reachable broker is ready before the first job runs; if it is not, the relay retries.
  yield* connected.pipe(
    Effect.timeout(STARTUP_CONNECT),
    Effect.catchAll((error) =>
      Effect.logWarning("rabbitmq unavailable at start-up: messages wait in the outbox, retrying").pipe(
        Effect.annotateLogs({ host, error: String(error) })
      ))
  )
  yield* Effect.forkScoped(relay)

  return OutboxRelay.of({
    enabled: true,
    flush: (timeout) =>
      drain.pipe(
        Effect.retry(RECONNECT),
        Effect.catchAll(() => Effect.succeed(0)),
        Effect.timeoutOption(timeout),
        Effect.flatMap((delivered) => Effect.map(counts, (c) => ({ delivered: Option.getOrElse(delivered, () => 0), ...c })))
      )
  })
})

/** The relay: a background fiber when `RABBITMQ_URL` is set, a no-op that says so otherwise. */
export const layer: Layer.Layer<OutboxRelay, never, SqlClient.SqlClient | WorkerConfig> = Layer.scoped(OutboxRelay, make)
