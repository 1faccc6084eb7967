/**
 * Migration `12_run_detail` on the real PostgreSQL: a finished run keeps its failed attempts, its stack and its
 * trace id, which `get` reads and the history leaves out; a backfill's slot is claimed once per backfill id, beside
 * the slot's scheduled run, and is not one of the schedule's slots (`lastSlots`), even when the job is paused; a run
 * is cancelled through the store for whichever instance renews its lease.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import type { RunReason } from "../src/Job.js"
import * as RunStore from "../src/RunStore.js"
import { servicesAvailable, unique } from "./services.js"
import { suiteDatabase, withPgStore } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const T0 = Date.parse("2026-03-02T08:00:00Z")

const claim = (
  job: string,
  nominal: number,
  options: { readonly reason?: RunReason; readonly backfillId?: string; readonly instance?: string } = {}
): RunStore.Claim => ({
  runId: randomUUID(),
  job,
  nominalAt: new Date(nominal),
  reason: options.reason ?? "scheduled",
  instance: options.instance ?? "instance-a",
  at: new Date(nominal),
  leaseSeconds: 30,
  backfillId: options.backfillId
})

describe.skipIf(!available)("run detail and backfills on PostgreSQL (12_run_detail)", () => {
  const db = suiteDatabase()
  const withStore = withPgStore(db)

  it.live("a finished run keeps its attempts, stack and trace id; get reads them, the history does not", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const c = claim(job, T0)
        yield* store.claim(c)
        const attempts = [
          { attempt: 1, at: new Date(T0 + 1000), error: "Boom: first" },
          { attempt: 2, at: new Date(T0 + 2000), error: "Boom: second" }
        ]
        const recorded = yield* store.finish(c.runId, {
          status: "failed",
          attempt: 2,
          at: new Date(T0 + 2500),
          error: "Boom: second",
          attempts,
          stack: "Error: Boom: second\n    at job (file.ts:1:1)",
          traceId: "0123456789abcdef0123456789abcdef"
        })
        expect(recorded).toBe(true)
        const run = Option.getOrThrow(yield* store.get(c.runId))
        expect(run).toMatchObject({
          status: "failed",
          attempts,
          stack: "Error: Boom: second\n    at job (file.ts:1:1)",
          traceId: "0123456789abcdef0123456789abcdef",
          instance: "instance-a"
        })
        const [listed] = yield* store.history({ job })
        expect(listed?.runId).toBe(c.runId)
        expect(listed?.attempts).toBeUndefined()
        // A run that succeeded at once has no attempts to show.
        const ok = claim(job, T0 + 60_000)
        yield* store.claim(ok)
        yield* store.finish(ok.runId, { status: "succeeded", attempt: 1, at: new Date(T0 + 61_000) })
        expect(Option.getOrThrow(yield* store.get(ok.runId))).toMatchObject({ attempts: undefined, stack: undefined })
      })
    ))

  it.live("a backfill slot: once per backfill id, beside the scheduled run, not the schedule's, run when paused", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const first = randomUUID()
        expect((yield* store.claim(claim(job, T0)))._tag).toBe("Claimed")
        expect((yield* store.claim(claim(job, T0, { reason: "backfill", backfillId: first })))._tag).toBe("Claimed")
        // The same backfill again (a retried request): taken.
        expect((yield* store.claim(claim(job, T0, { reason: "backfill", backfillId: first })))._tag).toBe("Taken")
        // Another backfill runs it again, even while the job is paused.
        yield* store.pause(job, "paused", new Date(T0 - 60_000))
        const again = claim(job, T0 + 3_600_000, { reason: "backfill", backfillId: randomUUID() })
        expect((yield* store.claim(again))._tag).toBe("Claimed")
        expect((yield* store.claim(claim(job, T0, { reason: "backfill", backfillId: randomUUID() })))._tag)
          .toBe("Claimed")
        const records = yield* store.history({ job })
        expect(records.filter((r) => r.reason === "backfill").map((r) => r.status)).toEqual([
          "running",
          "running",
          "running"
        ])
        expect(Option.getOrThrow(yield* store.get(again.runId)).backfillId).toBe(again.backfillId)
        // The newest slot of the schedule is the scheduled one, not the later backfill's.
        expect((yield* store.lastSlots([job])).get(job)).toEqual(new Date(T0))
        // A scheduled slot of a paused job is still skipped.
        expect((yield* store.claim(claim(job, T0 + 7_200_000)))._tag).toBe("Paused")
      })
    ))

  it.live("cancelRun: the renewing instance is told why; a run that is not live is not cancelled", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const c = claim(job, T0, { instance: "instance-b" })
        yield* store.claim(c)
        const other = claim(job, T0 + 60_000, { instance: "instance-b" })
        yield* store.claim(other)
        expect(yield* store.cancelRun(c.runId, "cancelled through the API (admin)")).toBe(true)
        // A second request keeps the first reason.
        expect(yield* store.cancelRun(c.runId, "another reason")).toBe(true)
        expect(yield* store.renew([c.runId, other.runId], 30)).toEqual([
          { runId: c.runId, error: "cancelled through the API (admin)" }
        ])
        yield* store.finish(c.runId, { status: "interrupted", attempt: 1, at: new Date(), error: "cancelled" })
        expect(yield* store.cancelRun(c.runId, "too late")).toBe(false)
        expect(yield* store.cancelRun(randomUUID(), "no such run")).toBe(false)
      })
    ))
})
