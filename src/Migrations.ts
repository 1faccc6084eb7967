/**
 * The database schema, as migrations compiled into the worker
 * (`PgMigrator.fromRecord`: no file is read at run time). The worker's own
 * tables live in the `cron_worker` schema; the example jobs' tables, modelled
 * on the finance app, in `finance`. Run at start-up and by `migrate`;
 * several workers starting at once are serialised by an advisory lock.
 */
import { SqlClient } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { Effect } from "effect"

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

const financeSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS finance`
  yield* sql`
    CREATE TABLE finance.users (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      email text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`
    CREATE TABLE finance.categories (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES finance.users (id),
      parent_id uuid REFERENCES finance.categories (id),
      name text NOT NULL,
      sequence integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`CREATE INDEX categories_parent ON finance.categories (parent_id)`
  yield* sql`CREATE INDEX categories_deleted ON finance.categories (deleted_at) WHERE deleted_at IS NOT NULL`
  yield* sql`
    CREATE TABLE finance.budgets (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES finance.users (id),
      date date NOT NULL,
      amount_goal numeric(14, 2) NOT NULL DEFAULT 0,
      amount_used numeric(14, 2) NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`
    CREATE TABLE finance.budget_items (
      id uuid PRIMARY KEY,
      budget_id uuid NOT NULL REFERENCES finance.budgets (id),
      category_id uuid NOT NULL REFERENCES finance.categories (id) ON DELETE RESTRICT,
      percentage_goal numeric(5, 2) NOT NULL DEFAULT 0,
      amount_goal numeric(14, 2) NOT NULL DEFAULT 0,
      amount_used numeric(14, 2) NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`CREATE INDEX budget_items_category ON finance.budget_items (category_id)`
  yield* sql`
    CREATE TABLE finance.invoices (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES finance.users (id),
      reference_month date NOT NULL,
      due_date date NOT NULL,
      total_amount numeric(14, 2) NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`
    CREATE TABLE finance.invoice_items (
      id uuid PRIMARY KEY,
      invoice_id uuid NOT NULL REFERENCES finance.invoices (id),
      category_id uuid NOT NULL REFERENCES finance.categories (id) ON DELETE RESTRICT,
      purchase_date date NOT NULL,
      description text NOT NULL,
      total_amount numeric(14, 2) NOT NULL DEFAULT 0,
      installment_number integer NOT NULL DEFAULT 1,
      installment_total integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`CREATE INDEX invoice_items_category ON finance.invoice_items (category_id)`
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

/** Every migration, in order. Never edit one that has shipped: add the next. */
export const migrations = {
  "1_worker_schema": workerSchema,
  "2_finance_schema": financeSchema,
  "3_distributed": distributed,
  "4_history_indexes": historyIndexes,
  "5_paused_by": pausedBy,
  "6_liveness": liveness
}

/** Where the migrator records what has run. */
const TABLE = "cron_worker.migrations"

/** A lock id of our own for `pg_advisory_xact_lock`: "cron_wrk" in ASCII. */
const LOCK_ID = 0x63726f6e5f77726bn

/**
 * Creates the `cron_worker` schema and the migrations table (under an advisory
 * lock, so that concurrent first starts do not race), then applies what is new.
 * Returns the migrations applied now.
 */
export const run = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(${LOCK_ID.toString()}::bigint)`
    yield* sql`CREATE SCHEMA IF NOT EXISTS cron_worker`
    yield* sql`
      CREATE TABLE IF NOT EXISTS ${sql(TABLE)} (
        migration_id integer PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        name text NOT NULL
      )`
  }))
  return yield* PgMigrator.run({ loader: PgMigrator.fromRecord(migrations), table: TABLE })
})
