/**
 * Pauses on `PgRunStore.layer`: who paused a job is stored (migration
 * `5_paused_by`), and pausing a paused job changes nothing and returns the
 * pause in force, also when two pauses race.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { servicesAvailable, unique } from "./services.js"
import { suiteDatabase, withPgStore } from "./utils.js"

const available = await servicesAvailable(["postgres"])

describe.skipIf(!available)("pauses on PostgreSQL", () => {
  const db = suiteDatabase()

  const withStore = withPgStore(db)

  it.live("stores who paused; a second pause changes nothing and returns the first; resume clears it", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const at = new Date("2026-03-02T08:00:00Z")
        expect(yield* store.pause(job, "db maintenance", at, "ana@host")).toEqual(Option.none())
        const first = { job, reason: "db maintenance", at, by: "ana@host" }
        expect(yield* store.pause(job, "other", new Date(), "bo@host")).toEqual(Option.some(first))
        expect((yield* store.pauses).filter((p) => p.job === job)).toEqual([first])
        expect(yield* store.resume(job)).toBe(true)
        expect(yield* store.pause(job, undefined, at)).toEqual(Option.none())
        expect((yield* store.pauses).filter((p) => p.job === job)).toEqual([
          { job, reason: undefined, at, by: undefined }
        ])
      })
    ))

  it.live("a pause with `until`: slots before it are skipped as paused, from it on claimed; listed until it ends", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const now = Date.now()
        // Far enough that the pause is still in force at the listing below, after a pause and two claims.
        const until = new Date(now + 4000)
        expect(yield* store.pause(job, "deploy", new Date(now), "ana@host", until)).toEqual(Option.none())
        const claim = (nominal: number) =>
          store.claim({
            runId: randomUUID(),
            job,
            nominalAt: new Date(nominal),
            reason: "scheduled",
            instance: "i",
            at: new Date(),
            leaseSeconds: 30
          })
        expect((yield* claim(until.getTime() - 1000))._tag).toBe("Paused")
        expect((yield* claim(until.getTime()))._tag).toBe("Claimed")
        expect((yield* store.pauses).filter((p) => p.job === job).map((p) => p.until)).toEqual([until])
        yield* Effect.sleep(Math.max(0, until.getTime() + 100 - Date.now()))
        expect((yield* store.pauses).filter((p) => p.job === job)).toEqual([])
        // An ended pause is replaced by a new one; resuming it then says it was in force.
        expect(yield* store.pause(job, "again", new Date(), "bo@host")).toEqual(Option.none())
        expect(yield* store.resume(job)).toBe(true)
      })
    ))

  it.live("two pauses at once: one wins, the other gets its pause", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const results = yield* Effect.all(
          ["a@h", "b@h"].map((by) => store.pause(job, by, new Date(), by)),
          { concurrency: "unbounded" }
        )
        const won = results.filter(Option.isNone)
        expect(won).toHaveLength(1)
        const lost = results.flatMap((r) => (Option.isSome(r) ? [r.value] : []))
        const [stored] = (yield* store.pauses).filter((p) => p.job === job)
        expect(lost).toEqual([stored])
      })
    ))
})
