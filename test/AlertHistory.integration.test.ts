/**
 * `GET /api/alerts` on the real PostgreSQL (`cron_worker.alerts` of `14_alerts`), the alerts recorded by the
 * evaluator's own store (`Alerts/Evaluator.makePg`): active by default, resolved, all, one job's, newest `since` first,
 * a page of `limit`; the API served in this process (`test/fixtures/admin.ts`) on the suite's own database.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, Redacted } from "effect"
import * as PgAlertHistory from "../src/AlertHistory/Pg.js"
import type * as Alerts from "../src/Alerts.js"
import * as Evaluator from "../src/Alerts/Evaluator.js"
import * as Database from "../src/Database.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { adminLayer, client, get, VIEWER_TOKEN } from "./fixtures/admin.js"
import { servicesAvailable } from "./services.js"
import { suiteDatabase } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const T0 = Date.parse("2026-03-02T08:00:00Z")
const minutes = (n: number) => new Date(T0 + n * 60_000)

describe.skipIf(!available)("GET /api/alerts on PostgreSQL", () => {
  const db = suiteDatabase()
  const database = () =>
    Database.layer.pipe(
      Layer.provide(WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 4 })),
      Layer.provide(Logger.remove(Logger.defaultLogger))
    )
  const served = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.suspend(() =>
      effect.pipe(Effect.provide(adminLayer({ extra: PgAlertHistory.layer.pipe(Layer.provideMerge(database())) })))
    )

  const failing: Alerts.Alert = { rule: "consecutive_failures", job: "billing", detail: "3 failed runs in a row" }
  const overdue: Alerts.Alert = { rule: "overdue", job: "billing", detail: "no success for 900 s" }
  const lost: Alerts.Alert = { rule: "instance_lost", job: "", detail: "1 instances alive, 2 in the last 15m" }
  const missed: Alerts.Alert = { rule: "missed_slots", job: "report", detail: "2 slots missed in the last 15m" }

  it.live("active, resolved, all, by job, newest since first, limited; bad state is a 400", () =>
    served(Effect.gen(function*() {
      const store = yield* Evaluator.makePg
      // Fired and resolved in this order; `overdue` of billing fires again after it resolved.
      expect(yield* store.fire(missed, minutes(0))).toBe(true)
      expect(yield* store.fire(overdue, minutes(1))).toBe(true)
      expect(yield* store.fire(failing, minutes(2))).toBe(true)
      expect(yield* store.resolve(missed, minutes(3))).toBe(true)
      expect(yield* store.resolve(overdue, minutes(4))).toBe(true)
      expect(yield* store.fire(lost, minutes(5))).toBe(true)
      expect(yield* store.fire(overdue, minutes(6))).toBe(true)

      const api = yield* client(VIEWER_TOKEN)
      const seen = (alerts: ReadonlyArray<{ readonly rule: string; readonly since: Date }>) =>
        alerts.map((a) => `${a.rule}@${(a.since.getTime() - T0) / 60_000}`)
      const active = yield* api.alerts.list({ urlParams: {} })
      expect(seen(active)).toEqual(["overdue@6", "instance_lost@5", "consecutive_failures@2"])
      expect(active.every((a) => a.resolvedAt === undefined)).toBe(true)
      expect(active[1]).toMatchObject({ rule: "instance_lost", job: "", detail: lost.detail })
      expect(typeof active[1]?.id).toBe("number")

      const resolved = yield* api.alerts.list({ urlParams: { state: "resolved" } })
      expect(seen(resolved)).toEqual(["overdue@1", "missed_slots@0"])
      expect(resolved.map((a) => a.resolvedAt)).toEqual([minutes(4), minutes(3)])

      expect(seen(yield* api.alerts.list({ urlParams: { state: "all" } }))).toEqual([
        "overdue@6",
        "instance_lost@5",
        "consecutive_failures@2",
        "overdue@1",
        "missed_slots@0"
      ])
      expect(seen(yield* api.alerts.list({ urlParams: { state: "all", job: "billing" } }))).toEqual([
        "overdue@6",
        "consecutive_failures@2",
        "overdue@1"
      ])
      expect(seen(yield* api.alerts.list({ urlParams: { job: "billing" } }))).toEqual([
        "overdue@6",
        "consecutive_failures@2"
      ])
      expect(seen(yield* api.alerts.list({ urlParams: { state: "all", limit: 2 } }))).toEqual([
        "overdue@6",
        "instance_lost@5"
      ])
      // The worker's own rules are the job "".
      expect(seen(yield* api.alerts.list({ urlParams: { state: "all", job: "" } }))).toEqual(["instance_lost@5"])

      const bad = yield* get("/api/alerts?state=open")
      expect(bad.status).toBe(400)
      expect(JSON.stringify(bad.body)).toContain("state")
    })))
})
