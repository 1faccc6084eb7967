/**
 * The evaluator of the built-in alerts (`Alerts.ts`): every `Metrics.REFRESH_INTERVAL`, the one instance that holds
 * the evaluator's lease reads what the instances share, works out which alerts hold, and records each change in
 * `cron_worker.alerts` with one log line: ERROR `alert firing` when an alert starts, INFO `alert resolved` when it
 * ends. One instance only, so that an alert is logged once however many instances run; the lease lasts three
 * intervals, so that another instance takes over within that time when the evaluator dies (at once when it shuts
 * down: it gives the lease back). The table is what every instance reads for `cron_worker_alert_active`.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Clock, Duration, Effect, Layer, Option, Schedule, type Scope } from "effect"
import { hostname } from "node:os"
import * as Alerts from "../Alerts.js"
import * as Execution from "../Execution.js"
import * as Metrics from "../Metrics.js"
import * as SharedMetrics from "../Metrics/Shared.js"
import type { RunStore } from "../RunStore.js"
import type { ScheduleStore } from "../Schedules/Store.js"
import { WorkerConfig, type WorkerConfigShape } from "../WorkerConfig.js"
import * as Webhook from "./Webhook.js"

/** Where the alerts are recorded, and the lease of the one instance that evaluates them. */
export interface AlertStore {
  /** The alerts firing now. */
  readonly active: Effect.Effect<ReadonlyArray<Alerts.Recorded>>
  /**
   * Records `alert` as firing since `at`, and queues `webhook` (a body) in the same transaction; false when it
   * already was (another evaluator was first), and nothing is queued.
   */
  readonly fire: (alert: Alerts.Alert, at: Date, webhook?: string | undefined) => Effect.Effect<boolean>
  /** Records `alert` as resolved at `at`, and queues `webhook` with it; false when it already was. */
  readonly resolve: (alert: Alerts.Alert, at: Date, webhook?: string | undefined) => Effect.Effect<boolean>
  /** Webhook deliveries due at `now`, oldest first. */
  readonly due: (now: Date, limit: number) => Effect.Effect<ReadonlyArray<Webhook.Pending>>
  /** A delivery the receiver took. */
  readonly delivered: (id: string, at: Date) => Effect.Effect<void>
  /** A delivery that failed: its attempts so far, when to try again, and why it failed. */
  readonly failed: (id: string, attempts: number, next: Date, error: string) => Effect.Effect<void>
  /** Takes the evaluator's lease for `seconds`, or keeps it: true when `instance` holds it now. */
  readonly lead: (instance: string, seconds: number) => Effect.Effect<boolean>
  /** Deletes what no one reads any more: alerts resolved over 30 days ago, webhooks delivered over 7 days ago. */
  readonly prune: Effect.Effect<void>
  /** Gives the lease back, so that another instance takes over at its next evaluation. */
  readonly release: (instance: string) => Effect.Effect<void>
}

