/**
 * The worker's probes, for a supervisor (Kubernetes, Docker) to act on. Liveness (`/healthz`) asks only what a
 * restart would fix: the event loop answers and the scheduler's clock still runs; it never touches the database, so
 * an outage of PostgreSQL does not restart every worker at once. Readiness (`/readyz`, and `/health`, kept for
 * what already probes it) asks whether this worker does its work now: the database answers within
 * {@link DATABASE_BOUND}, its migrations are all applied, RabbitMQ has not refused it, and the scheduler has
 * started and is not shutting down. Each answer names every check and its state; a failing one is listed in
 * `failing`.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Context, Duration, Effect, Layer, Option, Schedule } from "effect"
import * as Migrations from "./Migrations.js"
import type * as OutboxRelay from "./OutboxRelay.js"
import { Scheduler } from "./Scheduler.js"

/** One check: whether it passes, its state in a word, and, when that is not enough, why. */
export interface Check {
  readonly ok: boolean
  readonly state: string
  readonly detail?: string
}

/** A probe's answer: 200 when every check passes, else 503 with the failing checks named. */
export interface Report {
  readonly code: 200 | 503
  readonly body: {
    readonly status: "ok" | "unavailable"
    readonly failing: ReadonlyArray<string>
    readonly checks: Readonly<Record<string, Check>>
  }
}

/** The answer of a probe made of `checks`. */
export const report = (checks: Readonly<Record<string, Check>>): Report => {
  const failing = Object.entries(checks).filter(([, check]) => !check.ok).map(([name]) => name)
  return {
    code: failing.length === 0 ? 200 : 503,
    body: { status: failing.length === 0 ? "ok" : "unavailable", failing, checks }
  }
}

/** What the scheduler says of itself (`Scheduler.status`). */
export interface SchedulerStatus {
  /** `start` has run: the jobs are in the clock. */
  readonly started: boolean
  /** Shutdown has begun: no run starts any more. */
  readonly stopping: boolean
  /** The clock's fiber is alive: if it died, no slot would ever fire again. */
  readonly clockRunning: boolean
}

/**
 * What the probes read of the parts built after the HTTP server: the scheduler (attached once it exists) and
 * whether shutdown has begun. The server is built early and closed late, so it answers through start-up and
 * shutdown, when these say "not ready".
 */
export interface ProbesShape {
  scheduler: Effect.Effect<SchedulerStatus> | undefined
  stopping: boolean
  /** When the heartbeat last ticked, in the runtime's clock's milliseconds (see {@link heartbeat}). */
  lastTick: number
}

export class Probes extends Context.Tag("cron-worker/Health/Probes")<Probes, ProbesShape>() {}

/** Fresh probes: no scheduler yet, the heartbeat counted from `now`. */
export const makeProbes = (now: number): ProbesShape => ({ scheduler: undefined, stopping: false, lastTick: now })

/** How often the heartbeat ticks. */
const HEARTBEAT = Duration.seconds(1)
/**
 * A heartbeat older than this fails liveness: the runtime's timers have not fired for that long although the
 * probe's request was served. Far above {@link HEARTBEAT}, so that a busy second never restarts a worker.
 */
export const HEARTBEAT_STALE = Duration.seconds(15)
/** How long readiness waits for the database. */
export const DATABASE_BOUND = Duration.seconds(2)

/** Ticks `probes.lastTick` every second, for the scope: the proof that the runtime's timers fire. */
export const heartbeat = (probes: ProbesShape) =>
  Effect.forkScoped(
    Effect.repeat(
      Effect.map(Clock.currentTimeMillis, (now) => {
        probes.lastTick = now
      }),
      Schedule.spaced(HEARTBEAT)
    )
  )

/** The heartbeat check at `now`. */
export const eventLoopCheck = (lastTick: number, now: number): Check => {
  const age = Math.max(0, now - lastTick)
  return age <= Duration.toMillis(HEARTBEAT_STALE)
    ? { ok: true, state: "ok" }
    : { ok: false, state: "stalled", detail: `no heartbeat for ${Math.round(age / 1000)} s` }
}

/**
 * The scheduler for liveness: alive while it starts, runs or stops; failing only when its clock has died outside a
 * shutdown, which no wait would mend.
 */
export const schedulerAlive = (status: SchedulerStatus | undefined): Check =>
  status === undefined
    ? { ok: true, state: "starting" }
    : status.stopping
    ? { ok: true, state: "stopping" }
    : status.clockRunning
    ? { ok: true, state: "running" }
    : { ok: false, state: "stopped", detail: "the scheduler's clock has stopped: no slot fires" }

