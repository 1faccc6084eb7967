/**
 * The example app's tables, modelled on the finance app, in the `finance`
 * schema: a migration set of its own (`Migrations.Set`), applied after the
 * worker's at start-up and by `migrate` because `main.ts` passes it to
 * `Cli.main({ migrations })`.
 *
 * Databases migrated by an earlier worker already have these tables (they
 * were the worker's migration `2_finance_schema`): every statement is
 * `IF NOT EXISTS`, so this set only records itself there and keeps their rows.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type * as Migrations from "../Migrations.js"

const financeSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS finance`
  yield* sql`
    CREATE TABLE IF NOT EXISTS finance.users (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      email text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS finance.categories (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES finance.users (id),
      parent_id uuid REFERENCES finance.categories (id),
      name text NOT NULL,
      sequence integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz,
      deleted_at timestamptz
    )`
  yield* sql`CREATE INDEX IF NOT EXISTS categories_parent ON finance.categories (parent_id)`
  yield* sql`
    CREATE INDEX IF NOT EXISTS categories_deleted ON finance.categories (deleted_at) WHERE deleted_at IS NOT NULL`
  yield* sql`
    CREATE TABLE IF NOT EXISTS finance.budgets (
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
    CREATE TABLE IF NOT EXISTS finance.budget_items (
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
  yield* sql`CREATE INDEX IF NOT EXISTS budget_items_category ON finance.budget_items (category_id)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS finance.invoices (
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
    CREATE TABLE IF NOT EXISTS finance.invoice_items (
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
  yield* sql`CREATE INDEX IF NOT EXISTS invoice_items_category ON finance.invoice_items (category_id)`
})

/** The example app's migration set, recorded in `cron_worker.migrations_finance`. */
export const migrations: Migrations.Set = {
  name: "finance",
  migrations: { "1_schema": financeSchema }
}
