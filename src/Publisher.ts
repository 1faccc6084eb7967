/**
 * Publishing messages from jobs. The port is `publish(exchange, routingKey,
 * payload, options)`. The worker's adapter, `layerOutbox`, writes the message
 * to the outbox table, inside the job's transaction when there is one, and
 * `OutboxRelay` delivers it to RabbitMQ afterwards: a job's writes and its
 * messages commit or roll back together. `layerMemory` serves tests.
 */
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { CurrentRun } from "./Job.js"
import * as Redact from "./Redact.js"

/** Options of a message. */
export interface PublishOptions {
  /** Default `application/json` for objects, `text/plain` for strings, `application/octet-stream` for bytes. */
  readonly contentType?: string | undefined
  /**
   * The message's id (a UUID), which consumers can deduplicate on. Publishing
   * twice with one id stores and delivers one message: derive it from the
   * slot (`CurrentRun.nominalAt`) to make a re-run publish nothing new.
   * Default: a fresh UUID.
   */
  readonly messageId?: string | undefined
  /** Extra AMQP headers. The W3C `traceparent` of the current span is added. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** A message as it was handed to the publisher. */
export interface Message {
  readonly id: string
  readonly exchange: string
  readonly routingKey: string
  readonly payload: Uint8Array
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
}

/** The message could not be stored (the outbox insert failed). */
export class PublishError extends Schema.TaggedError<PublishError>()("PublishError", {
  exchange: Schema.String,
  routingKey: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot publish to ${this.exchange} (${this.routingKey}): ${this.reason}`
  }
}

export interface PublisherShape {
  /** Publishes `payload` (an object as JSON, a string, or bytes); returns the message id. */
  readonly publish: (
    exchange: string,
    routingKey: string,
    payload: unknown,
    options?: PublishOptions
  ) => Effect.Effect<string, PublishError>
}

/** The publisher port. */
export class Publisher extends Context.Tag("cron-worker/Publisher")<Publisher, PublisherShape>() {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The message `publish` describes, with its trace context. */
export const toMessage = (
  exchange: string,
  routingKey: string,
  payload: unknown,
  options: PublishOptions = {}
): Effect.Effect<Message, PublishError> =>
  Effect.gen(function*() {
    const fail = (reason: string) => new PublishError({ exchange, routingKey, reason })
    if (exchange === "" && routingKey === "") {
      return yield* Effect.fail(fail("an exchange or a routing key is required"))
    }
    const id = options.messageId ?? randomUUID()
    if (!UUID.test(id)) return yield* Effect.fail(fail(`messageId must be a UUID, got "${id}"`))
    const [bytes, contentType] = payload instanceof Uint8Array
      ? [payload, "application/octet-stream"]
      : typeof payload === "string"
      ? [new TextEncoder().encode(payload), "text/plain"]
      : [new TextEncoder().encode(JSON.stringify(payload)), "application/json"]
    const span = yield* Effect.option(Effect.currentSpan)
    const traceparent = Option.match(span, {
      onNone: () => ({}),
      onSome: (s) => ({ traceparent: `00-${s.traceId}-${s.spanId}-${s.sampled ? "01" : "00"}` })
    })
    return {
      id: id.toLowerCase(),
      exchange,
      routingKey,
      payload: bytes,
      contentType: options.contentType ?? contentType,
      headers: { ...options.headers, ...traceparent }
    }
  })

/**
 * Writes each message to `cron_worker.outbox`, with the run that published it,
 * through the `SqlClient` in context, so inside the job's transaction when it
 * opened one. A message id already in the outbox is not written again.
 */
export const layerOutbox: Layer.Layer<Publisher, never, SqlClient.SqlClient> = Layer.effect(
  Publisher,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return Publisher.of({
      publish: (exchange, routingKey, payload, options) =>
        Effect.gen(function*() {
          const message = yield* toMessage(exchange, routingKey, payload, options)
          const run = yield* Effect.serviceOption(CurrentRun)
          yield* sql`
            INSERT INTO cron_worker.outbox (id, exchange, routing_key, payload, content_type, headers, job, run_id)
            VALUES (${message.id}, ${message.exchange}, ${message.routingKey},
              ${message.payload}, ${message.contentType},
                    ${JSON.stringify(message.headers)}::jsonb,
                    ${Option.getOrNull(Option.map(run, (r) => r.job))}, ${
            Option.getOrNull(Option.map(run, (r) => r.runId))
          })
            ON CONFLICT (id) DO NOTHING`.pipe(
            Effect.mapError((error) => new PublishError({ exchange, routingKey, reason: Redact.scrub(error.message) }))
          )
          return message.id
        }).pipe(
          Effect.withSpan("Publisher.publish", {
            attributes: { "messaging.destination": exchange, "messaging.routing_key": routingKey }
          })
        )
    })
  })
)

/** What `layerMemory` received, for assertions. */
export class Published extends Context.Tag("cron-worker/Published")<Published, Ref.Ref<ReadonlyArray<Message>>>() {}

/** A publisher that keeps messages in memory (one per id), readable through `Published`: for tests. */
export const layerMemory: Layer.Layer<Publisher | Published> = Layer.effectContext(
  Effect.gen(function*() {
    const published = yield* Ref.make<ReadonlyArray<Message>>([])
    const publisher = Publisher.of({
      publish: (exchange, routingKey, payload, options) =>
        Effect.flatMap(
          toMessage(exchange, routingKey, payload, options),
          (message) =>
            Ref.update(published, (all) => (all.some((m) => m.id === message.id) ? all : [...all, message])).pipe(
              Effect.as(message.id)
            )
        )
    })
    return Context.make(Publisher, publisher).pipe(Context.add(Published, published))
  })
)
