/**
 * The run store: where every slot is claimed before it runs and where its
 * outcome is recorded. A port with one adapter per backend: `layerPg`
 * (durable history, claims across instances) and `layerMemory` (one
 * process; tests).
 */
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Option } from "effect"
import type { RunReason } from "./Job.js"

/** The state of a slot's run. `running` until one of the final states is recorded. */
export type RunStatus =
  | "running"
  | "succeeded"
  | "failed"
  | "timed_out"
  | "interrupted"
  | "skipped"
  | "abandoned"

/** Why a slot was skipped rather than run. */
export type SkipReason =
  /** The previous run of the same job was still running (overlap `skip`, or `queue` with one already waiting). */
  | "overlap"
  /** `WORKER_MAX_CONCURRENT_JOBS` runs were in flight. */
  | "max_concurrent"
  /** The worker was not running, or was late, at the slot's time, and `catchUp` did not run it. */
  | "missed"
  /** The job is paused. */
  | "paused"
  /** Shutdown began before the slot could start. */
  | "shutdown"

/** One slot of one job: its history row. */
export interface RunRecord {
  readonly runId: string
  readonly job: string
  readonly nominalAt: Date
  readonly reason: RunReason
  readonly status: RunStatus
  readonly skipReason: SkipReason | undefined
  readonly attempt: number
  readonly instance: string
  readonly startedAt: Date
  readonly finishedAt: Date | undefined
  readonly durationMs: number | undefined
  readonly error: string | undefined
}

/** A slot about to run. */
export interface Claim {
  readonly runId: string
  readonly job: string
  readonly nominalAt: Date
  readonly reason: RunReason
  readonly instance: string
  readonly at: Date
}

/** The end of a run, or the decision to skip its slot. */
export interface Outcome {
  readonly status: Exclude<RunStatus, "running">
  readonly skipReason?: SkipReason | undefined
  readonly attempt: number
  readonly at: Date
  readonly error?: string | undefined
}

export interface RunStoreShape {
  /**
   * Claims the slot `(job, nominalAt)` and records it as running. `false` when
   * the slot was already claimed (by this or another instance): the caller
   * must not run it. Manual runs are never refused.
   */
  readonly claim: (claim: Claim) => Effect.Effect<boolean>
  /**
   * Records the outcome of a claimed run. Only the first outcome counts: a run
   * that already ended keeps it, and `false` says so.
   */
  readonly finish: (runId: string, outcome: Outcome) => Effect.Effect<boolean>
  /** One run's record. */
  readonly get: (runId: string) => Effect.Effect<Option.Option<RunRecord>>
  /** History, newest first; optionally of one job only. */
  readonly history: (options?: { readonly job?: string | undefined; readonly limit?: number | undefined }) => Effect.Effect<ReadonlyArray<RunRecord>>
}

/** The run store port. */
export class RunStore extends Context.Tag("cron-worker/RunStore")<RunStore, RunStoreShape>() {}

/** Options of {@link makeMemory}. */
export interface MemoryOptions {
  /** Finished records kept, oldest dropped first; running ones are always kept. Default 10,000. */
  readonly capacity?: number | undefined
}

