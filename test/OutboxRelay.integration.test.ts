/**
 * The outbox (`Publisher.layerOutbox`) and its relay (`OutboxRelay`) against
 * the real PostgreSQL and RabbitMQ. The broker is cut only through a TCP
 * proxy this file owns; the shared broker is never touched.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import amqp from "amqplib"
import { Context, Duration, Effect, Layer, Logger, Option, Redacted, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import * as Database from "../src/Database.js"
import * as Health from "../src/Health.js"
import * as Infrastructure from "../src/Infrastructure.js"
import * as OutboxRelayModule from "../src/OutboxRelay.js"
import { OutboxRelay } from "../src/OutboxRelay.js"
import * as Publishers from "../src/Publisher.js"
import { Publisher } from "../src/Publisher.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import {
  bindQueue,
  createDatabase,
  freePort,
  scopedProxy,
  servicesAvailable,
  TEST_RABBITMQ_URL,
  unique,
  via
} from "./services.js"
import { type CapturedLogs, captureLogs, suiteDatabase } from "./utils.js"

const available = await servicesAvailable()

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-9a-f]$/

/** `user:password@` of the broker URL, which no log line may show. */
const credentials = (() => {
  const url = new URL(TEST_RABBITMQ_URL)
  return url.password === "" ? undefined : `${url.username}:${url.password}@`
})()

interface OutboxRow {
  readonly id: string
  readonly status: string
  readonly attempts: number
  readonly last_error: string | null
  readonly delivered_at: Date | null
  readonly payload: Uint8Array
  readonly content_type: string
  readonly exchange: string
  readonly routing_key: string
}

const rowsOf = (ids: ReadonlyArray<string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<OutboxRow>`
      SELECT id, status, attempts, last_error, delivered_at, payload, content_type, exchange, routing_key
      FROM cron_worker.outbox WHERE id IN ${sql.in(ids)} ORDER BY seq`).pipe(Effect.orDie)

/**
 * Removes rows that nothing will deliver (their relay was disabled, or stuck),
 * so that later relays on this database do not declare their exchanges on the
 * shared broker.
 */
