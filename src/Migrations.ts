/**
 * The database schema, as migrations compiled into the worker
 * (`PgMigrator.fromRecord`: no file is read at run time). The worker's own
 * tables live in the `cron_worker` schema; an application's tables come in
 * sets of its own ({@link AppMigrations}), as the example jobs' `finance`
 * schema does. Run at start-up and by `migrate`; several workers starting at
 * once are serialised by an advisory lock.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { Context, Effect } from "effect"

const workerSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE cron_worker.runs (
      run_id uuid PRIMARY KEY,
      job text NOT NULL,
      nominal_at timestamptz NOT NULL,
      reason text NOT NULL CHECK (reason IN ('scheduled', 'manual', 'catch-up')),
      status text NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'interrupted', 'skipped', 'abandoned')),
      skip_reason text,
      attempt integer NOT NULL DEFAULT 0,
      instance text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      duration_ms bigint,
      error text
    )`
  // One run per slot; manual runs share their job's instants freely.
  yield* sql`CREATE UNIQUE INDEX runs_slot ON cron_worker.runs (job, nominal_at) WHERE reason <> 'manual'`
  yield* sql`CREATE INDEX runs_job_started ON cron_worker.runs (job, started_at DESC)`
  yield* sql`CREATE INDEX runs_running ON cron_worker.runs (started_at) WHERE status = 'running'`
  yield* sql`
    CREATE TABLE cron_worker.outbox (
      id uuid PRIMARY KEY,
      seq bigserial NOT NULL UNIQUE,
      exchange text NOT NULL,
      routing_key text NOT NULL,
      payload bytea NOT NULL,
      content_type text NOT NULL,
      headers jsonb NOT NULL DEFAULT '{}',
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      job text,
      run_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz
    )`
  yield* sql`CREATE INDEX outbox_pending ON cron_worker.outbox (seq) WHERE status = 'pending'`
})

/**
 * Leases, cancellation requests, the queued state, the pause switches and the
 * `@every` anchors: several instances on one database.
 */
const distributed = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE cron_worker.runs ADD COLUMN lease_until timestamptz, ADD COLUMN cancel_requested text`
  yield* sql`ALTER TABLE cron_worker.runs DROP CONSTRAINT runs_status_check`
  yield* sql`
    ALTER TABLE cron_worker.runs ADD CONSTRAINT runs_status_check
      CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out',
        'interrupted', 'skipped', 'abandoned'))`
  yield* sql`DROP INDEX cron_worker.runs_running`
  yield* sql`CREATE INDEX runs_live ON cron_worker.runs (job) WHERE status IN ('running', 'queued')`
  yield* sql`CREATE INDEX runs_lease ON cron_worker.runs (lease_until) WHERE status IN ('running', 'queued')`
  yield* sql`CREATE INDEX runs_job_slot ON cron_worker.runs (job, nominal_at DESC)`
  // The outbox relay marks a batch `sending` (with a lease) instead of holding a transaction across broker I/O.
  yield* sql`ALTER TABLE cron_worker.outbox ADD COLUMN sender text, ADD COLUMN send_lease timestamptz`
  yield* sql`ALTER TABLE cron_worker.outbox DROP CONSTRAINT outbox_status_check`
  yield* sql`
    ALTER TABLE cron_worker.outbox ADD CONSTRAINT outbox_status_check
      CHECK (status IN ('pending', 'sending', 'delivered', 'failed'))`
  yield* sql`DROP INDEX cron_worker.outbox_pending`
  yield* sql`CREATE INDEX outbox_pending ON cron_worker.outbox (seq) WHERE status IN ('pending', 'sending')`
  yield* sql`
    CREATE TABLE cron_worker.jobs (
      job text PRIMARY KEY,
      paused boolean NOT NULL DEFAULT false,
      paused_reason text,
      paused_at timestamptz,
      anchor timestamptz
    )`
})

/** Indexes for the retention clean-up (by age) and for a job's newest slot (catch-up). */
const historyIndexes = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX runs_started ON cron_worker.runs (started_at) WHERE status NOT IN ('running', 'queued')`
  yield* sql`CREATE INDEX runs_last_slot ON cron_worker.runs (job, nominal_at DESC) WHERE reason <> 'manual'`
  yield* sql`CREATE INDEX outbox_delivered ON cron_worker.outbox (created_at) WHERE status = 'delivered'`
})

