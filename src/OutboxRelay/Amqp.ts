/**
 * The AMQP side of the outbox relay: a connection with a confirm channel,
 * exchange declarations on channels of their own, publishing a batch in order
 * with its confirms and returns, and a close that cannot hang.
 */
import amqp from "amqplib"
import { Duration, Effect, Schema } from "effect"
import * as Redact from "../Redact.js"

/** An outbox row on its way to the broker. */
export interface Message {
  readonly id: string
  readonly exchange: string
  readonly routing_key: string
  readonly payload: Uint8Array
  readonly content_type: string
  readonly headers: Record<string, string>
  readonly created_at: Date
}

export interface Connection {
  readonly model: amqp.ChannelModel
  readonly channel: amqp.ConfirmChannel
  /** Message ids the broker returned as unroutable, with why. */
  readonly returned: Map<string, string>
  readonly declared: Set<string>
  closed: boolean
}

/**
 * What became of one message. `retry`: try again later (nacked, broker trouble); `failed`: never will be delivered as
 * is.
 */
export type Outcome =
  | { readonly _tag: "delivered" }
  | { readonly _tag: "failed"; readonly error: string }
  | { readonly _tag: "retry"; readonly error: string }

/** Longest wait for the broker to acknowledge a close; then the socket is dropped. */
const CLOSE_TIMEOUT = 2_000
/** AMQP reply codes that no retry will change: access refused, not found, precondition failed. */
const PERMANENT = new Set([403, 404, 406])

export const message = (error: unknown) => Redact.scrub(error instanceof Error ? error.message : String(error))

const code = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "number"
    ? error.code
    : undefined

/** `host:port` of an AMQP URL, without credentials. */
export const describeUrl = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === "amqps:" ? "5671" : "5672")}`
}

const decode = (text: string) => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Where an AMQP URL points, as logs may show it: `host:port`, the user and the vhost (never the password). */
export const describeTarget = (
  url: string
): { readonly host: string; readonly user: string; readonly vhost: string } => {
  const parsed = new URL(url)
  // amqplib's defaults: user guest, vhost "/".
  return {
    host: describeUrl(url),
    user: decode(parsed.username) || "guest",
    vhost: decode(parsed.pathname.slice(1)) || "/"
  }
}

/**
 * The connection could not be opened. `refused`: the broker turned the
 * credentials or the vhost down, which no retry changes until its
 * configuration does; otherwise it is down, unreachable or did not answer.
 */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  refused: Schema.Boolean,
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/** amqplib's handshake errors for credentials (403 ACCESS_REFUSED), vhosts (530 NOT_ALLOWED), SASL mechanisms. */
const REFUSED = /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|SASL mechanism/i
/** amqplib's error when the broker answers `connection.open` (the vhost) with a close, whose reason it drops. */
const VHOST_CLOSED = /Expected ConnectionOpenOk; got <ConnectionClose/

const connectFailed = (url: string, error: unknown) => {
  const reason = message(error)
  if (VHOST_CLOSED.test(reason)) {
    const { user, vhost } = describeTarget(url)
    return new ConnectFailed({
      refused: true,
      reason: `vhost "${vhost}" refused: it does not exist or user "${user}" may not use it (${reason})`
    })
  }
  return new ConnectFailed({ refused: REFUSED.test(reason), reason })
}

export const open = (url: string, name: string) =>
  Effect.tryPromise({
    try: async () => {
      const model = await amqp.connect(url, { timeout: 10_000, clientProperties: { connection_name: name } })
      const channel = await model.createConfirmChannel().catch((error: unknown) => {
        model.close().catch(() => undefined)
        return Promise.reject(error)
      })
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
        connection.returned.set(
          id,
          `unroutable: no queue bound to exchange "${returned.fields.exchange}" ` +
            `with routing key "${returned.fields.routingKey}"`
        )
      })
      return connection
    },
    catch: (error) => connectFailed(url, error)
  })

/** Closes the connection, dropping the socket if the broker does not answer. */
export const close = (connection: Connection) =>
  Effect.promise(async () => {
    connection.closed = true
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), CLOSE_TIMEOUT)))
    const outcome = await Promise.race([
      connection.model.close().then(() => "closed" as const, () => "closed" as const),
      late
    ])
    clearTimeout(timer)
    if (outcome === "late") dropSocket(connection.model.connection)
  })

/** Destroys the connection's socket (amqplib keeps it, untyped, as `stream`). */
const dropSocket = (connection: object) => {
  if (!("stream" in connection) || typeof connection.stream !== "object" || connection.stream === null) return
  const stream = connection.stream
  if ("destroy" in stream && typeof stream.destroy === "function") stream.destroy()
}

/**
 * Declares `exchange` (topic, durable) on a channel of its own, so that a
 * refusal closes only that channel. `undefined` when it can be used, else why
 * not; a transient failure fails the effect.
 */
export const declare = (connection: Connection, exchange: string) =>
  Effect.tryPromise({
    try: async (): Promise<string | undefined> => {
      if (exchange === "" || connection.declared.has(exchange)) return undefined
      const probe = await connection.model.createChannel()
      probe.on("error", () => undefined)
      try {
        await probe.assertExchange(exchange, "topic", { durable: true })
        connection.declared.add(exchange)
        await probe.close()
        return undefined
      } catch (error) {
        if (PERMANENT.has(code(error) ?? 0)) return `exchange "${exchange}" cannot be used: ${message(error)}`
        throw error
      }
    },
    catch: message
  })

/**
 * Publishes `messages` in order (persistent, mandatory, with `message_id`,
 * `timestamp`, `app_id` and their headers) and waits up to `confirmTimeout`
 * for the broker's confirms; messages to a refused exchange are not sent.
 */
export const publishAll = (
  connection: Connection,
  messages: ReadonlyArray<Message>,
  refused: ReadonlyMap<string, string>,
  appId: string,
  confirmTimeout: Duration.Duration
) =>
  Effect.tryPromise({
    try: () =>
      Promise.all(messages.map((row) =>
        new Promise<Outcome>((resolve) => {
          const refusal = refused.get(row.exchange)
          if (refusal !== undefined) return resolve({ _tag: "failed", error: refusal })
          connection.channel.publish(row.exchange, row.routing_key, Buffer.from(row.payload), {
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
            else if (error !== null && error !== undefined) {
              resolve({ _tag: "retry", error: `nacked by the broker: ${message(error)}` })
            } else resolve({ _tag: "delivered" })
          })
        })
      )),
    catch: message
  }).pipe(
    Effect.timeoutFail({
      duration: confirmTimeout,
      onTimeout: () => `the broker did not confirm within ${Duration.format(confirmTimeout)}`
    })
  )
