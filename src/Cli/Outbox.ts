/**
 * `outbox`: the messages waiting in the outbox (or failed, or all), with
 * their bodies on request; `outbox show <id>`: one message whole;
 * `--retry-failed`.
 */
import { Args, Command, Options } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { Console, Effect } from "effect"
import { escapeControl, jsonArray, quote, table, usage, withDatabase } from "./Common.js"

interface OutboxRow {
  readonly id: string
  readonly status: string
  readonly attempts: number
  readonly exchange: string
  readonly routing_key: string
  readonly content_type: string
  readonly created_at: Date
  readonly last_error: string | null
  readonly payload?: Uint8Array
}

/** A message body as the CLI shows it: parsed JSON, UTF-8 text, or base64 when it is neither. */
export type Body =
  | { readonly encoding: "json"; readonly value: unknown }
  | { readonly encoding: "text"; readonly value: string }
  | { readonly encoding: "base64"; readonly value: string }

const isJson = (type: string) => type === "application/json" || type.endsWith("+json") || type.endsWith("/json")
const isText = (type: string) => type.startsWith("text/") || type.endsWith("/xml") || type.endsWith("+xml")

/**
 * The body of a message decoded as its content type says: JSON (`application/json`, `…+json`) parsed,
 * text (`text/*`, XML) as UTF-8; anything else, or bytes that are not what the type claims, as base64.
 */
export const decodeBody = (payload: Uint8Array, contentType: string): Body => {
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? ""
  const base64: Body = { encoding: "base64", value: Buffer.from(payload).toString("base64") }
  if (!isJson(type) && !isText(type)) return base64
  let text: string
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload)
  } catch {
    // Not UTF-8 whatever the type says: the bytes as they are.
    return base64
  }
  if (isJson(type)) {
    try {
      return { encoding: "json", value: JSON.parse(text) }
    } catch {
      // Declared JSON, is not: shown as the text it is.
    }
  }
  return { encoding: "text", value: text }
}

/** A body in one table cell. */
const bodyCell = (body: Body) =>
  body.encoding === "json"
    ? escapeControl(JSON.stringify(body.value))
    : body.encoding === "text"
    ? escapeControl(body.value)
    : `base64:${body.value}`

const listCommand = {
  all: Options.boolean("all").pipe(
    Options.withDescription("delivered messages too (default: only those pending, being sent or failed)")
  ),
  json: Options.boolean("json").pipe(
    Options.withDescription("print one JSON array of messages instead of a table (default off)")
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("how many messages to show, newest first, at least 1 (default 50)"),
    Options.withDefault(50)
  ),
  showBody: Options.boolean("show-body").pipe(
    Options.withDescription("add each message's body: JSON or text as it is, anything else as base64 (default off)")
  ),
  retryFailed: Options.boolean("retry-failed").pipe(
    Options.withDescription(
      "put every failed message back to pending, for the relay to send again; with --json, their ids (default off)"
    )
  )
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface MessageRow extends OutboxRow {
  readonly payload: Uint8Array
  readonly headers: unknown
  readonly job: string | null
  readonly run_id: string | null
  readonly delivered_at: Date | null
}

/** `outbox show <id>`: one message, its body decoded. */
const showCommand = Command.make(
  "show",
  { id: Args.text({ name: "id" }).pipe(Args.withDescription("the message's id, as `outbox` lists it")) },
  ({ id }) =>
    Effect.gen(function*() {
      const unknown = usage(`no outbox message with id ${quote(id)}`)
      if (!UUID.test(id)) return yield* Effect.fail(unknown)
      const rows = yield* withDatabase(
        "outbox show",
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<MessageRow>`
            SELECT id, status, attempts, exchange, routing_key, content_type, headers, payload, job, run_id,
              created_at, delivered_at, last_error
            FROM cron_worker.outbox WHERE id = ${id}`)
      )
      const row = rows[0]
      if (row === undefined) return yield* Effect.fail(unknown)
      const body = decodeBody(row.payload, row.content_type)
      const fields: Array<[string, string]> = [
        ["id", row.id],
        ["status", row.status],
        ["exchange", escapeControl(row.exchange)],
        ["routing key", escapeControl(row.routing_key)],
        ["content type", row.content_type],
        ["headers", JSON.stringify(row.headers)],
        ["attempts", String(row.attempts)],
        ["created", row.created_at.toISOString()],
        ["delivered", row.delivered_at?.toISOString() ?? ""],
        ["job", row.job ?? ""],
        ["run", row.run_id ?? ""],
        ["last error", escapeControl(row.last_error ?? "")]
      ]
      const text = body.encoding === "json"
        ? JSON.stringify(body.value, null, 2).replace(/[^\P{Cc}\n]/gu, (c) => escapeControl(c))
        : body.encoding === "text"
        ? body.value.replace(/[^\P{Cc}\n\t]/gu, (c) => escapeControl(c))
        : body.value
      yield* Console.log(
        [
          ...fields.map(([name, value]) => `${name.padEnd(14)}${escapeControl(value)}`.trimEnd()),
          `body (${body.encoding}):`,
          text
        ].join("\n")
      )
    })
).pipe(Command.withDescription("Show one outbox message whole: its fields, headers and body"))

export const outboxCommand = Command.make(
  "outbox",
  listCommand,
  ({ all, json, limit, retryFailed, showBody }) =>
    Effect.gen(function*() {
      if (limit < 1) return yield* Effect.fail(usage(`--limit must be at least 1, got ${limit}`))
      return yield* withDatabase(
        "outbox",
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          if (retryFailed) {
            const retried = yield* sql<{ readonly id: string }>`
              UPDATE cron_worker.outbox SET status = 'pending' WHERE status = 'failed' RETURNING id`
            return yield* Console.log(
              json
                ? jsonArray(retried.map(({ id }) => ({ id })))
                : `${retried.length} failed message(s) put back to pending`
            )
          }
          const rows = yield* sql<OutboxRow>`
            SELECT id, status, attempts, exchange, routing_key, content_type, created_at, last_error
              ${showBody ? sql`, payload` : sql``}
            FROM cron_worker.outbox
            ${all ? sql`` : sql`WHERE status IN ('pending', 'sending', 'failed')`}
            ORDER BY seq DESC LIMIT ${limit}`
          const bodies = rows.map((r) => (r.payload === undefined ? undefined : decodeBody(r.payload, r.content_type)))
          if (json) {
            return yield* Console.log(jsonArray(rows.map(({ payload: _, ...row }, i) => {
              const body = bodies[i]
              return body === undefined ? row : { ...row, body: body.value, body_encoding: body.encoding }
            })))
          }
          if (rows.length === 0) {
            return yield* Console.log(all ? "the outbox is empty" : "nothing pending, being sent or failed")
          }
          yield* Console.log(table(
            [
              "ID",
              "STATUS",
              "ATTEMPTS",
              "EXCHANGE",
              "ROUTING KEY",
              "CREATED",
              "LAST ERROR",
              ...(showBody ? ["BODY"] : [])
            ],
            rows.map((r, i) => {
              const body = bodies[i]
              return [
                r.id,
                r.status,
                String(r.attempts),
                escapeControl(r.exchange),
                escapeControl(r.routing_key),
                r.created_at.toISOString(),
                escapeControl(r.last_error ?? ""),
                ...(body === undefined ? [] : [bodyCell(body)])
              ]
            })
          ))
        })
      )
    })
).pipe(
  Command.withDescription(
    "List outbox messages pending, being sent or failed (--all: every one); `outbox show <id>`: one whole"
  ),
  Command.withSubcommands([showCommand])
)