/** Who paused a job (`user@host` for the command line), shown by `jobs` and `pause`. */
const pausedBy = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE cron_worker.jobs ADD COLUMN paused_by text`
})

/**
 * Instance liveness and re-runs of abandoned slots: every instance beats in `instances` every second, so that the
 * runs of one that stopped beating are known abandoned within seconds rather than a lease; a slot may be run once
 * more, as a `rerun`, with its own unique key.
 */
const liveness = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE cron_worker.instances (
      instance text PRIMARY KEY,
      started_at timestamptz NOT NULL DEFAULT now(),
      beat_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`ALTER TABLE cron_worker.runs DROP CONSTRAINT runs_reason_check`
  yield* sql`
    ALTER TABLE cron_worker.runs ADD CONSTRAINT runs_reason_check
      CHECK (reason IN ('scheduled', 'manual', 'catch-up', 'rerun'))`
  yield* sql`ALTER TABLE cron_worker.runs ADD COLUMN rerun_of uuid`
  yield* sql`DROP INDEX cron_worker.runs_slot`
  yield* sql`
    CREATE UNIQUE INDEX runs_slot ON cron_worker.runs (job, nominal_at) WHERE reason NOT IN ('manual', 'rerun')`
  yield* sql`CREATE UNIQUE INDEX runs_rerun ON cron_worker.runs (job, nominal_at) WHERE reason = 'rerun'`
})

/** The abandoned runs not yet re-run, looked up every second by the instances that run `onAbandoned: "rerun"` jobs. */
const abandonedIndex = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE INDEX runs_abandoned ON cron_worker.runs (finished_at) WHERE status = 'abandoned' AND reason <> 'rerun'`
})

/**
 * Claims in one round trip: the claim's advisory locks and its insert run in one function call, its own implicit
 * transaction, so no lock is ever held while PostgreSQL waits for a busy client to send the next statement (a
 * `BEGIN`, lock, insert, `COMMIT` transaction did, and at 3 instances × 3,000 every-second jobs each instance's
 * claims queued behind the others' for seconds). The function's body is the claim of `RunStore/Pg.ts`.
 */
const claimFunction = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(CLAIM_FUNCTION)
})

/**
 * `cron_worker.claim(...)`: takes the advisory lock of each claimed job's bucket (in bucket order, so never a
 * deadlock; not for a slot already claimed, which the insert leaves out anyway), then, under a fresh snapshot that
 * sees what the previous holder committed, inserts the claims (a paused job's slot as skipped `paused`, a missed one
 * as skipped with its reason; a slot already claimed is left out) and returns, per row inserted, the job's live runs
 * on other instances. A static DDL text, no input. `backfill` (from `12_run_detail`): one more argument, the backfill
 * id of each claim, and backfill runs, like manual ones, are an operator's: not the schedule's slots, run when paused.
 * `versions` (from `13_schedules`): one more, the schedule's version of each claim (null for code jobs).
 */