/** The store in the database that every instance shares (`14_alerts`). */
export const makePg = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  /** A transition, and its webhook queued in the same transaction when it took place. */
  const withWebhook = (
    transition: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>,
    at: Date,
    webhook?: string
  ) =>
    sql.withTransaction(Effect.gen(function*() {
      const changed = (yield* transition).length > 0
      if (changed && webhook !== undefined) {
        yield* sql`INSERT INTO cron_worker.webhooks (body, created_at, next_at) VALUES (${webhook}, ${at}, ${at})`
      }
      return changed
    })).pipe(Effect.orDie)
  const store: AlertStore = {
    active: sql<{ rule: Alerts.Rule; job: string; since: Date; detail: string }>`
      SELECT rule, job, since, detail FROM cron_worker.alerts WHERE resolved_at IS NULL`.pipe(Effect.orDie),
    fire: (alert, at, webhook) =>
      withWebhook(
        sql`
          INSERT INTO cron_worker.alerts (rule, job, since, detail) VALUES (${alert.rule}, ${alert.job}, ${at},
            ${alert.detail})
          ON CONFLICT (rule, job) WHERE resolved_at IS NULL DO NOTHING
          RETURNING id`,
        at,
        webhook
      ),
    resolve: (alert, at, webhook) =>
      withWebhook(
        sql`
          UPDATE cron_worker.alerts SET resolved_at = ${at}
          WHERE rule = ${alert.rule} AND job = ${alert.job} AND resolved_at IS NULL
          RETURNING id`,
        at,
        webhook
      ),
    due: (now, limit) =>
      sql<{ id: string; body: string; attempts: number }>`
        SELECT id::text AS id, body, attempts FROM cron_worker.webhooks
        WHERE delivered_at IS NULL AND next_at <= ${now}
        ORDER BY id LIMIT ${limit}`.pipe(Effect.orDie),
    delivered: (id, at) =>
      sql`UPDATE cron_worker.webhooks SET delivered_at = ${at}, attempts = attempts + 1 WHERE id = ${id}::bigint`.pipe(
        Effect.asVoid,
        Effect.orDie
      ),
    failed: (id, attempts, next, error) =>
      sql`
        UPDATE cron_worker.webhooks SET attempts = ${attempts}, next_at = ${next}, last_error = ${error}
        WHERE id = ${id}::bigint`.pipe(Effect.asVoid, Effect.orDie),
    lead: (instance, seconds) =>
      sql`
        INSERT INTO cron_worker.alert_evaluator (id, instance, until)
        VALUES (1, ${instance}, now() + make_interval(secs => ${seconds}))
        ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, until = excluded.until
        WHERE cron_worker.alert_evaluator.instance = excluded.instance OR cron_worker.alert_evaluator.until < now()
        RETURNING instance`.pipe(Effect.map((rows) => rows.length > 0), Effect.orDie),
    prune: Effect.zipRight(
      sql`DELETE FROM cron_worker.alerts WHERE resolved_at < now() - interval '30 days'`,
      sql`DELETE FROM cron_worker.webhooks WHERE delivered_at < now() - interval '7 days'`
    ).pipe(Effect.asVoid, Effect.orDie),
    release: (instance) =>
      sql`DELETE FROM cron_worker.alert_evaluator WHERE instance = ${instance}`.pipe(Effect.asVoid, Effect.orDie)
  }
  return store
})

/** A store of one process, for tests: its lease is always this process's. */
export const makeMemory = (): AlertStore & {
  readonly rows: Array<Alerts.Recorded & { resolvedAt?: Date }>
  readonly webhooks: Array<Webhook.Pending & { next: Date; delivered?: Date; error?: string }>
} => {
  const rows: Array<Alerts.Recorded & { resolvedAt?: Date }> = []
  const webhooks: Array<Webhook.Pending & { next: Date; delivered?: Date; error?: string }> = []
  const queue = (changed: boolean, at: Date, body: string | undefined) => {
    if (changed && body !== undefined) webhooks.push({ id: String(webhooks.length + 1), body, attempts: 0, next: at })
    return changed
  }
  const find = (id: string) => webhooks.find((w) => w.id === id)
  const open = (alert: Alerts.Alert) =>
    rows.find((row) => row.rule === alert.rule && row.job === alert.job && row.resolvedAt === undefined)
  return {
    rows,
    webhooks,
    active: Effect.sync(() => rows.filter((row) => row.resolvedAt === undefined)),
    fire: (alert, at, webhook) =>
      Effect.sync(() => queue(open(alert) === undefined && rows.push({ ...alert, since: at }) > 0, at, webhook)),
    resolve: (alert, at, webhook) =>
      Effect.sync(() => {
        const row = open(alert)
        if (row !== undefined) row.resolvedAt = at
        return queue(row !== undefined, at, webhook)
      }),
    due: (now, limit) =>
      Effect.sync(() =>
        webhooks.filter((w) => w.delivered === undefined && w.next.getTime() <= now.getTime()).slice(0, limit)
      ),
    delivered: (id, at) =>
      Effect.sync(() => {
        const w = find(id)
        if (w !== undefined) Object.assign(w, { delivered: at, attempts: w.attempts + 1 })
      }),
    failed: (id, attempts, next, error) =>
      Effect.sync(() => {
        const w = find(id)
        if (w !== undefined) Object.assign(w, { attempts, next, error })
      }),
    prune: Effect.void,
    lead: () => Effect.succeed(true),
    release: () => Effect.void
  }
}

