/**
 * The shared values of `/metrics` (see `Metrics.ts`), read from the database every `Metrics.REFRESH_INTERVAL` by one
 * fiber of the worker's scope: each job's last success and failure and its failures in a row (the run store), the
 * instances alive, the outbox's backlog, the schedules by kind, the alerts recorded by `Alerts/Evaluator.ts`. Only
 * where metrics are served (`HTTP_PORT`).
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import * as Metrics from "../Metrics.js"
import { RunStore } from "../RunStore.js"
import { ScheduleStore } from "../Schedules/Store.js"
import { WorkerConfig } from "../WorkerConfig.js"

/**
 * The alerts of `cron_worker_alert_active`: the newest row of each rule and job, active while unresolved, then
 * reported as 0 for a week after it resolved (so that a scrape sees it end).
 */
export const readAlerts = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ rule: string; job: string; active: boolean }>`
    SELECT DISTINCT ON (rule, job) rule, job, resolved_at IS NULL AS active FROM cron_worker.alerts
    WHERE resolved_at IS NULL OR resolved_at > now() - interval '7 days'
    ORDER BY rule, job, since DESC`
)

/** Reads what the instances share, once. */
export const read = Effect.gen(function*() {
  const store = yield* RunStore
  const schedules = yield* ScheduleStore
  const sql = yield* SqlClient.SqlClient
  const jobs = Metrics.scheduled().map((job) => job.name)
  const stats = yield* store.stats(jobs)
  const [outbox] = yield* sql<{ pending: number; oldest: number | null }>`
    SELECT count(*)::int AS pending, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
    FROM cron_worker.outbox WHERE status IN ('pending', 'sending')`
  return {
    alerts: yield* readAlerts,
    jobs: new Map(stats.map((s) => [s.job, s])),
    instancesAlive: yield* store.instancesAlive,
    outboxPending: outbox?.pending ?? 0,
    outboxOldestPendingAgeSeconds: Math.max(0, outbox?.oldest ?? 0),
    schedulesByKind: yield* schedules.countByKind
  } satisfies Metrics.Shared
})

/** The refresher on a fiber of the layer's scope, when `/metrics` is served. */
export const layer: Layer.Layer<never, never, WorkerConfig | RunStore | ScheduleStore | SqlClient.SqlClient> = Layer
  .scopedDiscard(
    Effect.gen(function*() {
      const config = yield* WorkerConfig
      if (Option.isNone(config.httpPort)) return
      const context = yield* Effect.context<RunStore | ScheduleStore | SqlClient.SqlClient>()
      // The first read once the jobs have been registered (start-up goes on after this layer is built).
      yield* Effect.forkScoped(Effect.delay(Metrics.refresher(Effect.provide(read, context)), "2 seconds"))
    })
  )