const claimFunctionSql = (
  create: "CREATE" | "CREATE OR REPLACE",
  paused: string,
  { backfill = false, versions = false }: { readonly backfill?: boolean; readonly versions?: boolean } = {}
) => {
  const operators = backfill ? "('manual', 'backfill')" : "('manual')"
  const extra = [backfill ? "p_backfill_ids uuid[]" : "", versions ? "p_versions int[]" : ""].filter((x) => x !== "")
  const extraArrays = [backfill ? "p_backfill_ids" : "", versions ? "p_versions" : ""].filter((x) => x !== "")
  const extraColumns = [backfill ? "backfill_id" : "", versions ? "version" : ""].filter((x) => x !== "")
  const extraTargets = [backfill ? "backfill_id" : "", versions ? "schedule_version" : ""].filter((x) => x !== "")
  const list = (items: ReadonlyArray<string>, prefix = "") => items.map((item) => `, ${prefix}${item}`).join("")
  return `
${create} FUNCTION cron_worker.claim(
  p_run_ids uuid[], p_jobs text[], p_nominal_ats timestamptz[], p_reasons text[], p_instances text[],
  p_started_ats timestamptz[], p_lease_seconds float8[], p_missed text[], p_rerun_of uuid[], p_buckets int${list(extra)}
) RETURNS TABLE (
  claimed_run_id uuid, claimed_status text, claimed_skip_reason text, claimed_paused_reason text,
  claimed_running int, claimed_queued int
) LANGUAGE plpgsql VOLATILE AS $claim$
#variable_conflict use_column
DECLARE
  v_bucket int;
BEGIN
  -- A slot another instance has claimed already needs no lock: its insert is left out whatever happens meanwhile.
  FOR v_bucket IN
    SELECT DISTINCT mod(abs(hashtext(j.job)::bigint), p_buckets)::int
    FROM unnest(p_jobs, p_nominal_ats, p_reasons) AS j (job, nominal_at, reason)
    WHERE j.reason NOT IN ('scheduled', 'catch-up') OR NOT EXISTS (
      SELECT 1 FROM cron_worker.runs r
      WHERE r.job = j.job AND r.nominal_at = j.nominal_at AND r.reason NOT IN ('manual', 'rerun'${
    backfill ? ", 'backfill'" : ""
  }))
    ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(hashtext('cron_worker.claim'), v_bucket);
  END LOOP;
  RETURN QUERY
  WITH input AS (
    SELECT * FROM unnest(p_run_ids, p_jobs, p_nominal_ats, p_reasons, p_instances, p_started_ats, p_lease_seconds,
      p_missed, p_rerun_of${list(extraArrays)})
      AS i (run_id, job, nominal_at, reason, instance, started_at, lease_seconds, missed, rerun_of${list(extraColumns)})
  ), decided AS (
    SELECT i.*, CASE WHEN j.job IS NOT NULL THEN 'paused' ELSE i.missed END AS skip
    FROM input i LEFT JOIN cron_worker.jobs j ON j.job = i.job AND ${paused} AND i.reason ${
    backfill ? `NOT IN ${operators}` : "<> 'manual'"
  }
  ), inserted AS (
    INSERT INTO cron_worker.runs
      (run_id, job, nominal_at, reason, status, skip_reason, attempt, instance,
        started_at, finished_at, duration_ms, lease_until, rerun_of${list(extraTargets)})
    SELECT d.run_id, d.job, d.nominal_at, d.reason,
           CASE WHEN d.skip IS NULL THEN 'running' ELSE 'skipped' END,
           d.skip,
           0, d.instance, d.started_at,
           CASE WHEN d.skip IS NULL THEN NULL ELSE d.started_at END,
           CASE WHEN d.skip IS NULL THEN NULL ELSE 0 END,
           now() + make_interval(secs => d.lease_seconds),
           d.rerun_of${list(extraColumns, "d.")}
    FROM decided d
    ON CONFLICT DO NOTHING
    RETURNING run_id, job, instance, status, skip_reason
  )
  SELECT ins.run_id, ins.status, ins.skip_reason, j.paused_reason,
    (SELECT count(*) FROM cron_worker.runs r
      WHERE r.job = ins.job AND r.instance <> ins.instance AND r.status = 'running'
        AND r.lease_until > now())::int,
    (SELECT count(*) FROM cron_worker.runs r
      WHERE r.job = ins.job AND r.instance <> ins.instance AND r.status = 'queued'
        AND r.lease_until > now())::int
  FROM inserted ins LEFT JOIN cron_worker.jobs j ON j.job = ins.job;
END
$claim$`
}

/** The claim of `8_claim_function`: a paused job's slots are skipped until it is resumed. */
const CLAIM_FUNCTION = claimFunctionSql("CREATE", "j.paused")

/** The pause test of the claim since `10_pause_until`. */
const PAUSED_UNTIL = "j.paused AND (j.paused_until IS NULL OR i.nominal_at < j.paused_until)"

/**
 * A pause may end by itself: `paused_until` (none: until resumed). The claim skips a slot as paused when its nominal
 * instant is before the end of the pause, so a slot at the very end runs, on every instance alike.
 */
const pauseUntil = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE cron_worker.jobs ADD COLUMN paused_until timestamptz`
  yield* sql.unsafe(claimFunctionSql("CREATE OR REPLACE", PAUSED_UNTIL))
})

/** The audit trail of the admin API: who (which token) changed what, before and after. */
const audit = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE cron_worker.audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL,
      token text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      before jsonb,
      after jsonb
    )`
})

/**
 * History pages in the order they are read (newest start first, then slot, then run id), with or without a job and
 * a status: a page after a cursor is one index range, however many runs there are (1,000,000 and more).
 */