const forget = (ids: ReadonlyArray<string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM cron_worker.outbox WHERE id IN ${sql.in(ids)}`).pipe(
    Effect.orDie
  )

/** Repeats `check` until `done` holds, for up to `timeout`. */
const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  timeout: Duration.DurationInput = "10 seconds"
) =>
  check.pipe(
    Effect.filterOrFail(done, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`condition not reached within ${Duration.format(Duration.decode(timeout))}`)
    })
  )

/** A queue of the test's own, bound to `exchange` with `routingKey`, for the scope. */
const queueOn = (exchange: string, routingKey: string) =>
  Effect.acquireRelease(Effect.promise(() => bindQueue(exchange, routingKey)), (queue) => Effect.promise(queue.close))

const take = (queue: Awaited<ReturnType<typeof bindQueue>>, count: number, timeoutMs = 10_000) =>
  Effect.promise(() => queue.take(count, timeoutMs))

const idsOf = (messages: ReadonlyArray<amqp.GetMessage>) => messages.map((m) => String(m.properties.messageId))

// Marked concurrent so that it runs beside the next suite (whose tests have databases of their own); its own tests
// share one database and run one after the other.
describe.skipIf(!available).concurrent("Outbox and OutboxRelay on PostgreSQL and RabbitMQ", () => {
  describe.sequential("on one database, one test at a time", () => {
    const db = suiteDatabase()

    /** The worker's infrastructure on this file's database; the broker at `rabbitmqUrl` (none: relay disabled). */
    const stack = (rabbitmqUrl: string | undefined, exchange: string, logs: CapturedLogs = captureLogs()) =>
      Infrastructure.layer.pipe(
        Layer.provideMerge(
          WorkerConfig.layerWith({
            databaseUrl: Option.some(Redacted.make(db.url)),
            databasePoolSize: 4,
            rabbitmqUrl: Option.map(Option.fromNullable(rabbitmqUrl), Redacted.make),
            rabbitmqExchange: exchange
          })
        ),
        Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
      )

    it.live(
      "a message published in a rolled-back transaction leaves no row; a committed one waits in the outbox",
      () => {
        const exchange = unique("cw_test_ex")
        const committed = randomUUID()
        return Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const publisher = yield* Publisher
          const relay = yield* OutboxRelay
          expect(relay.enabled).toBe(false)
          const rolledBack = randomUUID()
          const failure = yield* Effect.gen(function*() {
            yield* publisher.publish(exchange, "tx.rolled_back", { n: 1 }, { messageId: rolledBack })
            return yield* Effect.fail("the job failed after publishing" as const)
          }).pipe(sql.withTransaction, Effect.flip)
          expect(failure).toBe("the job failed after publishing")
          expect(yield* rowsOf([rolledBack])).toEqual([])

          yield* Effect.gen(function*() {
            yield* sql`INSERT INTO cron_worker.jobs (job) VALUES (${`tx-${committed}`})`
            yield* publisher.publish(exchange, "tx.committed", { n: 2 }, { messageId: committed })
          }).pipe(sql.withTransaction)
          const [row] = yield* rowsOf([committed])
          expect(row).toMatchObject({
            status: "pending",
            attempts: 0,
            exchange,
            routing_key: "tx.committed",
            content_type: "application/json"
          })
          expect(JSON.parse(Buffer.from(row?.payload ?? []).toString("utf8"))).toEqual({ n: 2 })
          // RABBITMQ_URL unset: nothing delivers it, and flush says it waits.
          const flushed = yield* relay.flush("1 second")
          expect(flushed.delivered).toBe(0)
          expect(flushed.pending).toBeGreaterThanOrEqual(1)
          expect((yield* rowsOf([committed]))[0]?.status).toBe("pending")
        }).pipe(Effect.ensuring(forget([committed])), Effect.provide(stack(undefined, exchange)))
      }
    )

    it.live("publishing one messageId twice stores one row (the first); a bad id is a PublishError", () => {
      const exchange = unique("cw_test_ex")
      const id = randomUUID()
      return Effect.gen(function*() {
        const publisher = yield* Publisher
        expect(yield* publisher.publish(exchange, "dup", { version: 1 }, { messageId: id })).toBe(id)
        expect(yield* publisher.publish(exchange, "dup", { version: 2 }, { messageId: id.toUpperCase() })).toBe(id)
        const rows = yield* rowsOf([id])
        expect(rows).toHaveLength(1)
        expect(JSON.parse(Buffer.from(rows[0]?.payload ?? []).toString("utf8"))).toEqual({ version: 1 })
        const error = yield* Effect.flip(publisher.publish(exchange, "dup", {}, { messageId: "not-a-uuid" }))
        expect(error._tag).toBe("PublishError")
      }).pipe(Effect.ensuring(forget([id])), Effect.provide(stack(undefined, exchange)))
    })

    it.live("RABBITMQ_URL unset: messages wait in the outbox; a worker with the broker delivers them later", () =>
      Effect.gen(function*() {
        const exchange = unique("cw_test_ex")
        const queue = yield* queueOn(exchange, "later.#")
        const id = yield* Effect.gen(function*() {
          const id = yield* Effect.flatMap(Publisher, (p) => p.publish(exchange, "later.delivered", "waited"))
          expect((yield* rowsOf([id])).map((r) => r.status)).toEqual(["pending"])
          return id
        }).pipe(Effect.provide(stack(undefined, exchange)))
        expect(yield* take(queue, 0, 300)).toEqual([])
        yield* Effect.gen(function*() {
          const messages = yield* take(queue, 1)
          expect(idsOf(messages)).toEqual([id])
          expect(messages[0]?.content.toString("utf8")).toBe("waited")
          expect(messages[0]?.properties.contentType).toBe("text/plain")
          yield* eventually(rowsOf([id]), (rows) => rows[0]?.status === "delivered")
        }).pipe(Effect.provide(stack(TEST_RABBITMQ_URL, exchange)))
      }).pipe(Effect.scoped))

    it.live("declares the configured exchange (topic, durable) when it connects", () =>
      Effect.gen(function*() {
        const exchange = unique("cw_test_ex")
        const logs = captureLogs()
        yield* Effect.gen(function*() {
          expect((yield* OutboxRelay).enabled).toBe(true)
          expect(logs.withMessage("rabbitmq initialized")[0]?.fields).toMatchObject({ exchange })
        }).pipe(Effect.provide(stack(TEST_RABBITMQ_URL, exchange, logs)))
        const connection = yield* Effect.acquireRelease(Effect.promise(() => amqp.connect(TEST_RABBITMQ_URL)), (c) =>
          Effect.tryPromise(() =>
            c.createChannel().then((channel) => channel.deleteExchange(exchange))
          ).pipe(
            Effect.ignore,
            Effect.zipRight(Effect.ignore(Effect.tryPromise(() => c.close())))
          ))
        const exists = Effect.tryPromise(async () => {
          const channel = await connection.createChannel()
          channel.on("error", () => undefined)
          await channel.checkExchange(exchange)
          await channel.close()
        }).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
        const declare = (type: string, durable: boolean) =>
          Effect.tryPromise(async () => {
            const channel = await connection.createChannel()
            channel.on("error", () => undefined)
            await channel.assertExchange(exchange, type, { durable })
            await channel.close()
          }).pipe(Effect.as("equivalent" as const), Effect.orElseSucceed(() => "different" as const))
        // It exists (a passive check; declaring below would create it otherwise)…
        expect(yield* exists).toBe(true)
        // …and redeclaring an existing exchange succeeds only with the same type and durability.
        expect(yield* declare("topic", true)).toBe("equivalent")
        expect(yield* declare("topic", false)).toBe("different")
        expect(yield* declare("direct", true)).toBe("different")
      }).pipe(Effect.scoped))

    it.live(
      "delivers with persistent, content_type, message_id = outbox id, " +
        "timestamp and traceparent; marks the row delivered",
      () =>
        Effect.gen(function*() {
          const exchange = unique("cw_test_ex")
          const queue = yield* queueOn(exchange, "props.#")
          yield* Effect.gen(function*() {
            const publisher = yield* Publisher
            const before = Math.floor(Date.now() / 1000)
            const { id, traceId } = yield* Effect.gen(function*() {
              const span = yield* Effect.currentSpan
              const id = yield* publisher.publish(exchange, "props.json", { hello: "world", n: 1 }, {
                headers: { "x-origin": "test" }
              })
              return { id, traceId: span.traceId }
            }).pipe(Effect.withSpan("test publish"))
            yield* Effect.flatMap(OutboxRelay, (relay) => relay.flush("5 seconds"))
            const [message, ...more] = yield* take(queue, 1)
            expect(more).toEqual([])
            expect(JSON.parse(message?.content.toString("utf8") ?? "")).toEqual({ hello: "world", n: 1 })
            expect(message?.fields).toMatchObject({ exchange, routingKey: "props.json" })
            const properties = message?.properties
            expect(properties?.deliveryMode).toBe(2)
            expect(properties?.contentType).toBe("application/json")
            expect(properties?.messageId).toBe(id)
            expect(properties?.timestamp).toBeGreaterThanOrEqual(before - 5)
            expect(properties?.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 5)
            expect(properties?.headers?.["x-origin"]).toBe("test")
            const traceparent = String(properties?.headers?.traceparent)
            expect(traceparent).toMatch(TRACEPARENT)
            expect(traceparent.split("-")[1]).toBe(traceId)
            const [row] = yield* eventually(rowsOf([id]), (rows) => rows[0]?.status === "delivered")
            expect(row).toMatchObject({ status: "delivered", attempts: 1, last_error: null })
            expect(row?.delivered_at).toBeInstanceOf(Date)
          }).pipe(Effect.provide(stack(TEST_RABBITMQ_URL, exchange)))
        }).pipe(Effect.scoped)
    )

    it.live(
      "an unroutable message is recorded on its row (failed, last_error) " +
        "and logged, never dropped; the relay goes on",
      () =>
        Effect.gen(function*() {
          const exchange = unique("cw_test_ex")
          const queue = yield* queueOn(exchange, "routable.#")
          const logs = captureLogs()
          yield* Effect.gen(function*() {
            const publisher = yield* Publisher
            const relay = yield* OutboxRelay
            const lost = yield* publisher.publish(exchange, "nobody.listens", { n: 1 })
            // Deliver now rather than at the next poll.
            yield* relay.flush("5 seconds")
            const [row] = yield* eventually(rowsOf([lost]), (rows) => rows[0]?.status !== "pending")
            expect(row).toMatchObject({ status: "failed", attempts: 1 })
            expect(row?.last_error).toMatch(/unroutable/)
            expect(row?.last_error).toContain("nobody.listens")
            const logged = logs.withMessage("outbox message unroutable")
            expect(logged).toHaveLength(1)
            expect(logged[0]?.level).toBe("ERROR")
            expect(logged[0]?.fields).toMatchObject({ message_id: lost, exchange, routing_key: "nobody.listens" })
            // A failed row is not retried, and later messages still go out.
            const next = yield* publisher.publish(exchange, "routable.one", { n: 2 })
            yield* relay.flush("5 seconds")
            expect(idsOf(yield* take(queue, 1))).toEqual([next])
            yield* eventually(rowsOf([next]), (rows) => rows[0]?.status === "delivered")
            expect((yield* rowsOf([lost]))[0]).toMatchObject({ status: "failed", attempts: 1 })
          }).pipe(Effect.provide(stack(TEST_RABBITMQ_URL, exchange, logs)))
        }).pipe(Effect.scoped)
    )

    it.live("broker cut while connected: messages wait, then arrive in order, each exactly once", () =>
      Effect.gen(function*() {
        const exchange = unique("cw_test_ex")
        const queue = yield* queueOn(exchange, "cut.#")
        const proxy = yield* scopedProxy(TEST_RABBITMQ_URL, 5672)
        const logs = captureLogs()
        yield* Effect.gen(function*() {
          const publisher = yield* Publisher
          const first = yield* publisher.publish(exchange, "cut.before", { n: 0 })
          expect(idsOf(yield* take(queue, 1))).toEqual([first])

          const relay = yield* OutboxRelay
          expect(yield* relay.status).toEqual({ status: "connected" })

          proxy.cut()
          const down = yield* eventually(relay.status, (status) => status.status === "unavailable")
          expect(down.error).toEqual(expect.any(String))
          const ids: Array<string> = []
          for (let n = 1; n <= 5; n++) ids.push(yield* publisher.publish(exchange, `cut.during.${n}`, { n }))
          yield* Effect.sleep("1500 millis")
          expect(yield* take(queue, 0, 200)).toEqual([])
          expect((yield* rowsOf(ids)).map((r) => r.status)).toEqual([
            "pending",
            "pending",
            "pending",
            "pending",
            "pending"
          ])

          proxy.restore()
          const arrived = yield* take(queue, 5, 20_000)
          expect(idsOf(arrived)).toEqual(ids)
          expect(arrived.map((m) => JSON.parse(m.content.toString("utf8")))).toEqual(
            [1, 2, 3, 4, 5].map((n) => ({ n }))
          )
          yield* eventually(rowsOf(ids), (rows) => rows.every((r) => r.status === "delivered"))
          expect(yield* relay.status).toEqual({ status: "connected" })
          // Nothing more comes: each message id once.
          yield* Effect.sleep("1200 millis")
          expect(yield* take(queue, 0, 200)).toEqual([])
          const warned = logs.withMessage("outbox delivery failed: messages wait in the outbox, retrying")
          expect(warned.length).toBeGreaterThanOrEqual(1)
          expect(warned[0]?.fields.host).toBe(`127.0.0.1:${proxy.port}`)
          if (credentials !== undefined) expect(JSON.stringify(logs.entries)).not.toContain(credentials)
        }).pipe(Effect.provide(stack(via(TEST_RABBITMQ_URL, proxy.port), exchange, logs)))
      }).pipe(Effect.scoped))

    it.live(
      "broker unreachable at start-up: the worker starts, messages " +
        "wait, and all arrive in order once it is back",
      () =>
        Effect.gen(function*() {
          const exchange = unique("cw_test_ex")
          const queue = yield* queueOn(exchange, "startup.#")
          const proxy = yield* scopedProxy(TEST_RABBITMQ_URL, 5672)
          proxy.cut()
          const logs = captureLogs()
          yield* Effect.gen(function*() {
            expect(logs.withMessage("rabbitmq unavailable at start-up: messages wait in the outbox, retrying"))
              .toHaveLength(1)
            const publisher = yield* Publisher
            const ids: Array<string> = []
            // More than one batch of the relay (100 rows).
            for (let n = 1; n <= 230; n++) ids.push(yield* publisher.publish(exchange, `startup.${n}`, { n }))
            yield* Effect.sleep("1 second")
            expect(new Set((yield* rowsOf(ids)).map((r) => r.status))).toEqual(new Set(["pending"]))
            proxy.restore()
            expect(idsOf(yield* take(queue, 230, 20_000))).toEqual(ids)
            yield* eventually(rowsOf(ids), (rows) => rows.every((r) => r.status === "delivered"))
            yield* Effect.sleep("1200 millis")
            expect(yield* take(queue, 0, 200)).toEqual([])
            if (credentials !== undefined) expect(JSON.stringify(logs.entries)).not.toContain(credentials)
          }).pipe(Effect.provide(stack(via(TEST_RABBITMQ_URL, proxy.port), exchange, logs)))
        }).pipe(Effect.scoped)
    )

    it.live("two workers sharing the outbox deliver each message exactly once", () =>
      Effect.gen(function*() {
        const exchange = unique("cw_test_ex")
        const queue = yield* queueOn(exchange, "shared.#")
        const a = yield* Layer.build(stack(TEST_RABBITMQ_URL, exchange))
        yield* Layer.build(stack(TEST_RABBITMQ_URL, exchange))
        const ids = yield* Effect.gen(function*() {
          const publisher = yield* Publisher
          const ids: Array<string> = []
          for (let n = 1; n <= 60; n++) ids.push(yield* publisher.publish(exchange, `shared.${n}`, { n }))
          return ids
        }).pipe(Effect.provide(a))
        const arrived = idsOf(yield* take(queue, 60, 15_000))
        yield* eventually(rowsOf(ids), (rows) => rows.every((r) => r.status === "delivered")).pipe(Effect.provide(a))
        yield* Effect.sleep("1200 millis")
        arrived.push(...idsOf(yield* take(queue, 0, 200)))
        expect([...arrived].sort()).toEqual([...ids].sort())
      }).pipe(Effect.scoped))

    // Once a bug: one row the broker refused for good blocked every row after it.
    it.live(
      "a message the broker refuses for good (its exchange exists with another " +
        "type) is recorded, and later messages still go out",
      () =>
        Effect.gen(function*() {
          const exchange = unique("cw_test_ex")
          const other = unique("cw_test_direct")
          const queue = yield* queueOn(exchange, "after.#")
          const connection = yield* Effect.acquireRelease(
            Effect.promise(() => amqp.connect(TEST_RABBITMQ_URL)),
            (c) => Effect.promise(() => c.close().catch(() => undefined))
          )
          const channel = yield* Effect.acquireRelease(
            Effect.promise(() => connection.createChannel()),
            (ch) => Effect.promise(() => ch.deleteExchange(other).then(() => ch.close()).catch(() => undefined))
          )
          yield* Effect.promise(() => channel.assertExchange(other, "direct", { durable: true }))
          const logs = captureLogs()
          const ids: Array<string> = []
          yield* Effect.gen(function*() {
            const publisher = yield* Publisher
            ids.push(yield* publisher.publish(other, "refused", { n: 1 }))
            ids.push(yield* publisher.publish(exchange, "after.refused", { n: 2 }))
            const [refused, after] = ids
            const arrived = idsOf(yield* take(queue, 1, 15_000))
            const rows = yield* eventually(
              rowsOf(ids),
              (rows) => rows.every((r) => r.status !== "pending" && r.status !== "sending")
            )
            expect({ arrived, rows: rows.map((r) => [r.id, r.status, r.last_error === null ? null : "recorded"]) })
              .toEqual(
                {
                  arrived: [after],
                  rows: [[refused, "failed", "recorded"], [after, "delivered", null]]
                }
              )
          }).pipe(Effect.ensuring(forget(ids)), Effect.provide(stack(TEST_RABBITMQ_URL, exchange, logs)))
        }).pipe(Effect.scoped)
    )
  })
})

// Each test has a database, an exchange, a proxy and a port of its own: they run side by side.
describe.skipIf(!available).concurrent("OutboxRelay: claims per process, refused connections, status", () => {
  /** A database of the test's own, for the scope: no other test's rows in its outbox. */
  const ownDatabase = Effect.acquireRelease(Effect.promise(() => createDatabase()), (db) => Effect.promise(db.drop))

  const config = (databaseUrl: string, overrides: Partial<WorkerConfig.WorkerConfigShape>) =>
    WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(databaseUrl)), databasePoolSize: 4, ...overrides })

  /** One process's outbox and relay, with `options`; `instanceId` as both relays of a test share it. */
  const relayProcess = (
    databaseUrl: string,
    rabbitmqUrl: string,
    exchange: string,
    options: OutboxRelayModule.Options,
    logs: CapturedLogs
  ) =>
    Layer.merge(Publishers.layerOutbox, OutboxRelayModule.layerWith(options)).pipe(
      Layer.provideMerge(Database.layer),
      Layer.provideMerge(config(databaseUrl, {
        rabbitmqUrl: Option.some(Redacted.make(rabbitmqUrl)),
        rabbitmqExchange: exchange,
        instanceId: Option.some("shared-instance")
      })),
      Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
    )

  /**
   * The worker's infrastructure (background relay, `/health` on `port`) on its own database, with a started
   * scheduler as the probes see one: what `/health` says here is the database's and the relay's.
   */
  const worker = (databaseUrl: string, rabbitmqUrl: string | undefined, port: number, logs: CapturedLogs) =>
    Infrastructure.layer.pipe(
      Layer.tap((context) =>
        Effect.sync(() => {
          Context.get(context, Health.Probes).scheduler = Effect.succeed({
            started: true,
            stopping: false,
            clockRunning: true
          })
        })
      ),
      Layer.provideMerge(config(databaseUrl, {
        rabbitmqUrl: Option.map(Option.fromNullable(rabbitmqUrl), Redacted.make),
        rabbitmqExchange: unique("cw_test_ex"),
        httpPort: Option.some(port)
      })),
      Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
    )

  const health = (port: number) =>
    Effect.promise(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      const text = await response.text()
      return { code: response.status, text, body: JSON.parse(text) as unknown }
    })

  interface Held {
    readonly id: string
    readonly sender: string | null
  }
  const sending = Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<Held>`SELECT id, sender FROM cron_worker.outbox WHERE status = 'sending' ORDER BY seq`
  ).pipe(Effect.orDie)

  it.live(
    "two relays with one instance id, one through a half-open broker: at most one duplicate per lost confirm, " +
      "with the same message_id, and each routing key's first arrivals in publish order",
    () =>
      Effect.gen(function*() {
        const db = yield* ownDatabase
        const exchange = unique("cw_test_ex")
        const queue = yield* queueOn(exchange, "seq.#")
        const proxy = yield* scopedProxy(TEST_RABBITMQ_URL, 5672)
        // A's confirms must still be awaited when B's flush and the look 1.2 s later come, after B's start-up (seconds
        // on a loaded machine): 5 s was not always enough.
        const options = { confirmTimeout: "15 seconds", sendLease: "60 seconds" } as const
        // A: the worker's relay, connected through the proxy before it turns half-open.
        const logsA = captureLogs()
        const a = yield* Layer.build(relayProcess(db.url, via(TEST_RABBITMQ_URL, proxy.port), exchange, options, logsA))
        const relayA = Context.get(a, OutboxRelay)
        expect(yield* relayA.status).toEqual({ status: "connected" })
        proxy.halfOpen()

        const keys = ["seq.a", "seq.b", "seq.c"]
        // In one transaction, so that A takes the first batch of 100 at once.
        const published = yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const publisher = yield* Publisher
          const published: Array<{ readonly id: string; readonly key: string; readonly n: number }> = []
          yield* sql.withTransaction(Effect.gen(function*() {
            for (let n = 1; n <= 150; n++) {
              const key = keys[n % keys.length]!
              published.push({ id: yield* publisher.publish(exchange, key, { key, n }), key, n })
            }
          }))
          return published
        }).pipe(Effect.provide(a))
        const ids = published.map((p) => p.id)

        // A takes the first batch and publishes it: the broker has it, its confirms never come back.
        const held = yield* eventually(sending.pipe(Effect.provide(a)), (rows) => rows.length > 0)
        expect(held.map((r) => r.id)).toEqual(ids.slice(0, 100))
        const arrived = yield* take(queue, held.length)
        expect(idsOf(arrived)).toEqual(ids.slice(0, 100))

        // B: a relay beside it with the same instance id (a `run` in the worker's container), straight to the broker.
        const logsB = captureLogs()
        const b = yield* Layer.build(relayProcess(db.url, TEST_RABBITMQ_URL, exchange, options, logsB))
        const flushed = yield* Context.get(b, OutboxRelay).flush("1 second")
        expect(flushed).toEqual({ delivered: 0, pending: 150, failed: 0 })
        // B's background relay looks at the outbox every second: A's batch stays A's while its lease is valid.
        yield* Effect.sleep("1200 millis")
        expect(yield* sending.pipe(Effect.provide(a))).toEqual(held)
        expect(yield* take(queue, 0, 200)).toEqual([])

        // A's confirms time out: it gives its batch back, and B delivers everything.
        yield* eventually(rowsOf(ids), (rows) => rows.every((r) => r.status === "delivered"), "30 seconds").pipe(
          Effect.provide(a)
        )
        arrived.push(...(yield* take(queue, 150)))
        yield* Effect.sleep("1200 millis")
        arrived.push(...(yield* take(queue, 0, 200)))

        const lost = logsA.withMessage("outbox delivery failed: messages wait in the outbox, retrying")
          .filter((entry) => /did not confirm within 15s/.test(String(entry.fields.error)))
        expect(lost).toHaveLength(1)
        expect(yield* relayA.status).toMatchObject({ status: "unavailable" })
        // Each message arrived as many times as it was sent: once, plus once per lost confirm (the rows count both).
        const times = new Map<string, number>()
        for (const id of idsOf(arrived)) times.set(id, (times.get(id) ?? 0) + 1)
        const rows = yield* rowsOf(ids).pipe(Effect.provide(a))
        expect(rows.map((r) => [r.id, r.attempts])).toEqual(ids.map((id) => [id, times.get(id)]))
        const duplicated = ids.filter((id) => (times.get(id) ?? 0) > 1)
        expect(duplicated).toEqual(held.map((r) => r.id))
        expect(Math.max(...times.values())).toBe(2)
        // A duplicate is the same message: same message_id (the outbox id), same body.
        for (const message of arrived) {
          const body = JSON.parse(message.content.toString("utf8")) as { key: string; n: number }
          expect(String(message.properties.messageId)).toBe(published[body.n - 1]?.id)
          expect(message.fields.routingKey).toBe(body.key)
        }
        // Per routing key, the first arrivals are in publish order.
        for (const key of keys) {
          const first = [...new Set(idsOf(arrived.filter((m) => m.fields.routingKey === key)))]
          expect(first).toEqual(published.filter((p) => p.key === key).map((p) => p.id))
        }
        if (credentials !== undefined) expect(JSON.stringify(logsA.entries)).not.toContain(credentials)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a flush cut short by its time limit gives its batch back at once: the next relay need not wait",
    () =>
      Effect.gen(function*() {
        const db = yield* ownDatabase
        const exchange = unique("cw_test_ex")
        const queue = yield* queueOn(exchange, "cut.#")
        const proxy = yield* scopedProxy(TEST_RABBITMQ_URL, 5672)
        // `run <job>` on a broker whose confirms do not come back: its 1 s flush ends long before the confirms' 30 s.
        const cut = yield* Layer.build(relayProcess(db.url, via(TEST_RABBITMQ_URL, proxy.port), exchange, {
          mode: "flush",
          confirmTimeout: "30 seconds",
          sendLease: "120 seconds"
        }, captureLogs()))
        // Connected first (nothing to deliver yet), then the proxy stops passing the broker's answers.
        expect(yield* Context.get(cut, OutboxRelay).flush("5 seconds")).toMatchObject({ pending: 0 })
        proxy.halfOpen()
        const ids = yield* Effect.gen(function*() {
          const publisher = yield* Publisher
          return yield* Effect.forEach([1, 2, 3], (n) => publisher.publish(exchange, "cut.n", { n }))
        }).pipe(Effect.provide(cut))
        const left = yield* Context.get(cut, OutboxRelay).flush("1 second")
        expect(left).toMatchObject({ delivered: 0, pending: 3 })
        // Back to pending now, an attempt counted; not left `sending` for 120 s.
        expect(yield* sending.pipe(Effect.provide(cut))).toEqual([])
        expect((yield* rowsOf(ids).pipe(Effect.provide(cut))).map((r) => [r.status, r.attempts])).toEqual(
          ids.map(() => ["pending", 1])
        )
        // So another relay (a worker, another token) delivers them at once.
        const next = yield* Layer.build(
          relayProcess(db.url, TEST_RABBITMQ_URL, exchange, { mode: "flush" }, captureLogs())
        )
        expect(yield* Context.get(next, OutboxRelay).flush("10 seconds")).toMatchObject({ delivered: 3, pending: 0 })
        expect(new Set(idsOf(yield* take(queue, 3)))).toEqual(new Set(ids))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "wrong password: one ERROR with host, user and vhost, never the password; status refused, /health 503; " +
      "messages wait and the relay keeps retrying",
    () =>
      Effect.gen(function*() {
        const db = yield* ownDatabase
        const proxy = yield* scopedProxy(TEST_RABBITMQ_URL, 5672)
        const password = `wrong-${randomUUID()}`
        const url = new URL(via(TEST_RABBITMQ_URL, proxy.port))
        url.username = "guest"
        url.password = password
        const port = yield* Effect.promise(freePort)
        const logs = captureLogs()
        yield* Effect.gen(function*() {
          const id = yield* Effect.flatMap(Publisher, (p) => p.publish(unique("cw_test_ex"), "refused.one", { n: 1 }))
          // The start-up attempt, the relay's first and two retries (after 1 s and 2 s of backoff).
          yield* eventually(Effect.sync(proxy.accepted), (n) => n >= 4, "20 seconds")

          const refused = logs.withMessage("rabbitmq refused the connection: messages wait in the outbox")
          expect(refused).toHaveLength(1)
          expect(refused[0]?.level).toBe("ERROR")
          expect(refused[0]?.fields).toMatchObject({ host: `127.0.0.1:${proxy.port}`, user: "guest", vhost: "/" })
          expect(String(refused[0]?.fields.error)).toMatch(/ACCESS.REFUSED/)
          // Not an outage: no retry warnings.
          expect(logs.entries.filter((e) => e.level === "WARN" && /rabbitmq|outbox/.test(e.msg))).toEqual([])

          const status = yield* Effect.flatMap(OutboxRelay, (relay) => relay.status)
          expect(status.status).toBe("refused")
          expect(status.error).toMatch(/ACCESS.REFUSED/)
          const answer = yield* health(port)
          expect(answer.code).toBe(503)
          expect(answer.body).toMatchObject({
            status: "unavailable",
            database: "ok",
            rabbitmq: { status: "refused", error: status.error },
            failing: ["rabbitmq"],
            checks: { rabbitmq: { ok: false, state: "refused", detail: status.error } }
          })
          expect((yield* rowsOf([id]))[0]).toMatchObject({ status: "pending", attempts: 0 })
          for (const text of [JSON.stringify(logs.entries), JSON.stringify(status), answer.text]) {
            expect(text).not.toContain(password)
          }
        }).pipe(Effect.provide(worker(db.url, url.toString(), port, logs)))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a vhost that does not exist is refused too, naming the vhost", () =>
    Effect.gen(function*() {
      const db = yield* ownDatabase
      const vhost = unique("cw_test_vhost")
      const url = new URL(TEST_RABBITMQ_URL)
      url.pathname = `/${vhost}`
      const port = yield* Effect.promise(freePort)
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const refused = logs.withMessage("rabbitmq refused the connection: messages wait in the outbox")
        expect(refused).toHaveLength(1)
        expect(refused[0]?.fields).toMatchObject({ vhost })
        const status = yield* Effect.flatMap(OutboxRelay, (relay) => relay.status)
        expect(status.status).toBe("refused")
        expect(status.error).toContain(`vhost "${vhost}"`)
        expect((yield* health(port)).code).toBe(503)
      }).pipe(Effect.provide(worker(db.url, url.toString(), port, logs)))
    }).pipe(Effect.scoped))

  it.live("/health shows the relay connected (200), or disabled without RABBITMQ_URL (200)", () =>
    Effect.gen(function*() {
      const db = yield* ownDatabase
      for (const [rabbitmqUrl, rabbitmq] of [[TEST_RABBITMQ_URL, "connected"], [undefined, "disabled"]] as const) {
        const port = yield* Effect.promise(freePort)
        const answer = yield* health(port).pipe(Effect.provide(worker(db.url, rabbitmqUrl, port, captureLogs())))
        expect(answer).toMatchObject({
          code: 200,
          body: { status: "ok", database: "ok", rabbitmq: { status: rabbitmq }, failing: [] }
        })
        expect(answer.body).not.toHaveProperty("rabbitmq.error")
      }
    }).pipe(Effect.scoped))
})
