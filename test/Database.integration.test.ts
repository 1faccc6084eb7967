/**
 * `Database` against the real PostgreSQL (`TEST_DATABASE_URL`): connection
 * from `DATABASE_URL` with the pool size and connect timeout of the config,
 * start-up failures that name host, port and database and never the
 * password, and the migrations (schema, idempotence, concurrent first starts).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Layer, Logger, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import * as net from "node:net"
import * as Database from "../src/Database.js"
import { migrations } from "../src/Migrations.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { financeSchema } from "./jobs/fixtures.js"
import { createDatabase, freePort, scopedProxy, servicesAvailable, unique, via } from "./services.js"
import { captureLogs, suiteDatabase } from "./utils.js"

const available = await servicesAvailable(["postgres"])

/** A password that must never show: it is in the URL of every failing start-up below. */
const SECRET = "Sup3r-Secret-Pw"

/** `url` with `password` (trust authentication ignores it; the point is that it never shows). */
const withPassword = (url: string, password: string): string => {
  const parsed = new URL(url)
  parsed.password = password
  return parsed.toString()
}

/** The password of `url`, or one added to it, so that "never logged" can fail. */
const urlWithSomePassword = (url: string): { readonly url: string; readonly password: string } => {
  const password = decodeURIComponent(new URL(url).password)
  return password === "" ? { url: withPassword(url, SECRET), password: SECRET } : { url, password }
}

const config = (url: string, overrides: Partial<WorkerConfig.WorkerConfigShape> = {}) =>
  WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(url)), databasePoolSize: 3, ...overrides }).pipe(
    Layer.merge(financeSchema)
  )

const quiet = Logger.remove(Logger.defaultLogger)

/** Builds `Database.layer` on `url` and returns its start-up failure. */
const startFailure = (url: string, overrides: Partial<WorkerConfig.WorkerConfigShape> = {}) =>
  Layer.build(Database.layer).pipe(
    Effect.scoped,
    Effect.provide(config(url, overrides)),
    Effect.sandbox,
    Effect.flip,
    // What an operator may see: the error's message, and everything else the cause prints.
    Effect.map((cause) => ({ error: Option.getOrThrow(Cause.failureOption(cause)), pretty: Cause.pretty(cause) })),
    Effect.provide(quiet)
  )

/** A TCP server for the scope; `onSocket` decides what it says. */
const fakeServer = (onSocket: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => sockets.delete(socket))
        socket.on("close", () => sockets.delete(socket))
        onSocket(socket)
      })
      return new Promise<{ readonly port: number; readonly server: net.Server; readonly sockets: Set<net.Socket> }>((
        resolve
      ) =>
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ port: typeof address === "object" && address !== null ? address.port : 0, server, sockets })
        })
      )
    }),
    ({ server, sockets }) =>
      Effect.promise(() => {
        for (const socket of sockets) socket.destroy()
        return new Promise<void>((resolve) => server.close(() => resolve()))
      })
  ).pipe(Effect.map(({ port }) => port))

/** A message of the PostgreSQL protocol: type byte, length, body. */
const pgMessage = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(5)
  head.write(type, 0, "latin1")
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

/**
 * A server that asks for the password in clear text and refuses it, as
 * PostgreSQL does (SQLSTATE 28P01). `received` holds what the client sent.
 */
const refusingPostgres = Effect.gen(function*() {
  const received: Array<Buffer> = []
  const port = yield* fakeServer((socket) => {
    let startup = true
    socket.on("data", (chunk) => {
      received.push(chunk)
      if (startup) {
        startup = false
        const cleartext = Buffer.alloc(4)
        cleartext.writeInt32BE(3, 0)
        socket.write(pgMessage("R", cleartext))
      } else {
        const fields = Buffer.from(
          "SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"postgres\"\0\0",
          "utf8"
        )
        socket.end(pgMessage("E", fields))
      }
    })
  })
  return { port, received }
})

/** A server that accepts connections and never says a word. */
const silentServer = fakeServer(() => undefined)

