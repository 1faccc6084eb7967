/**
 * Delivers the outbox to RabbitMQ. Pending rows go out oldest first through a
 * confirm channel (persistent, `mandatory`, `message_id` = outbox id, W3C
 * `traceparent` header) and are marked delivered only after the broker
 * confirms. A returned (unroutable) message, or one whose exchange the broker
 * refuses, marks its row failed and is logged; a broker that is down or
 * restarts is reconnected with backoff and the rows wait; a broker that
 * refuses the credentials or the vhost is a configuration problem, logged
 * once as an error and shown by {@link OutboxRelayShape.status}. Batches are
 * claimed per process (`OutboxRelay/Claims.ts`), and one relay sends at a
 * time across every instance, so that order holds.
 */
import { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Layer, Option, Schedule } from "effect"
import { hostname } from "node:os"
import * as Amqp from "./OutboxRelay/Amqp.js"
import * as Broker from "./OutboxRelay/Broker.js"
import * as Claims from "./OutboxRelay/Claims.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** Rows per batch. */
const BATCH = 100
/** How long start-up waits for the broker before going on without it. */
const STARTUP_CONNECT = Duration.seconds(10)
/** Idle wait between looks at the outbox. */
const POLL = Duration.seconds(1)
/** Backoff after a failed delivery: 1 s, doubling, at most 30 s. */
const RECONNECT = Schedule.exponential(Duration.seconds(1), 2).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)

/** What a flush left behind. */
export interface FlushResult {
  readonly delivered: number
  readonly pending: number
  readonly failed: number
}

/** Where the relay stands with the broker; see {@link Broker.RelayState}. */
export type RelayStatus = Broker.RelayStatus
export type RelayState = Broker.RelayState

export interface OutboxRelayShape {
  /** False when `RABBITMQ_URL` is unset: messages wait in the outbox. */
  readonly enabled: boolean
  /** Delivers pending messages now, for up to `timeout`; says what is left. Gives up at once when `refused`. */
  readonly flush: (timeout: Duration.DurationInput) => Effect.Effect<FlushResult>
  /** Where the relay stands with the broker now (for `/health`). */
  readonly status: Effect.Effect<RelayStatus>
}

export class OutboxRelay extends Context.Tag("cron-worker/OutboxRelay")<OutboxRelay, OutboxRelayShape>() {}

export const describeUrl = Amqp.describeUrl

/** How a relay runs; every option has the worker's default. */
export interface Options {
  /**
   * `background` (default, the worker): connects at start-up and a fiber
   * delivers pending messages as they come. `flush`: nothing runs or connects
   * until `flush` is called (`run <job>`: a CLI process never relays unless asked).
   */
  readonly mode?: "background" | "flush"
  /** Longest wait for the broker's confirms of one batch; then it is given back and retried. Default 30 s. */
  readonly confirmTimeout?: Duration.DurationInput
  /**
   * How long a batch marked `sending` belongs to its relay before another may
   * take it over (its relay died). Keep it above `confirmTimeout` plus a few
   * seconds. Default 120 s.
   */
  readonly sendLease?: Duration.DurationInput
}

/**
 * Why a delivery attempt stopped: the broker (the connection is dropped and reopened), the broker's refusal of the
 * credentials or vhost, or the database. `sent`: the batch was published, maybe without confirms.
 */
class DeliveryFailed {
  constructor(readonly origin: "broker" | "refused" | "database", readonly error: string, readonly sent = false) {}
}

