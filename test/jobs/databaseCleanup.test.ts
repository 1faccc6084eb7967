import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { databaseCleanup } from "../../src/jobs/databaseCleanup.js"
import * as Demo from "../../src/jobs/seedDemo.js"
import * as RunStore from "../../src/RunStore.js"
import * as Worker from "../../src/Worker.js"
import { captureLogs } from "../utils.js"
import { eventually, jobsLayer } from "./fixtures.js"

// Seeded "now" is a Sunday evening; the job fires at 02:00 on Monday.
const SEEDED_AT = Date.parse("2026-06-07T20:00:00Z")

describe("database_cleanup", () => {
  const logs = captureLogs()
  it.layer(jobsLayer(logs, { cleanupBatchSize: 2 }), { timeout: "60 seconds" })((it) => {
    it.effect("at 02:00 deletes the expired categories nothing references, in batches, and keeps the rest", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* RunStore.RunStore
        yield* TestClock.setTime(SEEDED_AT)
        yield* Demo.seed
        yield* Worker.start([databaseCleanup])
        yield* TestClock.adjust("6 hours")
        const [record] = yield* eventually(
          Effect.map(store.history({ job: "database_cleanup" }), (h) => (h[0]?.status === "succeeded" ? h : undefined))
        )
        expect(record!.nominalAt.toISOString()).toBe("2026-06-08T02:00:00.000Z")
        const left = yield* sql<{ id: string }>`SELECT id FROM finance.categories`
        const ids = new Set(left.map((row) => row.id))
        for (const name of Demo.expectations.deletable) expect(ids.has(Demo.categoryId(name)), name).toBe(false)
        for (const name of [...Demo.expectations.kept, ...Demo.expectations.untouched]) {
          expect(ids.has(Demo.categoryId(name)), name).toBe(true)
        }
        expect(logs.withMessage("database cleanup completed")[0]?.fields).toMatchObject({
          categories_deleted: 3,
          categories_kept_referenced: 3,
          // 90 days before the slot
          cutoff_date: "2026-03-10T02:00:00.000Z"
        })
      }))
  })
})
