/**
 * `seed-demo`: data for the example jobs, modelled on the finance app. The
 * categories exercise every case of the clean-up: expired and unreferenced,
 * expired but referenced by a budget item, an invoice item or a live child,
 * an expired parent whose children are expired too, recently deleted, live.
 * Idempotent: ids are derived from names. A command of the example app,
 * added to the worker's command line by `main.ts` (`Cli.main({ commands })`).
 */
import { Command } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { Clock, Console, Effect } from "effect"
import * as Cli from "../Cli.js"
import { uuidFromName } from "./reportGenerator.js"

const DAY = 86_400_000
const id = (name: string) => uuidFromName(`demo/${name}`)

/** What `seed` creates, for tests and for the summary line. */
export const expectations = {
  /** Deleted by a clean-up with the default 90-day retention. */
  deletable: ["old-unused", "old-parent", "old-child-of-old-parent"],
  /** Expired but still referenced: kept. */
  kept: ["old-in-budget", "old-in-invoice", "old-parent-of-live"],
  /** Not expired, or not deleted at all. */
  untouched: ["recent-deleted", "live", "live-child-of-old"]
} as const

export const seed = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const now = yield* Clock.currentTimeMillis
  const daysAgo = (days: number) => new Date(now - days * DAY)
  const user = id("user/ana")
  yield* Effect.gen(function*() {
    yield* sql`INSERT INTO finance.users (id, name, email) VALUES
      (${user}, 'Ana', 'ana@example.com'),
      (${id("user/bruno")}, 'Bruno', 'bruno@example.com'),
      (${id("user/carla")}, 'Carla', 'carla@example.com')
      ON CONFLICT (id) DO NOTHING`
    yield* sql`UPDATE finance.users SET deleted_at = ${daysAgo(10)} WHERE id = ${id("user/carla")}`
    const category = (name: string, deletedDaysAgo: number | null, parent: string | null = null) =>
      sql`INSERT INTO finance.categories (id, user_id, parent_id, name, deleted_at)
          VALUES (${id(name)}, ${user}, ${parent === null ? null : id(parent)}, ${name},
                  ${deletedDaysAgo === null ? null : daysAgo(deletedDaysAgo)})
          ON CONFLICT (id) DO NOTHING`
    yield* category("live", null)
    yield* category("recent-deleted", 10)
    yield* category("old-unused", 200)
    yield* category("old-in-budget", 200)
    yield* category("old-in-invoice", 200)
    yield* category("old-parent", 200)
    yield* category("old-child-of-old-parent", 150, "old-parent")
    yield* category("old-parent-of-live", 200)
    yield* category("live-child-of-old", null, "old-parent-of-live")
    yield* sql`INSERT INTO finance.budgets (id, user_id, date, amount_goal) VALUES
      (${id("budget/current")}, ${user}, ${daysAgo(5)}, 5000),
      (${id("budget/deleted")}, ${user}, ${daysAgo(400)}, 3000)
      ON CONFLICT (id) DO NOTHING`
    yield* sql`UPDATE finance.budgets SET deleted_at = ${daysAgo(300)} WHERE id = ${id("budget/deleted")}`
    yield* sql`INSERT INTO finance.budget_items (id, budget_id, category_id, percentage_goal, amount_goal) VALUES
      (${id("budget-item/1")}, ${id("budget/current")}, ${id("old-in-budget")}, 10, 500)
      ON CONFLICT (id) DO NOTHING`
    yield* sql`INSERT INTO finance.invoices (id, user_id, reference_month, due_date, total_amount) VALUES
      (${id("invoice/1")}, ${user}, ${daysAgo(30)}, ${daysAgo(20)}, 120.50),
      (${id("invoice/2")}, ${user}, ${daysAgo(1)}, ${daysAgo(-10)}, 80)
      ON CONFLICT (id) DO NOTHING`
    yield* sql`INSERT INTO finance.invoice_items (id, invoice_id, category_id,
      purchase_date, description, total_amount) VALUES
      (${id("invoice-item/1")}, ${id("invoice/1")}, ${id("old-in-invoice")}, ${daysAgo(35)}, 'groceries', 120.50)
      ON CONFLICT (id) DO NOTHING`
  }).pipe(sql.withTransaction)
  yield* Effect.logInfo("demo data seeded").pipe(Effect.annotateLogs({
    categories: 9,
    deletable_by_cleanup: expectations.deletable.length,
    kept_referenced: expectations.kept.length
  }))
})

/** The id of a demo category, by name. */
export const categoryId = id

/** `seed-demo`: {@link seed} on the worker's database (migrated first), and one line saying what it wrote. */
export const seedDemoCommand = Command.make("seed-demo", {}, () =>
  Effect.gen(function*() {
    yield* Cli.withDatabase("seed-demo", seed)
    yield* Console.log(
      `demo data seeded: ${expectations.deletable.length} categories for the clean-up to delete, ` +
        `${expectations.kept.length} expired but still referenced`
    )
  })).pipe(Command.withDescription("Fill the demo schema with data that exercises the example jobs"))
