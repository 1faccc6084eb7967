/**
 * Where schedules created at run time are kept: `cron_worker.schedules` on PostgreSQL (embedded or not), or memory
 * for tests. A port: `Schedules.ts` uses it and imports no adapter. Every change is announced on a channel
 * (`LISTEN/NOTIFY` on PostgreSQL) with the schedule's id, so that every instance applies it within a second; the
 * ids and versions (`versions`) let an instance reconcile what it missed.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { WorkerConfig } from "../WorkerConfig.js"

/** A stored schedule. `definition` is its definition as JSON (see `Schedules.Definition`). */
export interface ScheduleRow {
  readonly id: string
  /** Its idempotency key: one schedule per key. */
  readonly key: string | undefined
  readonly kind: string
  readonly definition: unknown
  /** 1 when created, one more per change. */
  readonly version: number
  /** Runs left under a limit; none: no limit. */
  readonly remainingRuns: number | undefined
  readonly createdAt: Date
  readonly updatedAt: Date
}

/** What a create found. */
export type Created =
  | { readonly _tag: "Created"; readonly row: ScheduleRow }
  /** A schedule with that key exists: it is the one (created twice = one schedule). */
  | { readonly _tag: "KeyExists"; readonly row: ScheduleRow }
  /** Another schedule has that id. */
  | { readonly _tag: "IdTaken" }

/** What an update found. */
export type Updated =
  | { readonly _tag: "Updated"; readonly before: ScheduleRow; readonly row: ScheduleRow }
  | { readonly _tag: "NotFound" }
  /** The schedule is not at the version the caller expected (it changed meanwhile). */
  | { readonly _tag: "VersionMismatch"; readonly row: ScheduleRow }

export interface ScheduleStoreShape {
  /** Schedules by id, a page after `after`. */
  readonly list: (
    query?: { readonly after?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<ScheduleRow>>
  readonly get: (id: string) => Effect.Effect<Option.Option<ScheduleRow>>
  /** How many schedules there are of each kind. */
  readonly countByKind: Effect.Effect<ReadonlyMap<string, number>>
  /** Every schedule's id and version: what an instance compares with what it runs. */
  readonly versions: Effect.Effect<ReadonlyMap<string, number>>
  readonly create: (
    row: Omit<ScheduleRow, "version" | "createdAt" | "updatedAt">,
    at: Date
  ) => Effect.Effect<Created>
  /** Replaces the definition (and runs left), one version up; with `expected`, only from that version. */
  readonly update: (
    id: string,
    change: Pick<ScheduleRow, "kind" | "definition" | "remainingRuns">,
    at: Date,
    expected?: number | undefined
  ) => Effect.Effect<Updated>
  /** Deletes a schedule; its runs stay in the history. The row it was, if any. */
  readonly remove: (id: string) => Effect.Effect<Option.Option<ScheduleRow>>
  /**
   * Takes one of the runs left of a schedule with a limit: the number left after it, or `undefined` when none was
   * left. The schedule ends at 0 (a change like any other, announced).
   */
  readonly take: (id: string) => Effect.Effect<number | undefined>
  /** Whether changes are announced (not on the embedded database, which one worker at most has open). */
  readonly announces: boolean
  /** Announces a change of the schedule `id` to every instance. */
  readonly announce: (id: string) => Effect.Effect<void>
  /** The ids announced, from now on. Fails when the channel is lost (the caller listens again and reconciles). */
  readonly announced: Stream.Stream<string, unknown>
}

export class ScheduleStore extends Context.Tag("cron-worker/ScheduleStore")<ScheduleStore, ScheduleStoreShape>() {}

/** The channel of `LISTEN/NOTIFY`. */
const CHANNEL = "cron_worker_schedules"

interface Row {
  readonly id: string
  readonly key: string | null
  readonly kind: string
  readonly definition: unknown
  readonly version: number
  readonly remaining_runs: number | null
  readonly created_at: Date
  readonly updated_at: Date
}

const toRow = (row: Row): ScheduleRow => ({
  id: row.id,
  key: row.key ?? undefined,
  kind: row.kind,
  definition: row.definition,
  version: row.version,
  remainingRuns: row.remaining_runs ?? undefined,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

/**
 * The store on PostgreSQL. The database failing is a defect, as in the run store; an announcement that cannot be
 * made is not (the change is stored: the other instances find it when they reconcile). On the embedded database
 * nothing is announced: one worker at most has it open.
 */
export const layerPg: Layer.Layer<ScheduleStore, never, SqlClient.SqlClient | PgClient.PgClient | WorkerConfig> = Layer
  .effect(
    ScheduleStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      const shared = Option.isSome((yield* WorkerConfig).databaseUrl)
      const one = (rows: ReadonlyArray<Row>) => Option.map(Option.fromNullable(rows[0]), toRow)
      const json = (value: unknown) => JSON.stringify(value)
      const store: ScheduleStoreShape = {
        list: (query = {}) =>
          sql<Row>`
          SELECT * FROM cron_worker.schedules
          WHERE ${query.after === undefined ? sql`true` : sql`id > ${query.after}`}
          ORDER BY id LIMIT ${query.limit ?? 100}`.pipe(Effect.map((rows) => rows.map(toRow)), Effect.orDie),
        get: (id) => sql<Row>`SELECT * FROM cron_worker.schedules WHERE id = ${id}`.pipe(Effect.map(one), Effect.orDie),
        countByKind: sql<{ kind: string; count: number }>`
        SELECT kind, count(*)::int AS count FROM cron_worker.schedules GROUP BY kind`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.kind, row.count]))),
          Effect.orDie
        ),
        versions: sql<{ id: string; version: number }>`SELECT id, version FROM cron_worker.schedules`.pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.id, row.version]))),
          Effect.orDie
        ),
        create: (row, at) =>
          Effect.gen(function*() {
            const inserted = yield* sql<Row>`
            INSERT INTO cron_worker.schedules
              (id, key, kind, definition, version, remaining_runs, created_at, updated_at)
            VALUES (${row.id}, ${row.key ?? null}, ${row.kind}, ${json(row.definition)}::jsonb, 1,
              ${row.remainingRuns ?? null}, ${at}, ${at})
            ON CONFLICT DO NOTHING
            RETURNING *`
            if (inserted[0] !== undefined) return { _tag: "Created", row: toRow(inserted[0]) } as const
            if (row.key !== undefined) {
              const existing = one(yield* sql<Row>`SELECT * FROM cron_worker.schedules WHERE key = ${row.key}`)
              if (Option.isSome(existing)) return { _tag: "KeyExists", row: existing.value } as const
            }
            return { _tag: "IdTaken" } as const
          }).pipe(Effect.orDie),
        update: (id, change, at, expected) =>
          sql.withTransaction(Effect.gen(function*() {
            const before = one(yield* sql<Row>`SELECT * FROM cron_worker.schedules WHERE id = ${id} FOR UPDATE`)
            if (Option.isNone(before)) return { _tag: "NotFound" } as const
            if (expected !== undefined && before.value.version !== expected) {
              return { _tag: "VersionMismatch", row: before.value } as const
            }
            const rows = yield* sql<Row>`
            UPDATE cron_worker.schedules
            SET kind = ${change.kind}, definition = ${json(change.definition)}::jsonb, version = version + 1,
              remaining_runs = ${change.remainingRuns ?? null}, updated_at = ${at}
            WHERE id = ${id}
            RETURNING *`
            return { _tag: "Updated", before: before.value, row: toRow(rows[0]!) } as const
          })).pipe(Effect.orDie),
        remove: (id) =>
          sql<Row>`DELETE FROM cron_worker.schedules WHERE id = ${id} RETURNING *`.pipe(Effect.map(one), Effect.orDie),
        take: (id) =>
          sql<{ remaining_runs: number }>`
          UPDATE cron_worker.schedules SET remaining_runs = remaining_runs - 1
          WHERE id = ${id} AND remaining_runs > 0
          RETURNING remaining_runs`.pipe(Effect.map((rows) => rows[0]?.remaining_runs), Effect.orDie),
        announces: shared,
        announce: (id) =>
          shared
            ? sql`SELECT pg_notify(${CHANNEL}, ${id})`.pipe(
              Effect.catchAll((error) =>
                Effect.logWarning("schedule change not announced: other instances apply it when they reconcile").pipe(
                  Effect.annotateLogs({ schedule: id, error: error.message })
                )
              )
            )
            : Effect.void,
        announced: shared ? pg.listen(CHANNEL) : Stream.never
      }
      return store
    })
  )