/** How often the evaluator deletes old alerts and deliveries. */
const PRUNE_INTERVAL = Duration.hours(1)

/** What one evaluation reads, less what the evaluator knows itself. */
export type Reading = Omit<Alerts.Input, "now" | "startedAt" | "instancesBefore">

export interface Options {
  readonly store: AlertStore
  readonly read: Effect.Effect<Reading>
  readonly config: WorkerConfigShape
  /** This instance's name in the lease. */
  readonly instance: string
  /** Time between evaluations. Default `Metrics.REFRESH_INTERVAL`. */
  readonly interval?: Duration.Duration | undefined
}

/**
 * The evaluator: one evaluation per `interval` (the first at once), while this instance holds the lease. A failed
 * evaluation (the database unreachable) is logged, and the next one tries again.
 */
export const run = (options: Options): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const interval = options.interval ?? Metrics.REFRESH_INTERVAL
    const leaseSeconds = Duration.toSeconds(Duration.times(interval, 3))
    /** Instances alive per evaluation in the last `INSTANCE_WINDOW`, and when this instance began to evaluate. */
    let samples: Array<readonly [at: number, alive: number]> = []
    let startedAt: number | undefined
    let pruned = -Infinity
    const url = options.config.alertWebhookUrl
    /** The webhook's body of a transition, when there is a webhook. */
    const body = (alert: Alerts.Alert, state: Webhook.Payload["state"], since: Date, resolvedAt?: Date) =>
      Option.isNone(url) ? undefined : JSON.stringify(
        {
          rule: alert.rule,
          job: alert.job,
          state,
          since: since.toISOString(),
          resolvedAt: resolvedAt?.toISOString(),
          detail: alert.detail,
          service: options.config.serviceName
        } satisfies Webhook.Payload
      )
    /** Sends the deliveries due, oldest first; stops at the first failure, so that they arrive in order. */
    const deliver = (now: Date) =>
      Effect.gen(function*() {
        if (Option.isNone(url)) return
        for (const pending of yield* options.store.due(now, Webhook.BATCH)) {
          const sent = yield* Effect.either(Webhook.send(url.value, options.config.alertWebhookSecret, pending.body))
          if (sent._tag === "Right") {
            yield* options.store.delivered(pending.id, new Date(yield* Clock.currentTimeMillis))
            continue
          }
          const attempts = pending.attempts + 1
          const next = new Date((yield* Clock.currentTimeMillis) + Duration.toMillis(Webhook.backoff(attempts)))
          yield* options.store.failed(pending.id, attempts, next, sent.left)
          yield* Effect.logWarning("alert webhook not delivered: retried later").pipe(
            Effect.annotateLogs({ attempt: attempts, error: sent.left, next_attempt_at: next.toISOString() })
          )
          return
        }
      })
    const evaluate = Effect.gen(function*() {
      if (!(yield* options.store.lead(options.instance, leaseSeconds))) {
        startedAt = undefined
        samples = []
        return
      }
      const now = yield* Clock.currentTimeMillis
      if (startedAt === undefined) {
        startedAt = now
        yield* Effect.logInfo("alert evaluator started on this instance")
      }
      const reading = yield* options.read
      samples = samples.filter(([at]) => now - at < Duration.toMillis(Alerts.INSTANCE_WINDOW))
      samples.push([now, reading.instancesAlive])
      const instancesBefore = Math.max(...samples.map(([, alive]) => alive))
      const holding = Alerts.conditions(options.config, { ...reading, now, startedAt, instancesBefore })
      const { firing, resolved } = Alerts.diff(yield* options.store.active, holding)
      const at = new Date(now)
      for (const alert of firing) {
        if (!(yield* options.store.fire(alert, at, body(alert, "firing", at)))) continue
        yield* Effect.logError("alert firing").pipe(
          Effect.annotateLogs({ rule: alert.rule, job: alert.job, detail: alert.detail })
        )
      }
      for (const alert of resolved) {
        if (!(yield* options.store.resolve(alert, at, body(alert, "resolved", alert.since, at)))) continue
        yield* Effect.logInfo("alert resolved").pipe(
          Effect.annotateLogs({
            rule: alert.rule,
            job: alert.job,
            detail: alert.detail,
            since: alert.since.toISOString()
          })
        )
      }
      yield* deliver(at)
      if (now - pruned >= Duration.toMillis(PRUNE_INTERVAL)) {
        pruned = now
        yield* options.store.prune
      }
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logWarning("alerts not evaluated: the database failed").pipe(
          Effect.annotateLogs({ error: Execution.describe(defect) })
        )
      )
    )
    yield* Effect.addFinalizer(() => Effect.catchAllDefect(options.store.release(options.instance), () => Effect.void))
    yield* Effect.forkScoped(Effect.repeat(evaluate, Schedule.spaced(interval)))
  })