/** The relay on the worker's configuration and database, for the scope; `options` default to the worker's. */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const config = yield* WorkerConfig
    if (Option.isNone(config.rabbitmqUrl)) {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.logWarning("rabbitmq not configured: published messages wait in the outbox")
      return OutboxRelay.of({
        enabled: false,
        flush: () =>
          Claims.counts.pipe(
            Effect.map((c) => ({ delivered: 0, ...c })),
            Effect.orDie,
            Effect.provideService(SqlClient.SqlClient, sql)
          ),
        status: Effect.succeed({ status: "disabled" })
      })
    }
    const broker = yield* Broker.make(config.rabbitmqUrl.value, {
      name: config.serviceName,
      exchange: config.rabbitmqExchange
    })
    const { host } = broker.target
    const confirmTimeout = Duration.decode(options.confirmTimeout ?? "30 seconds")
    const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
    const claims = yield* Claims.make({
      token: Claims.token(instance),
      sendLease: Duration.decode(options.sendLease ?? "120 seconds"),
      batch: BATCH
    })
    /** One delivery at a time in this process: the background relay and `flush` take turns. */
    const delivering = yield* Effect.makeSemaphore(1)
    const connected = Effect.mapError(
      broker.connected,
      (failure) => new DeliveryFailed(failure.refused ? "refused" : "broker", failure.reason)
    )

    const onDatabase = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (error) => new DeliveryFailed("database", Amqp.message(error)))
    const onBroker = (sent: boolean) => (error: string) => new DeliveryFailed("broker", error, sent)

    /** One batch: take it, declare its exchanges, publish it, record it. Returns how many rows it handled. */
    const deliverBatch = Effect.gen(function*() {
      // The connection first: with the broker down, rows stay plainly pending.
      const connection = yield* connected
      const rows = yield* onDatabase(claims.take)
      if (rows.length === 0) return { handled: 0, delivered: 0 }
      return yield* Effect.gen(function*() {
        const refused = new Map<string, string>()
        for (const exchange of new Set(rows.map((row) => row.exchange))) {
          const refusal = yield* Effect.mapError(Amqp.declare(connection, exchange), onBroker(false))
          if (refusal !== undefined) refused.set(exchange, refusal)
        }
        const outcomes = yield* Amqp.publishAll(connection, rows, refused, config.serviceName, confirmTimeout).pipe(
          Effect.mapError(onBroker(true))
        )
        const delivered = yield* onDatabase(claims.record(rows, outcomes))
        const retry = outcomes.find((outcome) => outcome._tag === "retry")
        // A nack means broker trouble: back off rather than hammer it with the same rows.
        if (retry !== undefined) return yield* Effect.fail(new DeliveryFailed("broker", retry.error))
        return { handled: rows.length, delivered }
      }).pipe(
        // Cut short (a flush's time is up, shutdown): the batch goes back now, not when its lease expires, so that
        // the next relay (a restarted worker has another token) does not wait for it.
        Effect.onInterrupt(() =>
          giveBack(new DeliveryFailed("broker", "interrupted before the broker confirmed", true))
        )
      )
    })

    /** This relay's batch back to pending; if that fails, its lease frees it later. */
    const giveBack = (failure: DeliveryFailed) =>
      claims.giveBack(failure.sent ? `not confirmed: ${failure.error}` : undefined).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("outbox batch not given back: another relay takes it when its lease expires").pipe(
            Effect.annotateLogs({ error: Amqp.message(error) })
          )
        )
      )

    /** Delivers until nothing is pending; a broker failure drops the connection, a database one keeps it. */
    const drain = delivering.withPermits(1)(Effect.gen(function*() {
      let delivered = 0
      for (;;) {
        const batch = yield* deliverBatch.pipe(
          Effect.tapError((failure) =>
            failure.origin === "broker"
              ? Effect.zipRight(broker.drop(failure.error), giveBack(failure))
              : Effect.void
          )
        )
        delivered += batch.delivered
        if (batch.handled < BATCH) return delivered
      }
    })).pipe(
      Effect.tapError((failure) =>
        // A refusal was logged once, when the relay entered that state.
        failure.origin === "refused" ? Effect.void : Effect.logWarning(
          "outbox delivery failed: messages wait in the outbox, retrying"
        ).pipe(Effect.annotateLogs({ host, origin: failure.origin, error: failure.error }))
      )
    )

    const flush = (timeout: Duration.DurationInput) =>
      drain.pipe(
        Effect.retry({ schedule: RECONNECT, while: (failure) => failure.origin !== "refused" }),
        // Logged above; what is left is counted below.
        Effect.orElseSucceed(() => 0),
        Effect.timeoutOption(timeout),
        Effect.flatMap((delivered) =>
          Effect.map(Effect.orDie(claims.counts), (c) => ({ delivered: Option.getOrElse(delivered, () => 0), ...c }))
        )
      )

    if (options.mode === "flush") {
      return OutboxRelay.of({ enabled: true, flush, status: broker.status })
    }

    // Connect now, so that a reachable broker is ready before the first job runs; if it is not, the relay retries.
    yield* connected.pipe(
      Effect.flatMap((connection) =>
        Effect.mapError(Amqp.declare(connection, config.rabbitmqExchange), onBroker(false))
      ),
      Effect.tap((refusal) =>
        refusal === undefined
          ? Effect.void
          : Effect.logError("RABBITMQ_EXCHANGE cannot be used: its messages will be marked failed").pipe(
            Effect.annotateLogs({ exchange: config.rabbitmqExchange, error: refusal })
          )
      ),
      Effect.timeout(STARTUP_CONNECT),
      Effect.catchAll((error) =>
        error instanceof DeliveryFailed && error.origin === "refused"
          ? Effect.void // logged as an error when the relay entered that state
          : Effect.logWarning("rabbitmq unavailable at start-up: messages wait in the outbox, retrying").pipe(
            Effect.annotateLogs({ host, error: error instanceof DeliveryFailed ? error.error : String(error) })
          )
      )
    )
    yield* Effect.forkScoped(drain.pipe(Effect.retry(RECONNECT), Effect.zipRight(Effect.sleep(POLL)), Effect.forever))

    return OutboxRelay.of({ enabled: true, flush, status: broker.status })
  })

/** The worker's relay: a background fiber when `RABBITMQ_URL` is set, a no-op that says so otherwise. */
export const layer: Layer.Layer<OutboxRelay, never, SqlClient.SqlClient | WorkerConfig> = Layer.scoped(
  OutboxRelay,
  make()
)

/** A relay that delivers only when `flush` is called (`run <job>`); it connects then, not at start-up. */
export const layerFlush: Layer.Layer<OutboxRelay, never, SqlClient.SqlClient | WorkerConfig> = Layer.scoped(
  OutboxRelay,
  make({ mode: "flush" })
)

/** A relay with `options` (tests shorten the confirm timeout and the send lease). */
export const layerWith = (options: Options): Layer.Layer<OutboxRelay, never, SqlClient.SqlClient | WorkerConfig> =>
  Layer.scoped(OutboxRelay, make(options))