const historyPages = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX cron_worker.runs_job_started`
  yield* sql`CREATE INDEX runs_job_page ON cron_worker.runs (job, started_at, nominal_at, run_id)`
  yield* sql`CREATE INDEX runs_page ON cron_worker.runs (started_at, nominal_at, run_id)`
  // Filtered by status (the failures of a job, every failure): a status that is rare must not scan everything.
  yield* sql`CREATE INDEX runs_job_status_page ON cron_worker.runs (job, status, started_at, nominal_at, run_id)`
  yield* sql`CREATE INDEX runs_status_page ON cron_worker.runs (status, started_at, nominal_at, run_id)`
})

/**
 * Run detail and backfills (issue 12): a finished run keeps its failed attempts (`attempts`, JSON: attempt, at,
 * error), the stack of the error that ended it (masked as logs are) and its span's trace id; a run of a backfill
 * keeps the backfill's id. A backfill's slot runs once per backfill id (`runs_backfill`: a retried request claims
 * nothing twice), beside the slot's scheduled run and other backfills' (no longer in `runs_slot`). The claim takes
 * the backfill ids as one more argument: a new function beside the old one (an overload), which a worker of the
 * previous version keeps calling during a rolling deploy; it never claims a backfill.
 */
const runDetail = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE cron_worker.runs ADD COLUMN attempts jsonb, ADD COLUMN stack text, ADD COLUMN trace_id text,
      ADD COLUMN backfill_id uuid`
  yield* sql`ALTER TABLE cron_worker.runs DROP CONSTRAINT runs_reason_check`
  yield* sql`
    ALTER TABLE cron_worker.runs ADD CONSTRAINT runs_reason_check
      CHECK (reason IN ('scheduled', 'manual', 'catch-up', 'rerun', 'backfill'))`
  yield* sql`DROP INDEX cron_worker.runs_slot`
  yield* sql`
    CREATE UNIQUE INDEX runs_slot ON cron_worker.runs (job, nominal_at)
      WHERE reason NOT IN ('manual', 'rerun', 'backfill')`
  yield* sql`
    CREATE UNIQUE INDEX runs_backfill ON cron_worker.runs (backfill_id, job, nominal_at) WHERE reason = 'backfill'`
  yield* sql.unsafe(claimFunctionSql("CREATE", PAUSED_UNTIL, { backfill: true }))
})

/**
 * Schedules created at run time (`Schedules.ts`): one row per schedule, its definition (expression, zone, payload,
 * options, bounds, note) as JSON, its version (1, then one more per change), its runs left under a limit. A run of a
 * schedule records the schedule's version it ran under (`runs.schedule_version`), given by the claim.
 */
const schedules = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE cron_worker.schedules (
      id text PRIMARY KEY,
      key text UNIQUE,
      kind text NOT NULL,
      definition jsonb NOT NULL,
      version integer NOT NULL,
      remaining_runs integer,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX schedules_kind ON cron_worker.schedules (kind, id)`
  yield* sql`ALTER TABLE cron_worker.runs ADD COLUMN schedule_version integer`
  // The claim of `12_run_detail` gives way to one that takes the versions too (it never shipped on its own: the two
  // land together); that of `10_pause_until` stays for workers of the version before, during a rolling deploy.
  yield* sql`
    DROP FUNCTION cron_worker.claim(uuid[], text[], timestamptz[], text[], text[], timestamptz[], float8[], text[],
      uuid[], int, uuid[])`
  yield* sql.unsafe(claimFunctionSql("CREATE", PAUSED_UNTIL, { backfill: true, versions: true }))
})

/**
 * `14_alerts`: the built-in alerts (see `Alerts.ts`). `alerts` keeps each alert's firing (`since`) and resolution
 * (`resolved_at`), at most one unresolved per rule and job, so that every instance reports the same gauge and an
 * evaluator that takes over knows what already fired; `alert_evaluator` is the lease of the one instance that
 * evaluates; `webhooks` is the queue of `ALERT_WEBHOOK_URL`'s deliveries, written in the transaction that records
 * the transition, so that a receiver's outage (or the evaluator's death) loses none.
 */
const alerts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE cron_worker.alerts (
      id bigserial PRIMARY KEY,
      rule text NOT NULL,
      job text NOT NULL,
      since timestamptz NOT NULL,
      resolved_at timestamptz,
      detail text NOT NULL
    )`
  yield* sql`CREATE UNIQUE INDEX alerts_active ON cron_worker.alerts (rule, job) WHERE resolved_at IS NULL`
  yield* sql`
    CREATE TABLE cron_worker.alert_evaluator (
      id integer PRIMARY KEY CHECK (id = 1),
      instance text NOT NULL,
      until timestamptz NOT NULL
    )`
  yield* sql`
    CREATE TABLE cron_worker.webhooks (
      id bigserial PRIMARY KEY,
      body text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      next_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      last_error text
    )`
  yield* sql`CREATE INDEX webhooks_pending ON cron_worker.webhooks (id) WHERE delivered_at IS NULL`
})

