/**
 * The worker's own job, `cron_worker.maintenance`: enforces
 * `WORKER_HISTORY_RETENTION_DAYS` on the run history and on delivered outbox
 * messages, in bounded batches, every hour.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as Job from "./Job.js"
import { RunStore } from "./RunStore.js"
import { WorkerConfig } from "./WorkerConfig.js"

const DAY = 86_400_000
/** Delivered outbox rows deleted per statement. */
const OUTBOX_BATCH = 5000

export const maintenance = Job.make({
  name: "cron_worker.maintenance",
  // Off the hour, away from the jobs most teams schedule at :00.
  schedule: "23 * * * *",
  description: "Deletes run history and delivered outbox messages older than WORKER_HISTORY_RETENTION_DAYS",
  timeout: "10 minutes",
  run: Effect.gen(function*() {
    const config = yield* WorkerConfig
    if (config.historyRetentionDays === 0) return
    const store = yield* RunStore
    const sql = yield* SqlClient.SqlClient
    const run = yield* Job.CurrentRun
    const before = new Date(run.nominalAt.getTime() - config.historyRetentionDays * DAY)
    let runs = 0
    for (let batch = yield* store.prune(before); batch > 0; batch = yield* store.prune(before)) runs += batch
    let messages = 0
    for (;;) {
      const [deleted] = yield* sql<{ count: number }>`
        WITH gone AS (
          DELETE FROM cron_worker.outbox WHERE id IN (
            SELECT id FROM cron_worker.outbox WHERE status = 'delivered' AND created_at < ${before}
              LIMIT ${OUTBOX_BATCH}
          ) RETURNING 1
        ) SELECT count(*)::int AS count FROM gone`
      messages += deleted?.count ?? 0
      if ((deleted?.count ?? 0) < OUTBOX_BATCH) break
    }
    yield* Effect.logInfo("history pruned").pipe(
      Effect.annotateLogs({ runs_deleted: runs, outbox_deleted: messages, before: before.toISOString() })
    )
  })
})