/** The scheduler for readiness: started and not shutting down (`stopping` from the probes or the scheduler). */
export const schedulerReady = (status: SchedulerStatus | undefined, stopping: boolean): Check =>
  stopping || status?.stopping === true
    ? { ok: false, state: "stopping", detail: "the worker is shutting down" }
    : status === undefined || !status.started
    ? { ok: false, state: "starting", detail: "the scheduler has not started yet" }
    : status.clockRunning
    ? { ok: true, state: "started" }
    : { ok: false, state: "stopped", detail: "the scheduler's clock has stopped: no slot fires" }

/**
 * RabbitMQ for readiness. Not configured: the outbox is the configured path. Down or restarting: ready, since
 * messages wait in the outbox and the relay retries (a broker outage must not take every worker out of a rollout,
 * nor stop jobs that publish nothing). Refused (credentials, vhost): not ready, a configuration problem that only an
 * operator mends, which a rollout should stop at.
 */
export const rabbitmqCheck = (status: OutboxRelay.RelayStatus): Check => {
  const error = status.error === undefined ? {} : { detail: status.error }
  switch (status.status) {
    case "disabled":
      return { ok: true, state: "disabled", detail: "RABBITMQ_URL unset: outbox only, messages wait in it" }
    case "connecting":
    case "connected":
      return { ok: true, state: status.status }
    case "unavailable":
      return { ok: true, state: "unavailable", ...error }
    case "refused":
      return { ok: false, state: "refused", ...error }
  }
}

/** The ids of the worker's migrations, as the migrator records them (the number before the first `_`). */
export const workerMigrationIds: ReadonlyArray<number> = Object.keys(Migrations.migrations).map((key) =>
  Number(key.slice(0, key.indexOf("_")))
)

/** The migrations check, from the ids recorded in `cron_worker.migrations`. */
export const migrationsCheck = (recorded: ReadonlyArray<number>): Check => {
  const done = new Set(recorded)
  const missing = Object.keys(Migrations.migrations).filter((_, i) => !done.has(workerMigrationIds[i]!))
  return missing.length === 0
    ? { ok: true, state: "applied" }
    : { ok: false, state: "pending", detail: `not applied: ${missing.join(", ")}` }
}

const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "TimeoutException"
    ? `no answer within ${Duration.format(DATABASE_BOUND)}`
    : "the query failed"

/**
 * The database and its migrations, both within {@link DATABASE_BOUND}, side by side. Errors are described, not
 * quoted: a driver's message may carry the connection string.
 */
export const databaseChecks = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const bounded = <A, E>(effect: Effect.Effect<A, E>) => Effect.either(Effect.timeout(effect, DATABASE_BOUND))
  const [ping, recorded] = yield* Effect.all([
    bounded(sql`SELECT 1`),
    bounded(sql<{ readonly migration_id: number }>`SELECT migration_id FROM cron_worker.migrations`)
  ], { concurrency: 2 })
  const database: Check = ping._tag === "Right"
    ? { ok: true, state: "ok" }
    : { ok: false, state: "unreachable", detail: describeError(ping.left) }
  const migrations: Check = recorded._tag === "Right"
    ? migrationsCheck(recorded.right.map((row) => Number(row.migration_id)))
    : { ok: false, state: "unknown", detail: describeError(recorded.left) }
  return { database, migrations }
})

/** `/healthz`: no database, no broker; cheap enough to ask every few seconds. */
export const liveness = (probes: ProbesShape) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const scheduler = probes.scheduler === undefined ? undefined : yield* probes.scheduler
    return report({
      event_loop: eventLoopCheck(probes.lastTick, now),
      scheduler: schedulerAlive(scheduler)
    })
  })

/** `/readyz`: the database, its migrations, RabbitMQ, the scheduler; with the relay's status for `/health`. */
export const readiness = (probes: ProbesShape, relay: OutboxRelay.OutboxRelayShape) =>
  Effect.gen(function*() {
    const { database, migrations } = yield* databaseChecks
    const rabbitmq = yield* relay.status
    const scheduler = probes.scheduler === undefined ? undefined : yield* probes.scheduler
    return {
      report: report({
        database,
        migrations,
        rabbitmq: rabbitmqCheck(rabbitmq),
        scheduler: schedulerReady(scheduler, probes.stopping)
      }),
      rabbitmq
    }
  })

/**
 * Attaches the scheduler to the probes (when there are probes: with `HTTP_PORT`) for the scope. Built after the rest
 * of the worker, it is the first to close: shutdown has begun, and readiness fails at once, before the scheduler
 * drains its runs.
 */
export const attach: Layer.Layer<never, never, Scheduler> = Layer.scopedDiscard(Effect.gen(function*() {
  const probes = yield* Effect.serviceOption(Probes)
  if (Option.isNone(probes)) return
  const { status } = yield* Scheduler
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      probes.value.scheduler = status
      probes.value.stopping = false
    }),
    () =>
      Effect.sync(() => {
        probes.value.stopping = true
      })
  )
}))
