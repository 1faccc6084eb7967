/**
 * `PgRunStore.layer` against the real PostgreSQL: a slot is claimed once
 * (also when two instances race for it), the first outcome is kept, records
 * round-trip, and the history is by job, newest first. Claims, outcomes,
 * lease renewals and reaping of one instance's runs, all at once, never
 * deadlock; a claim of a slot already taken waits for no lock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Logger, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import pg from "pg"
import * as Database from "../src/Database.js"
import type { RunReason } from "../src/Job.js"
import * as RunStore from "../src/RunStore.js"
import * as PgRunStore from "../src/RunStore/Pg.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { servicesAvailable, unique } from "./services.js"
import { suiteDatabase } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const T0 = Date.parse("2026-03-02T08:00:00Z")

const claim = (
  job: string,
  nominal: number,
  options: { readonly reason?: RunReason; readonly at?: number; readonly instance?: string } = {}
) => ({
  runId: randomUUID(),
  job,
  nominalAt: new Date(nominal),
  reason: options.reason ?? "scheduled",
  instance: options.instance ?? "test-instance",
  at: new Date(options.at ?? nominal),
  leaseSeconds: 30
})

describe.skipIf(!available)("PgRunStore.layer on PostgreSQL", () => {
  const db = suiteDatabase()

  /** A store on its own pool: one worker instance. */
  const instance = () =>
    PgRunStore.layer.pipe(
      Layer.provide(Database.layer),
      Layer.provide(WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 4 })),
      Layer.provide(Logger.remove(Logger.defaultLogger))
    )
  const withStore = <A, E>(f: (store: RunStore.RunStoreShape) => Effect.Effect<A, E>) =>
    Effect.flatMap(RunStore.RunStore, f).pipe(Effect.provide(instance()))

  it.live("claims a slot once: a second claim of (job, nominal_at) is refused, manual runs never are", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        expect((yield* store.claim(claim(job, T0)))._tag).toBe("Claimed")
        expect((yield* store.claim(claim(job, T0)))._tag).toBe("Taken")
        expect((yield* store.claim(claim(job, T0, { reason: "catch-up" })))._tag).toBe("Taken")
        // Another job, or another instant: another slot.
        expect((yield* store.claim(claim(unique("job"), T0)))._tag).toBe("Claimed")
        expect((yield* store.claim(claim(job, T0 + 60_000)))._tag).toBe("Claimed")
        // Manual runs share their job's instants freely.
        expect((yield* store.claim(claim(job, T0, { reason: "manual" })))._tag).toBe("Claimed")
        expect((yield* store.claim(claim(job, T0, { reason: "manual" })))._tag).toBe("Claimed")
        const runs = yield* store.history({ job })
        expect(runs.filter((r) => r.nominalAt.getTime() === T0).map((r) => r.reason).sort()).toEqual([
          "manual",
          "manual",
          "scheduled"
        ])
      })
    ))

  it.live("two instances racing for one slot: exactly one claim wins", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(instance())
      const b = yield* Layer.build(instance())
      const job = unique("job")
      const claims = Array.from({ length: 10 }, (_, i) => claim(job, T0, { instance: i % 2 === 0 ? "a" : "b" }))
      const won = yield* Effect.all(
        claims.map((c, i) =>
          Effect.flatMap(RunStore.RunStore, (store) => store.claim(c)).pipe(Effect.provide(i % 2 === 0 ? a : b))
        ),
        { concurrency: "unbounded" }
      )
      expect(won.filter((result) => result._tag === "Claimed")).toHaveLength(1)
      const winner = claims[won.findIndex((result) => result._tag === "Claimed")]
      const storeB = Context.get(b, RunStore.RunStore)
      const history = yield* storeB.history({ job })
      expect(history.map((r) => [r.runId, r.status, r.instance])).toEqual([[
        winner?.runId,
        "running",
        winner?.instance
      ]])
    }).pipe(Effect.scoped))

  it.live("keeps the first outcome; a later finish says false and changes nothing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const c = claim(unique("job"), T0, { at: T0 + 1_500 })
        yield* store.claim(c)
        const running = Option.getOrThrow(yield* store.get(c.runId))
        expect(running).toMatchObject({
          status: "running",
          attempt: 0,
          finishedAt: undefined,
          durationMs: undefined,
          error: undefined
        })
        expect(yield* store.finish(c.runId, { status: "failed", attempt: 2, at: new Date(T0 + 4_000), error: "boom" }))
          .toBe(true)
        expect(yield* store.finish(c.runId, { status: "succeeded", attempt: 3, at: new Date(T0 + 9_000) })).toBe(false)
        expect(yield* store.finish(c.runId, { status: "abandoned", attempt: 0, at: new Date(T0 + 9_500) })).toBe(false)
        expect(Option.getOrThrow(yield* store.get(c.runId))).toEqual({
          runId: c.runId,
          job: c.job,
          nominalAt: new Date(T0),
          reason: "scheduled",
          status: "failed",
          skipReason: undefined,
          attempt: 2,
          instance: "test-instance",
          startedAt: new Date(T0 + 1_500),
          finishedAt: new Date(T0 + 4_000),
          durationMs: 2_500,
          error: "boom"
        })
      })
    ))

  it.live("the last slot leaves out catch-up runs still live, so a second catch-up starts at the slot taken", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const last = (yield* store.lastSlots([job])).get(job)
        expect(last).toBeUndefined()
        const scheduled = claim(job, T0)
        yield* store.claim(scheduled)
        yield* store.finish(scheduled.runId, { status: "succeeded", attempt: 1, at: new Date(T0 + 100) })
        const catchUp = claim(job, T0 + 1_000, { reason: "catch-up", instance: "other" })
        expect((yield* store.claim(catchUp))._tag).toBe("Claimed")
        // Running on the other instance: not the last slot yet.
        expect((yield* store.lastSlots([job])).get(job)).toEqual(new Date(T0))
        yield* store.finish(catchUp.runId, { status: "succeeded", attempt: 1, at: new Date(T0 + 1_100) })
        expect((yield* store.lastSlots([job])).get(job)).toEqual(new Date(T0 + 1_000))
        // A scheduled run counts while it runs.
        yield* store.claim(claim(job, T0 + 2_000))
        expect((yield* store.lastSlots([job])).get(job)).toEqual(new Date(T0 + 2_000))
      })
    ))

  it.live("stats: the last success and failure of a job, and its failures since the last success", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const outcomes = ["failed", "succeeded", "timed_out", "skipped", "failed", "failed"] as const
        for (const [i, status] of outcomes.entries()) {
          const c = claim(job, T0 + i * 60_000, { at: T0 + i * 60_000 })
          yield* store.claim(c)
          yield* store.finish(c.runId, {
            status,
            attempt: status === "skipped" ? 0 : 1,
            at: new Date(T0 + i * 60_000 + 1_000),
            ...(status === "skipped" ? { skipReason: "overlap" as const } : {})
          })
        }
        // A run still going does not break the streak.
        yield* store.claim(claim(job, T0 + 10 * 60_000, { at: T0 + 10 * 60_000 }))
        const [stats] = yield* store.stats([job])
        expect(stats).toEqual({
          job,
          lastSuccess: new Date(T0 + 60_000 + 1_000),
          lastFailure: new Date(T0 + 5 * 60_000 + 1_000),
          // failed, failed: then the skipped slot ends the streak, as the API counts it.
          consecutiveFailures: 2
        })
        const [none] = yield* store.stats([unique("job")])
        expect(none).toMatchObject({ lastSuccess: undefined, lastFailure: undefined, consecutiveFailures: 0 })
        yield* store.beat("stats-instance")
        expect(yield* store.instancesAlive).toBeGreaterThanOrEqual(1)
      })
    ))

  it.live("latest: the newest run and failure streak of each job in one statement, as memory and history say", () =>
    Effect.gen(function*() {
      const memory = yield* RunStore.makeMemory()
      yield* withStore((store) =>
        Effect.gen(function*() {
          const outcomes = (n: number) => ["failed", "succeeded", "timed_out", "skipped", "failed", "failed"][n % 6]!
          // streak: after a success; none ever succeeded (the whole window of 100); never ran; a live run newest; all
          // failures beyond the window.
          const plans: Record<string, ReadonlyArray<string>> = {
            mixed: [0, 1, 2, 3, 4, 5].map(outcomes),
            failing: ["failed", "timed_out", "failed"],
            live: ["succeeded", "failed", "running"],
            long: [...Array.from({ length: 120 }, () => "failed"), "succeeded", "failed"].reverse(),
            never: []
          }
          const names = Object.fromEntries(Object.keys(plans).map((name) => [name, unique(name)]))
          for (const [name, statuses] of Object.entries(plans)) {
            for (const [i, status] of statuses.entries()) {
              const c = claim(names[name]!, T0 + i * 60_000, { at: T0 + i * 60_000 })
              for (const s of [store, memory]) {
                yield* s.claim(c)
                if (status === "running") continue
                yield* s.finish(c.runId, {
                  status: status as RunStore.Outcome["status"],
                  attempt: status === "skipped" ? 0 : 1,
                  at: new Date(T0 + i * 60_000 + 1_000),
                  ...(status === "skipped" ? { skipReason: "overlap" as const } : {})
                })
              }
            }
          }
          const jobs = Object.values(names)
          const latest = yield* store.latest(jobs)
          expect(latest.map((l) => l.job)).toEqual(jobs)
          expect(Object.fromEntries(latest.map((l) => [l.job, l.consecutiveFailures]))).toEqual({
            [names.mixed!]: 2,
            [names.failing!]: 3,
            [names.live!]: 1,
            [names.long!]: 100,
            [names.never!]: 0
          })
          for (const l of latest) {
            const recent = yield* store.history({ job: l.job, limit: RunStore.FAILURE_WINDOW })
            expect(l.last).toEqual(recent[0])
            expect(l.consecutiveFailures).toBe(RunStore.failureStreak(recent))
          }
          expect(latest.find((l) => l.job === names.live)?.last?.status).toBe("running")
          expect(latest.find((l) => l.job === names.never)?.last).toBeUndefined()
          const fromMemory = yield* memory.latest(jobs)
          expect(fromMemory.map((l) => [l.job, l.consecutiveFailures, l.last?.runId]))
            .toEqual(latest.map((l) => [l.job, l.consecutiveFailures, l.last?.runId]))
          expect(yield* store.latest([])).toEqual([])
        })
      )
    }))

  it.live("records a skipped slot with its reason; unknown runs are absent and cannot be finished", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const c = claim(unique("job"), T0)
        yield* store.claim(c)
        expect(
          yield* store.finish(c.runId, {
            status: "skipped",
            skipReason: "max_concurrent",
            attempt: 0,
            at: new Date(T0)
          })
        ).toBe(true)
        expect(Option.getOrThrow(yield* store.get(c.runId))).toMatchObject({
          status: "skipped",
          skipReason: "max_concurrent",
          durationMs: 0
        })
        const unknown = randomUUID()
        expect(Option.isNone(yield* store.get(unknown))).toBe(true)
        expect(yield* store.finish(unknown, { status: "succeeded", attempt: 1, at: new Date(T0) })).toBe(false)
      })
    ))

  it.live("history: by job, newest first, limited", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        const other = unique("job")
        // Claimed out of order: the history orders by start, not by insertion.
        const second = claim(job, T0 + 60_000, { at: T0 + 60_000 })
        const first = claim(job, T0, { at: T0 })
        const third = claim(job, T0 + 120_000, { at: T0 + 120_000 })
        const elsewhere = claim(other, T0 + 90_000)
        for (const c of [second, first, elsewhere, third]) expect((yield* store.claim(c))._tag).toBe("Claimed")
        yield* store.finish(first.runId, { status: "succeeded", attempt: 1, at: new Date(T0 + 1_000) })
        expect((yield* store.history({ job })).map((r) => r.runId)).toEqual([third.runId, second.runId, first.runId])
        expect((yield* store.history({ job, limit: 2 })).map((r) => r.runId)).toEqual([third.runId, second.runId])
        expect((yield* store.history({ job: other })).map((r) => r.runId)).toEqual([elsewhere.runId])
        // Unfiltered: every job, newest first (these start after every other row of this file).
        const late = Date.parse("2100-01-01T00:00:00Z")
        const x = claim(job, late, { at: late })
        const y = claim(other, late + 1_000, { at: late + 1_000 })
        yield* store.claim(x)
        yield* store.claim(y)
        expect((yield* store.history({ limit: 2 })).map((r) => r.runId)).toEqual([y.runId, x.runId])
      })
    ))

  it.live(
    "two instances claiming different slots of one job at the same " +
      "moment: one of them sees the other running",
    () =>
      Effect.gen(function*() {
        const a = yield* Layer.build(instance()).pipe(Effect.map((context) => Context.get(context, RunStore.RunStore)))
        const b = yield* Layer.build(instance()).pipe(Effect.map((context) => Context.get(context, RunStore.RunStore)))
        // A manual run on one instance and a scheduled slot on the other, 40 times over.
        const pairs = yield* Effect.forEach(Array.from({ length: 40 }, () => unique("pair")), (job) =>
          Effect.all([
            a.claim(claim(job, T0, { reason: "manual", instance: "a" })),
            b.claim(claim(job, T0 + 1000, { instance: "b" }))
          ], { concurrency: "unbounded" }), { concurrency: 4 })
        const blind = pairs.filter((results) =>
          results.every((result) => result._tag === "Claimed" && result.others.running === 0)
        )
        expect(blind).toEqual([])
      }).pipe(Effect.scoped)
  )

  /** A connection of its own that holds every claim lock (`cron_worker.claim`'s buckets) until `release`. */
  const holdClaimLocks = Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: db.url })
      await client.connect()
      await client.query("BEGIN")
      await client.query(
        "SELECT pg_advisory_xact_lock(hashtext('cron_worker.claim'), b) FROM generate_series(0, 63) AS b"
      )
      return client
    }),
    (client) => Effect.promise(() => client.query("COMMIT").then(() => client.end()))
  )

  it.live("a slot already claimed is refused at once, even while another claim holds the locks", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const job = unique("job")
        expect((yield* store.claim(claim(job, T0)))._tag).toBe("Claimed")
        const fresh = unique("job")
        const [taken, blocked, fiber] = yield* Effect.scoped(Effect.gen(function*() {
          yield* holdClaimLocks
          // The slot taken needs no lock; a new slot waits for the holder.
          const taken = yield* store.claim(claim(job, T0, { instance: "other" })).pipe(Effect.timeout("5 seconds"))
          const fiber = yield* Effect.fork(store.claim(claim(fresh, T0)))
          yield* Effect.sleep("300 millis")
          return [taken, yield* fiber.poll, fiber] as const
        }))
        expect(taken._tag).toBe("Taken")
        expect(Option.isNone(blocked)).toBe(true)
        // Released: the new slot's claim goes through once the holder commits.
        expect((yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds")))._tag).toBe("Claimed")
        expect((yield* store.history({ job: fresh })).map((r) => r.status)).toEqual(["running"])
      })
    ))

  it.live("outcomes and lease renewals of the same runs at the same moment never deadlock", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(instance()).pipe(Effect.map((context) => Context.get(context, RunStore.RunStore)))
      const b = yield* Layer.build(instance()).pipe(Effect.map((context) => Context.get(context, RunStore.RunStore)))
      for (let round = 0; round < 8; round++) {
        const claims = Array.from({ length: 300 }, () => claim(unique("job"), T0, { instance: "a", reason: "manual" }))
        yield* Effect.forEach(claims, (c) => a.claim(c), { concurrency: 50, discard: true })
        const ids = claims.map((c) => c.runId)
        // Outcomes in one order (one statement per batch), renewals in another, on two pools.
        const shuffled = [...ids].sort(() => Math.random() - 0.5)
        const [finished] = yield* Effect.all([
          Effect.forEach(
            shuffled,
            (runId) => a.finish(runId, { status: "succeeded", attempt: 1, at: new Date() }),
            { concurrency: "unbounded" }
          ),
          b.renew([...ids].reverse(), 30)
        ], { concurrency: "unbounded" })
        expect(finished.every((recorded) => recorded)).toBe(true)
      }
    }).pipe(Effect.scoped))
})
