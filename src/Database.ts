/**
 * The database: `@effect/sql-pg` on `DATABASE_URL`, or, when it is unset, on
 * the embedded PGlite (`Database/Embedded.ts`). One `PgClient` code path
 * serves both. Start-up fails with one line naming host, port and database,
 * never the credentials.
 */
import { NodeContext } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { resolve } from "node:path"
import * as Embedded from "./Database/Embedded.js"
import * as Migrations from "./Migrations.js"
import * as Redact from "./Redact.js"
import { WorkerConfig, type WorkerConfigShape } from "./WorkerConfig.js"

/** PostgreSQL cannot be reached, refuses the credentials, or a migration failed. */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  target: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot use PostgreSQL at ${this.target}: ${this.reason}`
  }
}

/** Longest wait for the embedded database's one connection. */
const EMBEDDED_ACQUIRE_TIMEOUT = Duration.minutes(2)

/** `host:port/database` of a PostgreSQL URL: what logs and errors may show of it. */
export const describeUrl = (url: string): string => {
  const parsed = new URL(url)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username) ||
    "postgres"
  return `${parsed.hostname || "localhost"}:${parsed.port || "5432"}/${database}`
}

/**
 * Which database `config` names, without secrets: `postgres <host>:<port>/<database>`, or `embedded <absolute
 * data directory>`. A command line and a running worker that say the same use the same database.
 */
export const identity = (config: WorkerConfigShape): string =>
  Option.match(config.databaseUrl, {
    onSome: (url) => `postgres ${describeUrl(Redacted.value(url))}`,
    onNone: () =>
      config.embeddedDataDir.startsWith("memory://")
        ? `embedded ${config.embeddedDataDir}`
        : `embedded ${resolve(config.embeddedDataDir)}`
  })

/** The innermost message of a connection or query failure, secrets masked. */
const reasonOf = (error: unknown): string => {
  let current: unknown = error
  for (let depth = 0; depth < 5; depth++) {
    const cause = typeof current === "object" && current !== null && "cause" in current ? current.cause : undefined
    if (cause === undefined || cause === null) break
    current = cause
  }
  const message = current instanceof Error ? current.message : String(current)
  const code = typeof current === "object" && current !== null && "code" in current ? ` (${String(current.code)})` : ""
  return Redact.scrub(`${message || "unknown error"}${code}`)
}

/** The client and where it points, before migrations. */
const client = Layer.unwrapScoped(
  Effect.gen(function*() {
    const config = yield* WorkerConfig
    // Runs after the pool (built below, in this scope) has closed; says so only if it had opened.
    let connected = false
    const established = (fields: Record<string, unknown>) =>
      Effect.logInfo("database connection established").pipe(
        Effect.annotateLogs(fields),
        Effect.zipRight(Effect.sync(() => (connected = true)))
      )
    yield* Effect.addFinalizer(() => (connected ? Effect.logInfo("database connection closed") : Effect.void))
    if (Option.isSome(config.databaseUrl)) {
      const target = describeUrl(Redacted.value(config.databaseUrl.value))
      return PgClient.layer({
        url: config.databaseUrl.value,
        connectTimeout: config.databaseConnectTimeout,
        maxConnections: config.databasePoolSize,
        applicationName: config.serviceName
      }).pipe(
        Layer.mapError((error) => new DatabaseUnavailable({ target, reason: reasonOf(error) })),
        Layer.tap(() => established({ database: target, embedded: false }))
      )
    }
    const embedded = yield* Embedded.start(config.embeddedDataDir)
    const target = `embedded PGlite at ${embedded.dataDir}`
    return PgClient.layer({
      host: "127.0.0.1",
      port: embedded.port,
      username: "postgres",
      database: "postgres",
      // PGlite serves one connection; a larger pool would queue on it anyway. Waiting for that connection
      // is what pg's connect timeout also bounds: give it room for a job's long transaction.
      maxConnections: 1,
      connectTimeout: Duration.max(config.databaseConnectTimeout, EMBEDDED_ACQUIRE_TIMEOUT),
      applicationName: config.serviceName
    }).pipe(
      Layer.mapError((error) => new DatabaseUnavailable({ target, reason: reasonOf(error) })),
      Layer.tap(() => established({ database: "embedded (PGlite)", embedded: true, data_dir: embedded.dataDir }))
    )
  })
)

/** Runs the worker's migrations, then the application's (`Migrations.AppMigrations`); a failure names the database. */
export const migrate = Effect.gen(function*() {
  const pg = yield* PgClient.PgClient
  const target = `${pg.config.host}:${pg.config.port ?? 5432}/${pg.config.database}`
  const applied = yield* Migrations.run.pipe(
    Effect.provide(NodeContext.layer),
    // The migrator reports a failing migration as a defect: it is still a start-up failure that names the database.
    Effect.catchAllDefect((defect) => Effect.fail(defect)),
    Effect.mapError((error) => new DatabaseUnavailable({ target, reason: `migration failed: ${reasonOf(error)}` }))
  )
  if (applied.length > 0) {
    yield* Effect.logInfo("database migrated").pipe(
      Effect.annotateLogs({ applied })
    )
  }
  return applied
})

/** The database, connected and migrated: `PgClient` and `SqlClient` for the worker and its jobs. */
export const layer: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient,
  DatabaseUnavailable | Embedded.EmbeddedDatabaseError,
  WorkerConfig
> = Layer.tap(client, (context) => Effect.asVoid(Effect.provide(migrate, context)))

/** The database without migrations: for `migrate` itself and tools that must not change the schema. */
export const layerWithoutMigrations = client