/**
 * A store in this process's memory: history is lost at exit and claims do not
 * reach other instances. Bounded by `capacity`.
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<RunStoreShape> =>
  Effect.sync(() => {
    const capacity = options.capacity ?? 10_000
    const byId = new Map<string, RunRecord>()
    const bySlot = new Map<string, string>()
    const slotKey = (job: string, nominalAt: Date) => `${job}\u0000${nominalAt.getTime()}`
    const evict = () => {
      if (byId.size <= capacity) return
      for (const [runId, record] of byId) {
        if (byId.size <= capacity) break
        if (record.status === "running") continue
        byId.delete(runId)
        const key = slotKey(record.job, record.nominalAt)
        if (bySlot.get(key) === runId) bySlot.delete(key)
      }
    }
    return RunStore.of({
      claim: (claim) =>
        Effect.sync(() => {
          const key = slotKey(claim.job, claim.nominalAt)
          if (claim.reason !== "manual" && bySlot.has(key)) return false
          if (claim.reason !== "manual") bySlot.set(key, claim.runId)
          byId.set(claim.runId, {
            runId: claim.runId,
            job: claim.job,
            nominalAt: claim.nominalAt,
            reason: claim.reason,
            status: "running",
            skipReason: undefined,
            attempt: 0,
            instance: claim.instance,
            startedAt: claim.at,
            finishedAt: undefined,
            durationMs: undefined,
            error: undefined
          })
          evict()
          return true
        }),
      finish: (runId, outcome) =>
        Effect.sync(() => {
          const record = byId.get(runId)
          if (record === undefined || record.status !== "running") return false
          byId.set(runId, {
            ...record,
            status: outcome.status,
            skipReason: outcome.skipReason,
            attempt: outcome.attempt,
            finishedAt: outcome.at,
            durationMs: outcome.at.getTime() - record.startedAt.getTime(),
            error: outcome.error
          })
          return true
        }),
      get: (runId) => Effect.sync(() => Option.fromNullable(byId.get(runId))),
      history: (query = {}) =>
        Effect.sync(() => {
          const records = [...byId.values()].reverse().filter((r) => query.job === undefined || r.job === query.job)
          return query.limit === undefined ? records : records.slice(0, query.limit)
        })
    })
  })

/** {@link makeMemory} as a layer. */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<RunStore> => Layer.effect(RunStore, makeMemory(options))

interface Row {
  readonly run_id: string
  readonly job: string
  readonly nominal_at: Date
  readonly reason: RunReason
  readonly status: RunStatus
  readonly skip_reason: SkipReason | null
  readonly attempt: number
  readonly instance: string
  readonly started_at: Date
  readonly finished_at: Date | null
  readonly duration_ms: number | null
  readonly error: string | null
}

const toRecord = (row: Row): RunRecord => ({
  runId: row.run_id,
  job: row.job,
  nominalAt: row.nominal_at,
  reason: row.reason,
  status: row.status,
  skipReason: row.skip_reason ?? undefined,
  attempt: row.attempt,
  instance: row.instance,
  startedAt: row.started_at,
  finishedAt: row.finished_at ?? undefined,
  durationMs: row.duration_ms ?? undefined,
  error: row.error ?? undefined
})

/**
 * The store on PostgreSQL (`cron_worker.runs`): the durable history, and the
 * claims that make each slot run once across instances (a unique index on
 * `(job, nominal_at)` for scheduled and catch-up runs). Database failures are
 * defects: the scheduler logs them.
 */
export const makePg: Effect.Effect<RunStoreShape, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql`run_id, job, nominal_at, reason, status, skip_reason, attempt, instance, started_at, finished_at,
    duration_ms::float8 AS duration_ms, error`
  return RunStore.of({
    claim: (claim) =>
      sql<{ run_id: string }>`
        INSERT INTO cron_worker.runs (run_id, job, nominal_at, reason, status, attempt, instance, started_at)
        VALUES (${claim.runId}, ${claim.job}, ${claim.nominalAt}, ${claim.reason}, 'running', 0, ${claim.instance}, ${claim.at})
        ON CONFLICT DO NOTHING
        RETURNING run_id`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie),
    finish: (runId, outcome) =>
      sql<{ run_id: string }>`
        UPDATE cron_worker.runs
        SET status = ${outcome.status}, skip_reason = ${outcome.skipReason ?? null}, attempt = ${outcome.attempt},
            finished_at = ${outcome.at}, error = ${outcome.error ?? null},
            duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM (${outcome.at}::timestamptz - started_at)) * 1000)::bigint)
        WHERE run_id = ${runId} AND status = 'running'
        RETURNING run_id`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie),
    get: (runId) =>
      sql<Row>`SELECT ${columns} FROM cron_worker.runs WHERE run_id = ${runId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRecord)),
        Effect.orDie
      ),
    history: (query = {}) =>
      sql<Row>`
        SELECT ${columns} FROM cron_worker.runs
        ${query.job === undefined ? sql`` : sql`WHERE job = ${query.job}`}
        ORDER BY started_at DESC, nominal_at DESC
        LIMIT ${query.limit ?? 100}`.pipe(Effect.map((rows) => rows.map(toRecord)), Effect.orDie)
  })
})

/** {@link makePg} as a layer. */
export const layerPg: Layer.Layer<RunStore, never, SqlClient.SqlClient> = Layer.effect(RunStore, makePg)
