/**
 * The run store on PostgreSQL. `cron_worker.runs` is the history and the
 * claim table: a unique index on `(job, nominal_at)` (manual runs aside)
 * lets one instance win each slot. Live runs hold a lease on the database's
 * clock, renewed by their worker; a run whose lease expired is marked
 * abandoned by whichever worker notices. `cron_worker.jobs` holds the pause
 * switches. Claims made at the same moment share one statement (in one
 * short transaction, behind the per-job advisory locks).
 */
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import * as Batcher from "../Batcher.js"
import type { RunReason } from "../Job.js"
import {
  type Claim,
  type ClaimResult,
  FAILURE_WINDOW,
  type Outcome,
  type Pause,
  type RecentRecord,
  type RunRecord,
  type RunStatus,
  RunStore,
  type RunStoreShape,
  type SkipReason
} from "../RunStore.js"

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
  readonly schedule_version: number | null
  readonly backfill_id: string | null
}

/** A row with the detail only `get` reads. */
interface DetailRow extends Row {
  readonly attempts: ReadonlyArray<{ readonly attempt: number; readonly at: string; readonly error: string }> | null
  readonly stack: string | null
  readonly trace_id: string | null
}

const toDetail = (row: DetailRow): RunRecord => ({
  ...toRecord(row),
  attempts: row.attempts?.map((a) => ({ attempt: a.attempt, at: new Date(a.at), error: a.error })),
  stack: row.stack ?? undefined,
  traceId: row.trace_id ?? undefined
})

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
  error: row.error ?? undefined,
  scheduleVersion: row.schedule_version ?? undefined,
  backfillId: row.backfill_id ?? undefined
})

interface PauseRow {
  readonly job: string
  readonly paused_reason: string | null
  readonly paused_at: Date
  readonly paused_by: string | null
  readonly paused_until: Date | null
}

const toPause = (row: PauseRow): Pause => ({
  job: row.job,
  reason: row.paused_reason ?? undefined,
  at: row.paused_at,
  by: row.paused_by ?? undefined,
  until: row.paused_until ?? undefined
})

interface ClaimRow {
  readonly run_id: string
  readonly status: RunStatus
  readonly skip_reason: string | null
  readonly paused_reason: string | null
  readonly running: number
  readonly queued: number
}

/** A run's failed attempts as the `attempts` column keeps them (JSON), or null when there were none. */
const attemptsJson = (outcome: Outcome): string | null =>
  outcome.attempts === undefined || outcome.attempts.length === 0
    ? null
    : JSON.stringify(outcome.attempts.map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), error: a.error })))

/** Rows one `prune` call deletes at most: short statements, no long locks. */
export const PRUNE_BATCH = 5000

/** Advisory locks that order claims across instances; a job's is chosen by the hash of its name. */
const CLAIM_LOCKS = 64

/** Claims in one batch at most: one statement, arrays as parameters. */
const MAX_BATCH = 1000

/**
 * An instance that has not beaten (`beat`, every second) for this long is dead: its live runs are abandoned at once,
 * without waiting for their leases.
 */
export const INSTANCE_STALE_SECONDS = 3

/** Why a run is interrupted when its lease could not be renewed. */
const LEASE_LOST = "lease lost: another instance marked the run abandoned after its lease expired"

/** Longest wait for one store operation: a PostgreSQL that accepts and never answers must not hang the scheduler. */
const OPERATION_TIMEOUT = Duration.seconds(15)

/**
 * Failures and silences of the database become defects (the scheduler logs
 * them and goes on). Interruptible even inside the scheduler's protected
 * regions, so that the timeout can end the wait; a claim lost this way is
 * reaped as abandoned when its lease expires.
 */