/**
 * The worker's own migrations, in order. Never edit one that has shipped: add the next. The ids need not be
 * contiguous: `2_finance_schema` (the example app's tables) moved to the example app (`src/jobs/schema.ts`); a
 * database migrated before keeps its row and its tables.
 */
export const migrations = {
  "1_worker_schema": workerSchema,
  "3_distributed": distributed,
  "4_history_indexes": historyIndexes,
  "5_paused_by": pausedBy,
  "6_liveness": liveness,
  "7_abandoned_index": abandonedIndex,
  "8_claim_function": claimFunction,
  "9_audit": audit,
  "10_pause_until": pauseUntil,
  "11_history_pages": historyPages,
  "12_run_detail": runDetail,
  "13_schedules": schedules,
  "14_alerts": alerts
}

/**
 * A named set of migrations with its own record of what has run: the
 * worker's own (`cron_worker`), or an application's tables beside it.
 */
export interface Set {
  /** Names the set in logs and in its record table, `cron_worker.migrations_<name>`: letters, digits, `_`. */
  readonly name: string
  /** `<id>_<name>` → the migration; ids increase, gaps allowed. Never edit one that has shipped: add the next. */
  readonly migrations: Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>>
}

/** The worker's own set; its record is `cron_worker.migrations`. */
export const worker: Set = { name: "cron_worker", migrations }

/**
 * The sets of the application the worker runs, applied after the worker's
 * own, in order, at start-up and by `migrate`. `Cli.main({ migrations })`
 * provides them. Default: none.
 */
export class AppMigrations extends Context.Reference<AppMigrations>()("cron-worker/AppMigrations", {
  defaultValue: (): ReadonlyArray<Set> => []
}) {}

/** Where the migrator records what has run of `set`. */
const tableOf = (set: Set) => set === worker ? "cron_worker.migrations" : `cron_worker.migrations_${set.name}`

/** A lock id of our own for `pg_advisory_xact_lock`: "cron_wrk" in ASCII. */
const LOCK_ID = 0x63726f6e5f77726bn

/** A set's migration as `migrate` and the logs name it: `3_distributed`, `finance/1_schema`. */
const label = (set: Set, [id, name]: readonly [number, string]) =>
  set === worker ? `${id}_${name}` : `${set.name}/${id}_${name}`

/**
 * Creates the `cron_worker` schema and the set's record table (under an
 * advisory lock, so that concurrent first starts do not race), then applies
 * what is new. Returns the labels of the migrations applied now.
 */
const runSet = (set: Set) =>
  Effect.gen(function*() {
    if (!/^[a-z_][a-z0-9_]*$/.test(set.name)) {
      return yield* Effect.dieMessage(`migration set name ${JSON.stringify(set.name)}: expected [a-z_][a-z0-9_]*`)
    }
    const sql = yield* SqlClient.SqlClient
    const table = tableOf(set)
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${LOCK_ID.toString()}::bigint)`
      yield* sql`CREATE SCHEMA IF NOT EXISTS cron_worker`
      yield* sql`
        CREATE TABLE IF NOT EXISTS ${sql(table)} (
          migration_id integer PRIMARY KEY,
          created_at timestamptz NOT NULL DEFAULT now(),
          name text NOT NULL
        )`
    }))
    const applied = yield* PgMigrator.run({ loader: PgMigrator.fromRecord(set.migrations), table })
    return applied.map((migration) => label(set, migration))
  })

/** The worker's migrations, then the application's ({@link AppMigrations}). Returns what was applied now. */
export const run = Effect.gen(function*() {
  const sets = [worker, ...yield* AppMigrations]
  const applied: Array<string> = []
  for (const set of sets) applied.push(...yield* runSet(set))
  return applied
})