/** What the evaluator reads from the database: the shared values, plus recent missed slots and runs in flight. */
const readPg = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const shared = yield* SharedMetrics.read
  const missed = yield* sql<{ job: string; missed: number }>`
    SELECT job, count(*)::int AS missed FROM cron_worker.runs
    WHERE status = 'skipped' AND skip_reason IN ('missed', 'store_unavailable')
      AND started_at > now() - make_interval(secs => ${Duration.toSeconds(Alerts.MISSED_WINDOW)})
    GROUP BY job`
  const running = yield* sql<{ job: string; longest: number }>`
    SELECT job, (EXTRACT(EPOCH FROM now() - min(started_at)) * 1000)::float8 AS longest FROM cron_worker.runs
    WHERE status = 'running' GROUP BY job`
  const missedOf = new Map(missed.map((row) => [row.job, row.missed]))
  const longestOf = new Map(running.map((row) => [row.job, row.longest]))
  return {
    jobs: Metrics.scheduled().map((job): Alerts.JobInput => {
      const stats = shared.jobs.get(job.name)
      return {
        name: job.name,
        interval: job.interval,
        alerts: job.alerts,
        lastSuccess: stats?.lastSuccess,
        consecutiveFailures: stats?.consecutiveFailures ?? 0,
        missed: missedOf.get(job.name) ?? 0,
        longestRun: longestOf.get(job.name)
      }
    }),
    outboxOldestPendingAgeSeconds: shared.outboxOldestPendingAgeSeconds,
    instancesAlive: shared.instancesAlive
  } satisfies Reading
})

/** The evaluator on a fiber of the layer's scope, on the shared database; the first evaluation once jobs registered. */
export const layer: Layer.Layer<never, never, WorkerConfig | RunStore | ScheduleStore | SqlClient.SqlClient> = Layer
  .scopedDiscard(
    Effect.gen(function*() {
      const config = yield* WorkerConfig
      const context = yield* Effect.context<RunStore | ScheduleStore | SqlClient.SqlClient>()
      const store = yield* makePg
      const instance = Option.getOrElse(config.instanceId, () => `${hostname()}:${process.pid}`)
      const read = Effect.orDie(Effect.provide(readPg, context))
      // Start-up goes on after this layer is built: the first evaluation comes once the jobs are registered.
      yield* Effect.forkScoped(
        Effect.delay(Effect.scoped(Effect.zipRight(run({ store, read, config, instance }), Effect.never)), "2 seconds")
      )
    })
  )