const guard = <A, E>(operation: Effect.Effect<A, E>): Effect.Effect<A> =>
  operation.pipe(
    Effect.interruptible,
    Effect.timeoutFail({
      duration: OPERATION_TIMEOUT,
      onTimeout: () =>
        new Error(`the run store got no answer from PostgreSQL within ${Duration.format(OPERATION_TIMEOUT)}`)
    }),
    Effect.orDie
  )

/** The store on the `SqlClient` in context. Database failures are defects: the scheduler logs them. */
/** A host clock this far from the database's is worth a warning: see `checkClock`. */
const CLOCK_SKEW_WARNING_MILLIS = 1000

/**
 * Compares this host's clock with the database's (half a round trip allowed) and warns when they differ by more
 * than a second: instances claim slots by their own clocks, so clocks apart make one instance run slots early,
 * another late, and both at the same moment for a while (overlap `skip` then skips some). Never fails.
 */
const checkClock = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const before = yield* Clock.currentTimeMillis
    const [row] = yield* sql<{ now: Date }>`SELECT now() AS now`
    const after = yield* Clock.currentTimeMillis
    if (row === undefined) return
    const offset = Math.round((before + after) / 2 - row.now.getTime())
    if (Math.abs(offset) - (after - before) / 2 <= CLOCK_SKEW_WARNING_MILLIS) return
    yield* Effect.logWarning("this host's clock differs from the database's").pipe(
      Effect.annotateLogs({ offset_ms: offset, database_time: row.now.toISOString() })
    )
  }).pipe(Effect.catchAll(() => Effect.void))

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* checkClock(sql)
  const columns = sql`run_id, job, nominal_at, reason, status, skip_reason, attempt, instance, started_at, finished_at,
    duration_ms::float8 AS duration_ms, error, schedule_version, backfill_id`
  /** {@link columns} of `runs r`, for an update joined to a set of locked run ids. */
  const returned = sql`r.run_id, r.job, r.nominal_at, r.reason, r.status, r.skip_reason, r.attempt, r.instance,
    r.started_at, r.finished_at, r.duration_ms::float8 AS duration_ms, r.error, r.schedule_version, r.backfill_id`
  const live = sql`status IN ('running', 'queued') AND lease_until > now()`

  /**
   * One call of `cron_worker.claim` (migration `8_claim_function`) inserts
   * the claims and counts, per claim, the runs of the job live on other
   * instances, in one round trip. A transaction-scoped advisory lock per job's
   * bucket makes claims of one job from several instances take turns: each
   * counts what the one before committed, so two runs of one job started at
   * the same moment by two instances (a manual run and a scheduled slot, say)
   * cannot both see the other as absent. The function of `13_schedules` takes the backfill ids and the versions too.
   */
  const claimAll = (claims: ReadonlyArray<Claim>) =>
    sql<ClaimRow>`
      SELECT claimed_run_id AS run_id, claimed_status AS status, claimed_skip_reason AS skip_reason,
        claimed_paused_reason AS paused_reason, claimed_running AS running, claimed_queued AS queued
      FROM cron_worker.claim(
        ${claims.map((c) => c.runId)}::uuid[], ${claims.map((c) => c.job)}::text[],
        ${claims.map((c) => c.nominalAt)}::timestamptz[], ${claims.map((c) => c.reason)}::text[],
        ${claims.map((c) => c.instance)}::text[], ${claims.map((c) => c.at)}::timestamptz[],
        ${claims.map((c) => c.leaseSeconds)}::float8[], ${claims.map((c) => c.missed ?? null)}::text[],
        ${claims.map((c) => c.rerunOf ?? null)}::uuid[], ${CLAIM_LOCKS}::int,
        ${claims.map((c) => c.backfillId ?? null)}::uuid[], ${claims.map((c) => c.scheduleVersion ?? null)}::int[]
      )`.pipe(
      Effect.map((rows) => {
        const byId = new Map(rows.map((row) => [row.run_id, row]))
        return claims.map((claim): ClaimResult => {
          const row = byId.get(claim.runId)
          if (row === undefined) return { _tag: "Taken" }
          if (row.skip_reason === "paused") return { _tag: "Paused", reason: row.paused_reason ?? undefined }
          return { _tag: "Claimed", others: { running: row.running, queued: row.queued } }
        })
      }),
      guard
    )

  const batched = yield* Batcher.make(claimAll, { maxSize: MAX_BATCH, minWaitMillis: 5, maxWaitMillis: 50 })

  /**
   * Outcomes, recorded in one statement per batch: runs of slots that fell due
   * together end together. Not `guard`ed: recording an outcome must not be cut
   * short by the interruption that ended the run. `true` for the runs that
   * were still live (not reaped as abandoned meanwhile).
   */
  const finishAll = (items: ReadonlyArray<{ readonly runId: string; readonly outcome: Outcome }>) => {
    // A run id given twice in one batch: the first outcome counts, as with separate statements.
    const first = new Map<string, number>()
    items.forEach((item, index) => first.has(item.runId) || first.set(item.runId, index))
    const unique = [...first.values()].map((index) => items[index]!)
    return sql<{ run_id: string }>`
      WITH i AS (
        SELECT * FROM unnest(
          ${unique.map((i) => i.runId)}::uuid[], ${unique.map((i) => i.outcome.status)}::text[],
          ${unique.map((i) => i.outcome.skipReason ?? null)}::text[], ${unique.map((i) => i.outcome.attempt)}::int[],
          ${unique.map((i) => i.outcome.at)}::timestamptz[], ${unique.map((i) => i.outcome.error ?? null)}::text[],
          ${unique.map((i) => attemptsJson(i.outcome))}::jsonb[], ${unique.map((i) => i.outcome.stack ?? null)}::text[],
          ${unique.map((i) => i.outcome.traceId ?? null)}::text[]
        ) AS i (run_id, status, skip_reason, attempt, finished_at, error, attempts, stack, trace_id)
      ), locked AS (
        SELECT r.run_id FROM cron_worker.runs r JOIN i ON i.run_id = r.run_id
        WHERE r.status IN ('running', 'queued')
        ORDER BY r.run_id
        FOR UPDATE OF r
      )
      UPDATE cron_worker.runs r
      SET status = i.status, skip_reason = i.skip_reason, attempt = i.attempt, finished_at = i.finished_at,
          error = i.error, lease_until = NULL, attempts = i.attempts, stack = i.stack, trace_id = i.trace_id,
          duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM (i.finished_at - r.started_at)) * 1000)::bigint)
      FROM i JOIN locked USING (run_id)
      WHERE r.run_id = i.run_id AND r.status IN ('running', 'queued')
      RETURNING r.run_id`.pipe(
      Effect.map((rows) => {
        const recorded = new Set(rows.map((row) => row.run_id))
        return items.map((item, index) => first.get(item.runId) === index && recorded.has(item.runId))
      }),
      Effect.orDie
    )
  }
  const finished = yield* Batcher.make(finishAll, { maxSize: MAX_BATCH, minWaitMillis: 0, maxWaitMillis: 50 })

  return RunStore.of(
    {
      shared: true,
      // Scheduled slots (and missed ones) fall due together and share a statement; catch-up and manual runs come one
      // at a time.
      claim: (claim) =>
        claim.reason === "scheduled"
          ? batched(claim)
          : Effect.map(claimAll([claim]), (results) => results[0]!),
      finish: (runId, outcome) => finished({ runId, outcome }),
      enqueue: (runId, job) =>
        // The advisory lock makes "at most one queued run per job" hold between instances.
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`cron_worker.queue:${job}`}))`
          const rows = yield* sql<{ run_id: string }>`
          UPDATE cron_worker.runs SET status = 'queued'
          WHERE run_id = ${runId} AND status = 'running'
            AND NOT EXISTS (SELECT 1 FROM cron_worker.runs q WHERE q.job = ${job} AND q.status = 'queued'
              AND q.lease_until > now())
          RETURNING run_id`
          return rows.length > 0
        })).pipe(guard),
      dequeue: (runId) =>
        sql`UPDATE cron_worker.runs SET status = 'running' WHERE run_id = ${runId} AND status = 'queued'`.pipe(
          Effect.asVoid,
          guard
        ),
      others: (job, instance) =>
        sql<{ running: number; queued: number }>`
        SELECT count(*) FILTER (WHERE status = 'running')::int AS running, count(*)
          FILTER (WHERE status = 'queued')::int AS queued
        FROM cron_worker.runs WHERE job = ${job} AND instance <> ${instance} AND ${live}`.pipe(
          Effect.map((rows) => rows[0] ?? { running: 0, queued: 0 }),
          guard
        ),
      requestCancel: (job, instance, error) =>
        sql`UPDATE cron_worker.runs SET cancel_requested = ${error}
          WHERE job = ${job} AND instance <> ${instance} AND status = 'running' AND lease_until > now()
            AND cancel_requested IS NULL
          RETURNING run_id`.pipe(Effect.map((rows) => rows.length), guard),
      cancelRun: (runId, error) =>
        // The instance running it sees the request when it next renews the run's lease; the first reason stays.
        sql`UPDATE cron_worker.runs SET cancel_requested = COALESCE(cancel_requested, ${error})
          WHERE run_id = ${runId} AND status IN ('running', 'queued') AND lease_until > now()
          RETURNING run_id`.pipe(Effect.map((rows) => rows.length > 0), guard),
      renew: (runIds, leaseSeconds) =>
        runIds.length === 0
          ? Effect.succeed([])
          : sql<{ run_id: string; cancel_requested: string | null }>`
            WITH locked AS (
              SELECT run_id FROM cron_worker.runs
              WHERE run_id = ANY(${runIds}::uuid[]) AND status IN ('running', 'queued')
              ORDER BY run_id
              FOR UPDATE
            )
            UPDATE cron_worker.runs r SET lease_until = now() + make_interval(secs => ${leaseSeconds})
            FROM locked WHERE r.run_id = locked.run_id AND r.status IN ('running', 'queued')
            RETURNING r.run_id, r.cancel_requested`.pipe(
            Effect.map((rows) => {
              const renewed = new Map(rows.map((row) => [row.run_id, row.cancel_requested]))
              return runIds.flatMap((runId) => {
                // Not renewed: it ended meanwhile (interrupting it is harmless), or another instance reaped it.
                if (!renewed.has(runId)) return [{ runId, error: LEASE_LOST }]
                const cancel = renewed.get(runId)
                return cancel === null || cancel === undefined ? [] : [{ runId, error: cancel }]
              })
            }),
            guard
          ),
      reap: sql<Row>`
      WITH locked AS (
        SELECT run_id FROM cron_worker.runs WHERE status IN ('running', 'queued') AND lease_until < now()
        ORDER BY run_id
        FOR UPDATE SKIP LOCKED
      )
      UPDATE cron_worker.runs r
      SET status = 'abandoned', finished_at = now(), lease_until = NULL,
          duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM (now() - started_at)) * 1000)::bigint),
          error = 'abandoned: instance ' || instance || ' stopped renewing its lease'
      FROM locked
      WHERE r.run_id = locked.run_id AND r.status IN ('running', 'queued') AND r.lease_until < now()
      RETURNING ${returned}`.pipe(Effect.map((rows) => rows.map(toRecord)), guard),
      reapDead: Effect.gen(function*() {
        // Most of the time no instance is dead: one look at a small table, nothing else.
        const dead = yield* sql<{ instance: string }>`
          SELECT instance FROM cron_worker.instances
          WHERE beat_at < now() - make_interval(secs => ${INSTANCE_STALE_SECONDS})
            AND beat_at > now() - interval '1 day'`
        if (dead.length === 0) return []
        const rows = yield* sql<Row>`
          WITH locked AS (
            SELECT run_id FROM cron_worker.runs
            WHERE status IN ('running', 'queued') AND instance = ANY(${dead.map((d) => d.instance)}::text[])
            ORDER BY run_id
            FOR UPDATE SKIP LOCKED
          )
          UPDATE cron_worker.runs r
          SET status = 'abandoned', finished_at = now(), lease_until = NULL,
              duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM (now() - started_at)) * 1000)::bigint),
              error = 'abandoned: instance ' || instance || ' stopped (no heartbeat for '
                || ${INSTANCE_STALE_SECONDS}::text || ' s)'
          FROM locked
          WHERE r.run_id = locked.run_id AND r.status IN ('running', 'queued')
          RETURNING ${returned}`
        return rows.map(toRecord)
      }).pipe(guard),
      unrerun: (jobs, instance, since) =>
        sql<Row>`
        SELECT ${columns} FROM cron_worker.runs r
        WHERE r.status = 'abandoned' AND r.reason NOT IN ('rerun', 'backfill') AND r.finished_at > ${since}
          AND r.job = ANY(${jobs}::text[]) AND r.instance <> ${instance}
          AND NOT EXISTS (
            SELECT 1 FROM cron_worker.runs x WHERE x.job = r.job AND x.nominal_at = r.nominal_at AND x.reason = 'rerun'
          )`.pipe(Effect.map((rows) => rows.map(toRecord)), guard),
      stats: (jobs) =>
        jobs.length === 0 ? Effect.succeed([]) : sql<{
          job: string
          last_success: Date | null
          last_failure: Date | null
          consecutive_failures: number
        }>`
          SELECT j.job,
            (SELECT finished_at FROM cron_worker.runs r WHERE r.job = j.job AND r.status = 'succeeded'
              ORDER BY started_at DESC, nominal_at DESC, run_id DESC LIMIT 1) AS last_success,
            (SELECT finished_at FROM cron_worker.runs r WHERE r.job = j.job AND r.status IN ('failed', 'timed_out')
              ORDER BY started_at DESC, nominal_at DESC, run_id DESC LIMIT 1) AS last_failure,
            (SELECT count(*) FROM (
              SELECT bool_and(recent.status IN ('failed', 'timed_out'))
                OVER (ORDER BY recent.started_at DESC, recent.nominal_at DESC, recent.run_id DESC) AS streak
              FROM (
                SELECT status, started_at, nominal_at, run_id FROM cron_worker.runs r
                WHERE r.job = j.job AND r.status NOT IN ('running', 'queued')
                ORDER BY started_at DESC, nominal_at DESC, run_id DESC LIMIT 100
              ) AS recent
            ) AS w WHERE w.streak)::int AS consecutive_failures
          FROM unnest(${jobs}::text[]) AS j (job)`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              job: row.job,
              lastSuccess: row.last_success ?? undefined,
              lastFailure: row.last_failure ?? undefined,
              consecutiveFailures: row.consecutive_failures
            }))
          ),
          guard
        ),
      instancesAlive: sql<{ alive: number }>`
        SELECT count(*)::int AS alive FROM cron_worker.instances
        WHERE beat_at >= now() - make_interval(secs => ${INSTANCE_STALE_SECONDS})`.pipe(
        Effect.map((rows) => rows[0]?.alive ?? 0),
        guard
      ),
      partition: {
        live: sql<{ instance: string }>`
          SELECT instance FROM cron_worker.instances
          WHERE beat_at >= now() - make_interval(secs => ${INSTANCE_STALE_SECONDS})`.pipe(
          Effect.map((rows) => rows.map((row) => row.instance)),
          guard
        ),
        // Instants as integer milliseconds: exact, and no date to format per slot.
        unclaimed: (jobs, nominals) =>
          sql<{ n: number }>`
            SELECT (i.n - 1)::int AS n
            FROM unnest(${jobs}::text[], ${nominals}::bigint[]) WITH ORDINALITY AS i (job, ms, n)
            WHERE NOT EXISTS (
              SELECT 1 FROM cron_worker.runs r
              WHERE r.job = i.job AND r.nominal_at = timestamptz 'epoch' + i.ms * interval '1 millisecond'
                AND r.reason NOT IN ('manual', 'rerun', 'backfill'))`.pipe(
            Effect.map((rows) => rows.map((row) => row.n)),
            guard
          )
      },
      beat: (instance) =>
        sql`
        INSERT INTO cron_worker.instances (instance) VALUES (${instance})
        ON CONFLICT (instance) DO UPDATE SET beat_at = now()`.pipe(Effect.asVoid, guard),
      // As if silent for longer than the others wait: a live run it left behind is theirs to mark abandoned.
      leave: (instance) =>
        sql`
        UPDATE cron_worker.instances SET beat_at = now() - make_interval(secs => ${2 * INSTANCE_STALE_SECONDS})
        WHERE instance = ${instance}`.pipe(Effect.asVoid, guard),
      anchor: (job, proposed) =>
        sql<{ anchor: Date }>`
        INSERT INTO cron_worker.jobs (job, anchor) VALUES (${job}, ${proposed})
        ON CONFLICT (job) DO UPDATE SET anchor = COALESCE(cron_worker.jobs.anchor, excluded.anchor)
        RETURNING anchor`.pipe(Effect.map((rows) => rows[0]?.anchor ?? proposed), guard),
      lastSlots: (jobs) =>
        jobs.length === 0
          ? Effect.succeed(new Map())
          : sql<{ job: string; last: Date }>`
            SELECT j.job, last.nominal_at AS last
            FROM unnest(${jobs}::text[]) AS j (job)
            CROSS JOIN LATERAL (
              SELECT nominal_at FROM cron_worker.runs r
              WHERE r.job = j.job AND r.reason NOT IN ('manual', 'backfill')
                AND NOT (r.reason = 'catch-up' AND ${live})
              ORDER BY r.nominal_at DESC LIMIT 1
            ) AS last`.pipe(
            Effect.map((rows) => new Map(rows.map((row) => [row.job, row.last]))),
            guard
          ),
      latest: (jobs) =>
        jobs.length === 0 ? Effect.succeed([]) : sql<Row & { wanted: string; failures: number }>`
          SELECT j.job AS wanted, l.*,
            -- A job whose newest run ended and neither failed nor timed out (most jobs) has no streak: nothing more is
            -- read for it. Else its streak is the failures after its newest run that did (usually the run before),
            -- among its newest FAILURE_WINDOW runs: two more probes of runs_job_page.
            CASE WHEN l.status IS NULL OR l.status NOT IN ('failed', 'timed_out', 'running', 'queued') THEN 0 ELSE (
              SELECT (count(*) FILTER (WHERE recent.status IN ('failed', 'timed_out')))::int
              FROM (SELECT 1) AS one
              LEFT JOIN LATERAL (
                SELECT r.started_at, r.nominal_at, r.run_id FROM cron_worker.runs r
                WHERE r.job = j.job AND r.status NOT IN ('failed', 'timed_out', 'running', 'queued')
                ORDER BY r.started_at DESC, r.nominal_at DESC, r.run_id DESC LIMIT 1
              ) AS ok ON true
              CROSS JOIN LATERAL (
                SELECT r.status FROM cron_worker.runs r
                WHERE r.job = j.job AND (r.started_at, r.nominal_at, r.run_id) > (
                  COALESCE(ok.started_at, '-infinity'), COALESCE(ok.nominal_at, '-infinity'),
                  COALESCE(ok.run_id, '00000000-0000-0000-0000-000000000000'))
                ORDER BY r.started_at DESC, r.nominal_at DESC, r.run_id DESC LIMIT ${FAILURE_WINDOW}
              ) AS recent
            ) END AS failures
          FROM unnest(${jobs}::text[]) WITH ORDINALITY AS j (job, n)
          LEFT JOIN LATERAL (
            SELECT ${columns} FROM cron_worker.runs r WHERE r.job = j.job
            ORDER BY started_at DESC, nominal_at DESC, run_id DESC LIMIT 1
          ) AS l ON true
          ORDER BY j.n`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              job: row.wanted,
              last: row.run_id === null ? undefined : toRecord(row),
              consecutiveFailures: row.failures
            }))
          ),
          guard
        ),
      get: (runId) =>
        sql<DetailRow>`SELECT ${columns}, attempts, stack, trace_id FROM cron_worker.runs WHERE run_id = ${runId}`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toDetail)),
          guard
        ),
      history: (query = {}) => {
        const { after } = query
        const where = [
          ...(query.job === undefined ? [] : [sql`job = ${query.job}`]),
          ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
          ...(query.from === undefined ? [] : [sql`started_at >= ${query.from}`]),
          ...(query.to === undefined ? [] : [sql`started_at < ${query.to}`]),
          ...(after === undefined ? [] : [
            sql`(started_at, nominal_at, run_id) < (${after.startedAt}, ${after.nominalAt}, ${after.runId}::uuid)`
          ])
        ]
        return sql<Row>`
        SELECT ${columns} FROM cron_worker.runs
        ${where.length === 0 ? sql`` : sql`WHERE ${sql.and(where)}`}
        ORDER BY started_at DESC, nominal_at DESC, run_id DESC
        LIMIT ${query.limit ?? 100}`.pipe(Effect.map((rows) => rows.map(toRecord)), guard)
      },
      recent: (jobs, limit) =>
        jobs.length === 0 || limit <= 0
          ? Effect.succeed(new Map())
          // One statement for every job: per job, its newest runs read backwards along `runs_job_page`, only the
          // columns of the strip, one row per job with its runs as JSON (parsed natively, not field by field) and
          // slots as integer milliseconds (no date text to parse): the rows of 2,000 runs cost more than reading them.
          : sql<{ job: string; runs: ReadonlyArray<readonly [string, RunStatus, RunReason, number]> }>`
            SELECT j.job, r.runs FROM unnest(${jobs}::text[]) AS j (job)
            CROSS JOIN LATERAL (
              SELECT json_agg(json_build_array(x.run_id, x.status, x.reason, x.nominal_ms)
                ORDER BY x.started_at DESC, x.nominal_at DESC, x.run_id DESC) AS runs
              FROM (
                SELECT run_id, status, reason, started_at, nominal_at,
                  floor(extract(epoch FROM nominal_at) * 1000) AS nominal_ms
                FROM cron_worker.runs
                WHERE runs.job = j.job
                ORDER BY started_at DESC, nominal_at DESC, run_id DESC
                LIMIT ${limit}
              ) AS x
            ) AS r
            WHERE r.runs IS NOT NULL`.pipe(
            Effect.map((rows) =>
              new Map(rows.map(({ job, runs }) => [
                job,
                runs.map(([runId, status, reason, nominalMs]): RecentRecord => ({
                  runId,
                  job,
                  status,
                  nominalAt: new Date(nominalMs),
                  reason
                }))
              ]))
            ),
            guard
          ),
      pause: (job, reason, at, by, until) =>
        sql.withTransaction(Effect.gen(function*() {
          // A job already paused keeps its pause: who paused it, when, why and until when stay as they were. A pause
          // that has ended by itself is replaced.
          const paused = yield* sql<{ job: string }>`
            INSERT INTO cron_worker.jobs (job, paused, paused_reason, paused_at, paused_by, paused_until)
            VALUES (${job}, true, ${reason ?? null}, ${at}, ${by ?? null}, ${until ?? null})
            ON CONFLICT (job) DO UPDATE
              SET paused = true, paused_reason = excluded.paused_reason, paused_at = excluded.paused_at,
                paused_by = excluded.paused_by, paused_until = excluded.paused_until
              WHERE NOT (cron_worker.jobs.paused
                AND (cron_worker.jobs.paused_until IS NULL OR cron_worker.jobs.paused_until > ${at}))
            RETURNING job`
          if (paused.length > 0) return Option.none()
          const rows = yield* sql<PauseRow>`
            SELECT job, paused_reason, paused_at, paused_by, paused_until FROM cron_worker.jobs
            WHERE job = ${job} AND paused`
          return Option.map(Option.fromNullable(rows[0]), toPause)
        })).pipe(guard),
      resume: (job) =>
        sql<{ in_force: boolean }>`
          UPDATE cron_worker.jobs j SET paused = false, paused_reason = NULL, paused_at = NULL, paused_by = NULL,
            paused_until = NULL
          FROM (SELECT job, paused_until FROM cron_worker.jobs WHERE job = ${job} AND paused FOR UPDATE) AS before
          WHERE j.job = before.job
          RETURNING (before.paused_until IS NULL OR before.paused_until > now()) AS in_force`.pipe(
          Effect.map((rows) => rows.some((row) => row.in_force)),
          guard
        ),
      pauses: sql<PauseRow>`
      SELECT job, paused_reason, paused_at, paused_by, paused_until FROM cron_worker.jobs
      WHERE paused AND (paused_until IS NULL OR paused_until > now())
      ORDER BY job`.pipe(
        Effect.map((rows) => rows.map(toPause)),
        guard
      ),
      prune: (before) =>
        sql<{ deleted: number }>`
        WITH departed AS (
          -- Instances gone for longer than the retention: their rows say nothing any more.
          DELETE FROM cron_worker.instances WHERE beat_at < ${before}
        ), gone AS (
          DELETE FROM cron_worker.runs WHERE run_id IN (
            SELECT run_id FROM cron_worker.runs r
            WHERE r.started_at < ${before} AND r.status NOT IN ('running', 'queued')
              -- A job's newest slot stays, however old: catch-up after downtime counts from it.
              AND (r.reason IN ('manual', 'backfill') OR EXISTS (
                SELECT 1 FROM cron_worker.runs n WHERE n.job = r.job AND n.reason NOT IN ('manual', 'backfill')
                  AND n.nominal_at > r.nominal_at))
            LIMIT ${PRUNE_BATCH}
          ) RETURNING 1
        ) SELECT count(*)::int AS deleted FROM gone`.pipe(Effect.map((rows) => rows[0]?.deleted ?? 0), guard),
      audit: (change) =>
        sql`
        INSERT INTO cron_worker.audit (at, token, action, target, before, after)
        VALUES (${change.at}, ${change.token}, ${change.action}, ${change.target},
          ${change.before === undefined ? null : JSON.stringify(change.before)}::jsonb,
          ${change.after === undefined ? null : JSON.stringify(change.after)}::jsonb)`.pipe(Effect.asVoid, guard),
      changes: (limit) =>
        sql<{
          id: string
          at: Date
          token: string
          action: string
          target: string
          before: unknown
          after: unknown
        }>`
        SELECT id::text AS id, at, token, action, target, before, after FROM cron_worker.audit
        ORDER BY id DESC LIMIT ${limit}`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              id: Number(row.id),
              at: row.at,
              token: row.token,
              action: row.action,
              target: row.target,
              before: row.before ?? undefined,
              after: row.after ?? undefined
            }))
          ),
          guard
        )
    } satisfies RunStoreShape
  )
})

/** {@link make} as a layer. */
export const layer: Layer.Layer<RunStore, never, SqlClient.SqlClient> = Layer.scoped(RunStore, make)