describe.skipIf(!available)("Database on PostgreSQL", () => {
  const db = suiteDatabase()

  it.live("connects with DATABASE_URL and the pool size of the config, logging where (never the password)", () => {
    const logs = captureLogs()
    const { password, url } = urlWithSomePassword(db.url)
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      expect(pg.config.maxConnections).toBe(3)
      expect(pg.config.connectTimeout).toEqual(Duration.seconds(2))
      // Eight concurrent queries share the three connections of the pool.
      const pids = yield* Effect.all(
        Array.from({ length: 8 }, () => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid FROM pg_sleep(0.15)`),
        { concurrency: "unbounded" }
      )
      expect(new Set(pids.map((rows) => rows[0]?.pid)).size).toBe(3)
      const established = logs.withMessage("database connection established")
      expect(established).toHaveLength(1)
      expect(established[0]?.fields.database).toBe(`127.0.0.1:${new URL(db.url).port || "5432"}/${db.name}`)
      expect(JSON.stringify(logs.entries)).not.toContain(password)
    }).pipe(
      Effect.provide(Database.layer.pipe(Layer.provide(config(url, { databaseConnectTimeout: Duration.seconds(2) })))),
      Effect.provide(Layer.merge(quiet, logs.layer))
    )
  })

  it.live("a port where nothing listens: DatabaseUnavailable naming host:port/database, not the password", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const url = `postgres://postgres:${SECRET}@127.0.0.1:${port}/cw_absent_db`
      const { error, pretty } = yield* startFailure(url)
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.message).toContain(`127.0.0.1:${port}/cw_absent_db`)
      expect(error.message).not.toContain("\n")
      expect(error.message).not.toContain(SECRET)
      expect(pretty).not.toContain(SECRET)
    }))

  it.live("a server that refuses the password: DatabaseUnavailable naming host:port/database, not the password", () =>
    Effect.gen(function*() {
      const server = yield* refusingPostgres
      const url = `postgres://postgres:${SECRET}@127.0.0.1:${server.port}/cw_refused_db`
      const { error, pretty } = yield* startFailure(url)
      // The client did send the password: the refusal path is the one under test.
      expect(Buffer.concat(server.received).toString("utf8")).toContain(SECRET)
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.message).toContain(`127.0.0.1:${server.port}/cw_refused_db`)
      expect(error.message).toMatch(/password authentication failed/)
      expect(error.message).not.toContain("\n")
      expect(error.message).not.toContain(SECRET)
      expect(pretty).not.toContain(SECRET)
    }).pipe(Effect.scoped))

  it.live(
    "the real server refusing an unknown role: DatabaseUnavailable " +
      "naming host:port/database, not the password",
    () =>
      Effect.gen(function*() {
        const parsed = new URL(db.url)
        parsed.username = unique("cw_no_such_role")
        parsed.password = SECRET
        const { error, pretty } = yield* startFailure(parsed.toString())
        expect(error._tag).toBe("DatabaseUnavailable")
        expect(error.message).toContain(`127.0.0.1:${parsed.port || "5432"}/${db.name}`)
        expect(error.message).toMatch(/does not exist/)
        expect(error.message).not.toContain(SECRET)
        expect(pretty).not.toContain(SECRET)
      })
  )

  it.live("a connection cut by the proxy: DatabaseUnavailable naming the proxy's host:port/database", () =>
    Effect.gen(function*() {
      const proxy = yield* scopedProxy(db.url, 5432)
      proxy.cut()
      const url = withPassword(via(db.url, proxy.port), SECRET)
      const { error, pretty } = yield* startFailure(url)
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.message).toContain(`127.0.0.1:${proxy.port}/${db.name}`)
      expect(error.message).not.toContain(SECRET)
      expect(pretty).not.toContain(SECRET)
    }).pipe(Effect.scoped))

  it.live("a server that accepts and never answers: start-up fails after DATABASE_CONNECT_TIMEOUT_SECONDS", () =>
    Effect.gen(function*() {
      const port = yield* silentServer
      const started = Date.now()
      const { error, pretty } = yield* startFailure(`postgres://postgres:${SECRET}@127.0.0.1:${port}/cw_silent_db`, {
        databaseConnectTimeout: Duration.seconds(1)
      })
      const elapsed = Date.now() - started
      expect(error._tag).toBe("DatabaseUnavailable")
      expect(error.message).toContain(`127.0.0.1:${port}/cw_silent_db`)
      expect(pretty).not.toContain(SECRET)
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(4000)
    }).pipe(Effect.scoped))

  it.live("migrations create the worker's tables in cron_worker and the demo schema in finance", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tables = yield* sql<{ schema: string; name: string }>`
        SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
        WHERE table_schema IN ('cron_worker', 'finance') AND table_type = 'BASE TABLE'
        ORDER BY 1, 2`
      expect(tables.map((t) => `${t.schema}.${t.name}`)).toEqual([
        "cron_worker.alert_evaluator",
        "cron_worker.alerts",
        "cron_worker.audit",
        "cron_worker.instances",
        "cron_worker.jobs",
        "cron_worker.migrations",
        "cron_worker.migrations_finance",
        "cron_worker.outbox",
        "cron_worker.runs",
        "cron_worker.schedules",
        "cron_worker.webhooks",
        "finance.budget_items",
        "finance.budgets",
        "finance.categories",
        "finance.invoice_items",
        "finance.invoices",
        "finance.users"
      ])
      const withDeletedAt = yield* sql<{ name: string }>`
        SELECT table_name AS name FROM information_schema.columns
        WHERE table_schema = 'finance' AND column_name = 'deleted_at' AND data_type = 'timestamp with time zone'
        ORDER BY 1`
      expect(withDeletedAt.map((t) => t.name)).toEqual([
        "budget_items",
        "budgets",
        "categories",
        "invoice_items",
        "invoices",
        "users"
      ])
      const keys = yield* sql<{ source: string; column: string; target: string; on_delete: string }>`
        SELECT c.conrelid::regclass::text AS source, a.attname AS column, c.confrelid::regclass::text AS target,
               c.confdeltype::text AS on_delete
        FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.confrelid = 'finance.categories'::regclass
        ORDER BY 1, 2`
      // `r`: ON DELETE RESTRICT; `a`: NO ACTION (the default).
      expect(keys).toEqual([
        { source: "finance.budget_items", column: "category_id", target: "finance.categories", on_delete: "r" },
        {
          source: "finance.categories",
          column: "parent_id",
          target: "finance.categories",
          on_delete: expect.stringMatching(/^[ar]$/)
        },
        { source: "finance.invoice_items", column: "category_id", target: "finance.categories", on_delete: "r" }
      ])
      const applied = yield* sql<{ migration_id: number; name: string }>`
        SELECT migration_id, name FROM cron_worker.migrations ORDER BY migration_id`
      expect(applied.map((m) => `${m.migration_id}_${m.name}`)).toEqual(Object.keys(migrations))
    }).pipe(Effect.provide(Database.layer.pipe(Layer.provide(config(db.url)))), Effect.provide(quiet)))

  it.live("migrations are idempotent: a second start applies nothing and keeps the data", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const user = randomUUID()
      yield* sql`INSERT INTO finance.users (id, name, email) VALUES (${user}, 'Idem', ${`${user}@example.com`})`
      // A second worker starting on the same database.
      const again = yield* Database.migrate
      expect(again).toEqual([])
      yield* Layer.build(Database.layer).pipe(Effect.scoped, Effect.provide(config(db.url)))
      const [row] = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM finance.users WHERE id = ${user}`
      expect(row?.count).toBe(1)
      const [runs] = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM cron_worker.migrations`
      expect(runs?.count).toBe(Object.keys(migrations).length)
    }).pipe(Effect.provide(Database.layer.pipe(Layer.provide(config(db.url)))), Effect.provide(quiet)))

  it.live(
    "a database migrated when the example schema was the worker's migration 2 keeps its rows: the example app's " +
      "set records itself there and changes nothing",
    () =>
      Effect.gen(function*() {
        const old = yield* Effect.acquireRelease(
          Effect.promise(() => createDatabase("cw_test_old")),
          (d) => Effect.promise(d.drop)
        )
        const user = randomUUID()
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* Database.migrate
          // What an earlier worker left: the finance tables with their rows, recorded as the worker's migration 2.
          yield* sql`DROP TABLE cron_worker.migrations_finance`
          yield* sql`INSERT INTO cron_worker.migrations (migration_id, name) VALUES (2, 'finance_schema')`
          yield* sql`INSERT INTO finance.users (id, name, email) VALUES (${user}, 'Old', ${`${user}@example.com`})`
          expect(yield* Database.migrate).toEqual(["finance/1_schema"])
          const [kept] = yield* sql<{ count: number }>`
            SELECT count(*)::int AS count FROM finance.users WHERE id = ${user}`
          expect(kept?.count).toBe(1)
          const worker = yield* sql<{ name: string }>`SELECT name FROM cron_worker.migrations ORDER BY migration_id`
          expect(worker.map((m) => m.name)).toContain("finance_schema")
          expect(yield* Database.migrate).toEqual([])
        }).pipe(Effect.provide(Database.layerWithoutMigrations.pipe(Layer.provide(config(old.url)))))
      }).pipe(Effect.scoped, Effect.provide(financeSchema), Effect.provide(quiet))
  )

  it.live("two concurrent migration runs on one fresh database both succeed, applying each migration once", () =>
    Effect.gen(function*() {
      const fresh = yield* Effect.acquireRelease(
        Effect.promise(() => createDatabase("cw_test_mig")),
        (d) => Effect.promise(d.drop)
      )
      const client = (label: string) =>
        Layer.build(Database.layerWithoutMigrations).pipe(
          Effect.provide(config(fresh.url, { serviceName: `cw-test-${label}`, databasePoolSize: 2 }))
        )
      const [a, b] = yield* Effect.all([client("a"), client("b")], { concurrency: 2 })
      const applied = yield* Effect.all([Effect.provide(Database.migrate, a), Effect.provide(Database.migrate, b)], {
        concurrency: 2
      })
      // Each migration of the worker's set and of the example app's once, by one runner or the other (a runner may
      // reach the app's set while the other is still in the worker's).
      expect(applied.flat().sort()).toEqual([...Object.keys(migrations), "finance/1_schema"].sort())
      const rows = yield* Effect.flatMap(
        SqlClient.SqlClient,
        (s) => s<{ id: number }>`SELECT migration_id AS id FROM cron_worker.migrations`
      ).pipe(
        Effect.provide(a)
      )
      expect(rows).toHaveLength(Object.keys(migrations).length)
    }).pipe(Effect.scoped, Effect.provide(financeSchema), Effect.provide(quiet)))
})
