/**
 * The alert evaluator on one PostgreSQL shared by two instances: only the lease holder evaluates, records and logs;
 * when it shuts down (it gives the lease back) or dies (its lease runs out) the other takes over, and an alert
 * already recorded is not fired again.
 */
import { SqlClient } from "@effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Logger, Option, Redacted, Scope } from "effect"
import { createServer } from "node:http"
import * as Evaluator from "../src/Alerts/Evaluator.js"
import * as Database from "../src/Database.js"
import * as SharedMetrics from "../src/Metrics/Shared.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { servicesAvailable } from "./services.js"
import { captureLogs, suiteDatabase, waitUntil } from "./utils.js"

const available = await servicesAvailable(["postgres"])

describe.skipIf(!available)("alert evaluator on PostgreSQL", () => {
  const db = suiteDatabase()
  // The lease lasts 3 intervals: long enough that a holder's renewal (a round trip, an evaluation) never misses it
  // on a loaded machine, and that C's first try comes before B's lease has run out.
  const INTERVAL = Duration.millis(500)

  const withDb = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    effect.pipe(
      Effect.provide(
        Database.layer.pipe(
          Layer.provide(
            WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 4 })
          ),
          Layer.provide(Logger.remove(Logger.defaultLogger))
        )
      )
    )

  /** Requests of the webhook receiver the suite owns, by path; it answers 204. */
  const hooks: Array<string> = []
  let hookUrl = ""
  const server = createServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => (body += chunk))
    request.on("end", () => {
      hooks.push(`${request.headers["x-cron-worker-signature"] === undefined ? "unsigned" : "signed"} ${body}`)
      response.writeHead(204).end()
    })
  })
  beforeAll(() =>
    new Promise<void>((listening) =>
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        hookUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`
        listening()
      })
    )
  )
  afterAll(() => new Promise<void>((closed) => server.close(() => closed())))

  /** An instance's evaluator, counting its reads: the outbox is always stale. Every instance has the webhook. */
  const start = (instance: string, store: Evaluator.AlertStore, logs: ReturnType<typeof captureLogs>) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const reads = { count: 0 }
      const read = Effect.sync((): Evaluator.Reading => {
        reads.count++
        return { jobs: [], outboxOldestPendingAgeSeconds: 3600, instancesAlive: 1 }
      })
      const config = {
        ...WorkerConfig.defaults,
        alertWebhookUrl: Option.some(Redacted.make(hookUrl)),
        alertWebhookSecret: Option.some(Redacted.make("webhook-secret-0123456789"))
      }
      yield* Evaluator.run({ store, read, config, instance, interval: INTERVAL }).pipe(
        Scope.extend(scope),
        Effect.provide(logs.layer)
      )
      return { reads, close: Scope.close(scope, Exit.void) }
    })

  const rows = Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ rule: string; resolved: boolean }>`
      SELECT rule, resolved_at IS NOT NULL AS resolved FROM cron_worker.alerts ORDER BY id`
  )

  it.live("one instance evaluates; the other takes over when it shuts down, then when it dies", () =>
    withDb(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* Evaluator.makePg
        const logsA = captureLogs()
        const logsB = captureLogs()
        const logsC = captureLogs()
        const a = yield* start("a", store, logsA)
        yield* Effect.sleep("100 millis")
        // B is killed later: its store never gives the lease back.
        const b = yield* start("b", { ...store, release: () => Effect.void }, logsB)
        yield* waitUntil("A has evaluated 4 times", Effect.sync(() => a.reads.count > 3))

        expect(b.reads.count).toBe(0)
        expect(logsA.withMessage("alert firing").map((e) => e.fields.rule)).toEqual(["outbox_stale"])
        expect(yield* rows).toEqual([{ rule: "outbox_stale", resolved: false }])

        // A shuts down: it gives the lease back, B evaluates at its next turn and fires nothing new.
        yield* a.close
        // A second reading: B's first evaluation (and whatever it fired) is over.
        yield* waitUntil("B has evaluated", Effect.sync(() => b.reads.count > 1))
        expect(logsB.withMessage("alert evaluator started on this instance")).toHaveLength(1)
        expect(logsB.withMessage("alert firing")).toHaveLength(0)
        expect(yield* rows).toEqual([{ rule: "outbox_stale", resolved: false }])

        // B dies (it never gives the lease back): C waits for the lease to run out (3 intervals), then takes over.
        yield* b.close
        const [owner] = yield* sql<{ instance: string }>`SELECT instance FROM cron_worker.alert_evaluator`
        expect(owner?.instance).toBe("b")
        const c = yield* start("c", store, logsC)
        yield* Effect.sleep("150 millis")
        expect(c.reads.count).toBe(0)
        yield* waitUntil("C has evaluated", Effect.sync(() => c.reads.count > 1))
        expect(logsC.withMessage("alert firing")).toHaveLength(0)
        yield* c.close
        expect(yield* sql`SELECT instance FROM cron_worker.alert_evaluator`).toEqual([])
        // Sent once, by the first evaluator, signed: neither successor sent it again.
        expect(hooks.map((hook) => hook.replace(/"since":"[^"]*"/, "\"since\":…"))).toEqual([
          "signed {\"rule\":\"outbox_stale\",\"job\":\"\",\"state\":\"firing\",\"since\":…," +
          "\"detail\":\"oldest pending message is 3600 s old (limit 600 s)\",\"service\":\"cron-worker\"}"
        ])
      }).pipe(Effect.scoped)
    ))

  it.live("recorded transitions: one open row per rule and job; the gauge reads 1 while firing, then 0", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DELETE FROM cron_worker.alerts`
      const store = yield* Evaluator.makePg
      const alert = { rule: "consecutive_failures", job: "report", detail: "3 failed runs in a row (limit 3)" } as const
      const at = new Date("2026-03-02T08:00:00Z")
      expect(yield* store.fire(alert, at)).toBe(true)
      expect(yield* store.fire(alert, at)).toBe(false)
      expect(yield* store.active).toEqual([{ ...alert, since: at }])
      expect(yield* SharedMetrics.readAlerts).toEqual([{ rule: "consecutive_failures", job: "report", active: true }])
      expect(yield* store.resolve(alert, new Date())).toBe(true)
      expect(yield* store.resolve(alert, new Date())).toBe(false)
      expect(yield* store.active).toEqual([])
      expect(yield* SharedMetrics.readAlerts).toEqual([{ rule: "consecutive_failures", job: "report", active: false }])
      // It fires again: a new row, the gauge back to 1.
      expect(yield* store.fire(alert, new Date())).toBe(true)
      expect(yield* SharedMetrics.readAlerts).toEqual([{ rule: "consecutive_failures", job: "report", active: true }])
    })))

  it.live("a transition's webhook is queued with it, and only when the transition took place", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DELETE FROM cron_worker.alerts`
      yield* sql`DELETE FROM cron_worker.webhooks`
      const store = yield* Evaluator.makePg
      const alert = { rule: "outbox_stale", job: "", detail: "old" } as const
      const at = new Date("2026-03-02T08:00:00Z")
      expect(yield* store.fire(alert, at, "{\"state\":\"firing\"}")).toBe(true)
      // Already firing (another evaluator was first): nothing queued.
      expect(yield* store.fire(alert, at, "{\"state\":\"again\"}")).toBe(false)
      expect(yield* store.resolve(alert, at, "{\"state\":\"resolved\"}")).toBe(true)
      expect(yield* store.resolve(alert, at, "{\"state\":\"twice\"}")).toBe(false)
      const due = yield* store.due(at, 10)
      expect(due.map((w) => [w.body, w.attempts])).toEqual([
        ["{\"state\":\"firing\"}", 0],
        ["{\"state\":\"resolved\"}", 0]
      ])
      // The first fails: not due until its next attempt; the second is delivered: never due again.
      yield* store.failed(due[0]!.id, 1, new Date(at.getTime() + 5000), "HTTP status 500")
      yield* store.delivered(due[1]!.id, at)
      expect(yield* store.due(at, 10)).toEqual([])
      expect((yield* store.due(new Date(at.getTime() + 5000), 10)).map((w) => [w.body, w.attempts])).toEqual([
        ["{\"state\":\"firing\"}", 1]
      ])
      // A transition whose webhook cannot be queued (a null body breaks NOT NULL) is not recorded either.
      const exit = yield* Effect.exit(store.fire({ ...alert, job: "x" }, at, null as unknown as string))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* sql`SELECT id FROM cron_worker.alerts WHERE job = 'x'`).toEqual([])
      // Pruned: the delivery and the alert, both older than kept; the pending delivery stays.
      yield* sql`
        UPDATE cron_worker.webhooks SET delivered_at = now() - interval '8 days' WHERE delivered_at IS NOT NULL`
      yield* sql`UPDATE cron_worker.alerts SET resolved_at = now() - interval '31 days'`
      yield* store.prune
      expect(yield* sql`SELECT body FROM cron_worker.webhooks`).toEqual([{ body: "{\"state\":\"firing\"}" }])
      expect(yield* sql`SELECT id FROM cron_worker.alerts`).toEqual([])
    })))
})