/** The store in memory: one process, for tests. */
export const layerMemory = (): Layer.Layer<ScheduleStore> =>
  Layer.effect(
    ScheduleStore,
    Effect.gen(function*() {
      const rows = new Map<string, ScheduleRow>()
      const store: ScheduleStoreShape = {
        list: (query = {}) =>
          Effect.sync(() =>
            [...rows.values()]
              .filter((row) => query.after === undefined || row.id > query.after)
              .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
              .slice(0, query.limit ?? 100)
          ),
        get: (id) => Effect.sync(() => Option.fromNullable(rows.get(id))),
        versions: Effect.sync(() => new Map([...rows.values()].map((row) => [row.id, row.version]))),
        countByKind: Effect.sync(() => {
          const counts = new Map<string, number>()
          for (const row of rows.values()) counts.set(row.kind, (counts.get(row.kind) ?? 0) + 1)
          return counts
        }),
        create: (row, at) =>
          Effect.sync((): Created => {
            const keyed = row.key === undefined ? undefined : [...rows.values()].find((r) => r.key === row.key)
            if (keyed !== undefined) return { _tag: "KeyExists", row: keyed }
            if (rows.has(row.id)) return { _tag: "IdTaken" }
            const created = { ...row, version: 1, createdAt: at, updatedAt: at }
            rows.set(row.id, created)
            return { _tag: "Created", row: created }
          }),
        update: (id, change, at, expected) =>
          Effect.sync((): Updated => {
            const before = rows.get(id)
            if (before === undefined) return { _tag: "NotFound" }
            if (expected !== undefined && before.version !== expected) return { _tag: "VersionMismatch", row: before }
            const row = { ...before, ...change, version: before.version + 1, updatedAt: at }
            rows.set(id, row)
            return { _tag: "Updated", before, row }
          }),
        remove: (id) =>
          Effect.sync(() => {
            const row = Option.fromNullable(rows.get(id))
            rows.delete(id)
            return row
          }),
        take: (id) =>
          Effect.sync(() => {
            const row = rows.get(id)
            if (row?.remainingRuns === undefined || row.remainingRuns <= 0) return undefined
            rows.set(id, { ...row, remainingRuns: row.remainingRuns - 1 })
            return row.remainingRuns - 1
          }),
        // One process: a change is applied where it is made, nothing to listen to.
        announces: false,
        announce: () => Effect.void,
        announced: Stream.never
      }
      return store
    })
  )
