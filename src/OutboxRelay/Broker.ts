/**
 * The relay's link to RabbitMQ: one connection, opened on demand (one opener
 * at a time), dropped after a broker failure, closed with the scope; and
 * where the relay stands, for `/health`. A broker that refuses the
 * credentials or the vhost is logged once, as an error, when the relay enters
 * that state: every retry after it would say the same.
 */
import { Effect, Option, Redacted, Ref, type Scope } from "effect"
import * as Redact from "../Redact.js"
import * as Amqp from "./Amqp.js"

/**
 * Where the relay stands with the broker: `disabled` (`RABBITMQ_URL` unset),
 * `connecting` (not connected yet), `connected`, `unavailable` (down,
 * unreachable, connection lost: retrying) or `refused` (the broker turned the
 * credentials or the vhost down: a configuration problem, retried too).
 */
export type RelayState = "disabled" | "connecting" | "connected" | "unavailable" | "refused"

export interface RelayStatus {
  readonly status: RelayState
  /** The last failure, secrets masked; absent when `disabled`, `connecting` or `connected`. */
  readonly error?: string
}

export interface Broker {
  /** `host:port`, user and vhost of the broker: what logs may show. */
  readonly target: ReturnType<typeof Amqp.describeTarget>
  /** The open connection, or a new one. */
  readonly connected: Effect.Effect<Amqp.Connection, Amqp.ConnectFailed>
  /** Drops the connection after a failure (the next `connected` opens another); the relay is `unavailable`. */
  readonly drop: (error: string) => Effect.Effect<void>
  readonly status: Effect.Effect<RelayStatus>
}

export const make = (
  url: Redacted.Redacted<string>,
  options: { readonly name: string; readonly exchange: string }
): Effect.Effect<Broker, never, Scope.Scope> =>
  Effect.gen(function*() {
    const password = new URL(Redacted.value(url)).password
    // Configuration registers it too; a relay built from another source must not print it either.
    if (password !== "") Redact.register(password)
    const target = Amqp.describeTarget(Redacted.value(url))
    const current = yield* Ref.make(Option.none<Amqp.Connection>())
    const state = yield* Ref.make<RelayStatus>({ status: "connecting" })
    const connecting = yield* Effect.makeSemaphore(1)

    const enter = (next: RelayStatus) =>
      Effect.flatMap(Ref.getAndSet(state, next), (previous) =>
        next.status === "refused" && previous.status !== "refused"
          ? Effect.logError("rabbitmq refused the connection: messages wait in the outbox").pipe(
            Effect.annotateLogs({ ...target, error: next.error })
          )
          : Effect.void)

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

    const connected = connecting.withPermits(1)(Effect.gen(function*() {
      const existing = yield* Ref.get(current)
      if (Option.isSome(existing) && !existing.value.closed) return existing.value
      if (Option.isSome(existing)) yield* Amqp.close(existing.value)
      const connection = yield* Amqp.open(Redacted.value(url), options.name).pipe(
        Effect.tapError((failure) =>
          enter({ status: failure.refused ? "refused" : "unavailable", error: failure.reason })
        )
      )
      yield* Ref.set(current, Option.some(connection))
      yield* enter({ status: "connected" })
      yield* Effect.logInfo("rabbitmq initialized").pipe(
        Effect.annotateLogs({ exchange: options.exchange, host: target.host })
      )
      return connection
    }))

    const drop = (error: string) =>
      Ref.getAndSet(current, Option.none()).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: Amqp.close })),
        Effect.zipRight(enter({ status: "unavailable", error }))
      )

    // A connection lost since the last delivery shows before the relay next uses it.
    const status = Effect.zipWith(Ref.get(state), Ref.get(current), (status, connection): RelayStatus =>
      status.status === "connected" && Option.isSome(connection) && connection.value.closed
        ? { status: "unavailable", error: "connection lost" }
        : status)

    return { target, connected, drop, status }
  })
