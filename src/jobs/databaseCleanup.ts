/**
 * `database_cleanup`, daily at 02:00: permanently deletes categories
 * soft-deleted more than `CLEANUP_RETENTION_DAYS` ago. Rows still referenced
 * (by budget or invoice items, or by a child category that stays) are kept
 * and counted, never a foreign-key failure. It works in batches of
 * `CLEANUP_BATCH_SIZE` rows, one short transaction each, and stops cleanly
 * between batches when interrupted.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect } from "effect"
import * as Job from "../Job.js"
import { WorkerConfig } from "../WorkerConfig.js"

const DAY = 86_400_000
/** A batch that loses a race with a new reference is retried this many times. */
const RACE_RETRIES = 3

const isForeignKeyViolation = (error: SqlError.SqlError) =>
  typeof error.cause === "object" && error.cause !== null && "code" in error.cause && error.cause.code === "23503"

/**
 * Deletes up to `size` expired categories that nothing references, children
 * before parents (a parent becomes deletable once its children are gone).
 */
const deleteBatch = (cutoff: Date, size: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const deleted = yield* sql<{ id: string }>`
      DELETE FROM finance.categories WHERE id IN (
        SELECT c.id FROM finance.categories c
        WHERE c.deleted_at IS NOT NULL AND c.deleted_at < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM finance.categories child WHERE child.parent_id = c.id)
          AND NOT EXISTS (SELECT 1 FROM finance.budget_items bi WHERE bi.category_id = c.id)
          AND NOT EXISTS (SELECT 1 FROM finance.invoice_items ii WHERE ii.category_id = c.id)
        ORDER BY c.deleted_at, c.id
        LIMIT ${size}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id`.pipe(sql.withTransaction)
    return deleted.length
  }).pipe(Effect.retry({ times: RACE_RETRIES, while: isForeignKeyViolation }))

export const databaseCleanup = Job.make({
  name: "database_cleanup",
  schedule: "0 2 * * *",
  description: "Deletes categories soft-deleted more than CLEANUP_RETENTION_DAYS ago; referenced ones are kept",
  run: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const config = yield* WorkerConfig
    const run = yield* Job.CurrentRun
    // From the slot's instant, not the clock: a retry or a re-run of the slot deletes the same rows.
    const cutoff = new Date(run.nominalAt.getTime() - config.cleanupRetentionDays * DAY)
    let deleted = 0
    const report = (message: string) =>
      Effect.gen(function*() {
        const [kept] = yield* sql<{ kept: number }>`
          SELECT count(*)::int AS kept FROM finance.categories c
          WHERE c.deleted_at IS NOT NULL AND c.deleted_at < ${cutoff}
            AND (EXISTS (SELECT 1 FROM finance.categories child WHERE child.parent_id = c.id)
              OR EXISTS (SELECT 1 FROM finance.budget_items bi WHERE bi.category_id = c.id)
              OR EXISTS (SELECT 1 FROM finance.invoice_items ii WHERE ii.category_id = c.id))`
        yield* Effect.logInfo(message).pipe(Effect.annotateLogs({
          categories_deleted: deleted,
          categories_kept_referenced: kept?.kept ?? 0,
          cutoff_date: cutoff.toISOString()
        }))
      })
    yield* Effect.gen(function*() {
      for (;;) {
        // A batch is short: letting it finish (and counting it) is what "stops cleanly between batches" means.
        const batch = yield* deleteBatch(cutoff, config.cleanupBatchSize).pipe(
          Effect.tap((count) => Effect.sync(() => (deleted += count))),
          Effect.uninterruptible
        )
        if (batch === 0) break
      }
      yield* report("database cleanup completed")
    }).pipe(Effect.onInterrupt(() => report("database cleanup interrupted between batches").pipe(Effect.orDie)))
  })
})
