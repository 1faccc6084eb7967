/**
 * The runs an operator asks for, on the memory store and the TestClock: a manual run with an overlap policy of its
 * own, waited for or not; cancelling a live run; the detail a finished run keeps (attempts, stack masked, trace id);
 * backfills (the range's slots, refused ranges, one run per slot per backfill id, not the schedule's slots).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Either, Option, TestClock } from "effect"
import * as Backfill from "../src/Backfill.js"
import * as CronSpec from "../src/CronSpec.js"
import * as Job from "../src/Job.js"
import * as RunStore from "../src/RunStore.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"
import { captureLogs, history, schedulerLayer, T0 } from "./utils.js"

/** Runs `body` with a started worker of `jobs` (TestClock at T0). */
const withWorker = <A, E, R>(jobs: ReadonlyArray<Job.Job<unknown, Job.CurrentRun>>, body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(T0)
    yield* Worker.start(jobs)
    return yield* body
  }).pipe(Effect.provide(schedulerLayer({ shutdownTimeout: Duration.zero })))

/** Lets the scheduler's fibers run until `done` holds (at most a few thousand turns; no clock moves). */
const until = <A, R>(read: Effect.Effect<A, never, R>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000; i++) {
      const value = yield* read
      if (done(value)) return value
      yield* Effect.yieldNow()
    }
    return yield* read
  })

/** A job that runs for an hour of the TestClock: still running for the whole test. */
const long = Job.make({ name: "long", schedule: "@yearly", run: Effect.sleep("1 hour") })

describe("manual runs: overlap override, wait or not", () => {
  it.effect("not waited for: running, or skipped (overlap) under skip, running under allow, queued under queue", () =>
    withWorker(
      [long],
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const first = yield* scheduler.trigger("long", { wait: false })
        const skipped = yield* scheduler.trigger("long", { wait: false })
        const allowed = yield* scheduler.trigger("long", { wait: false, overlap: "allow" })
        const queued = yield* scheduler.trigger("long", { wait: false, overlap: "queue" })
        // The override was for those runs only: the job's own policy (skip) still holds.
        const again = yield* scheduler.trigger("long", { wait: false })
        const view = (r: Option.Option<RunStore.RunRecord>) =>
          Option.map(r, ({ reason, skipReason, status }) => ({ reason, status, skipReason }))
        expect([first, skipped, allowed, queued, again].map(view)).toEqual([
          Option.some({ reason: "manual", status: "running", skipReason: undefined }),
          Option.some({ reason: "manual", status: "skipped", skipReason: "overlap" }),
          Option.some({ reason: "manual", status: "running", skipReason: undefined }),
          Option.some({ reason: "manual", status: "queued", skipReason: undefined }),
          Option.some({ reason: "manual", status: "skipped", skipReason: "overlap" })
        ])
      })
    ))

  it.effect("waited for (the default): the outcome", () =>
    withWorker(
      [Job.make({ name: "quick", schedule: "@yearly", run: Effect.void })],
      Effect.gen(function*() {
        const run = yield* (yield* Scheduler).trigger("quick", { overlap: "allow" })
        expect(Option.map(run, (r) => r.status)).toEqual(Option.some("succeeded"))
      })
    ))
})

describe("cancel", () => {
  it.effect("a run of this instance is interrupted at once, recorded with the reason; a finished run is not live", () =>
    withWorker(
      [long],
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const store = yield* RunStore.RunStore
        const started = Option.getOrThrow(yield* scheduler.trigger("long", { wait: false }))
        const queued = Option.getOrThrow(yield* scheduler.trigger("long", { wait: false, overlap: "queue" }))
        assert.isTrue(yield* scheduler.cancel(started, "cancelled through the API (admin)"))
        const ended = Option.getOrThrow(yield* store.get(started.runId))
        expect(ended).toMatchObject({ status: "interrupted", error: "cancelled through the API (admin)" })
        // The queued run took its place; cancelled while it runs, it too is interrupted.
        const next = yield* until(store.get(queued.runId), (r) => Option.isSome(r) && r.value.status === "running")
        expect(Option.map(next, (r) => r.status)).toEqual(Option.some("running"))
        assert.isTrue(yield* scheduler.cancel(queued, "cancelled through the API (admin)"))
        expect(Option.map(yield* store.get(queued.runId), (r) => r.status)).toEqual(Option.some("interrupted"))
        // Not live any more: nothing to cancel (the memory store has no other instance to ask).
        assert.isFalse(yield* scheduler.cancel(ended, "again"))
      })
    ))
})

class Leaky extends Data.TaggedError("Leaky")<{ readonly message: string }> {}

describe("run detail", () => {
  it.effect("each failed attempt with its error and time, the stack masked as logs are, the span's trace id", () =>
    withWorker(
      [
        Job.make({
          name: "flaky",
          schedule: "@yearly",
          retry: { attempts: 3, initialDelay: "1 millis", jitter: false },
          run: Effect.fail(new Leaky({ message: "connect failed password=hunter22" }))
        }),
        Job.make({ name: "fine", schedule: "@yearly", run: Effect.void })
      ],
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const store = yield* RunStore.RunStore
        const fiber = yield* Effect.fork(scheduler.trigger("flaky"))
        yield* TestClock.adjust("1 second")
        const run = Option.getOrThrow(
          yield* store.get(
            Option.getOrThrow(
              yield* fiber.await.pipe(
                Effect.flatten
              )
            ).runId
          )
        )
        expect(run.status).toBe("failed")
        expect(run.attempts?.map((a) => [a.attempt, a.error])).toEqual([
          [1, "Leaky: connect failed password=***"],
          [2, "Leaky: connect failed password=***"],
          [3, "Leaky: connect failed password=***"]
        ])
        expect(run.attempts?.every((a) => a.at.getTime() >= T0)).toBe(true)
        expect(run.stack).toContain("Leaky")
        expect(run.stack).not.toContain("hunter22")
        expect(run.traceId).toMatch(/^[0-9a-f]{32}$/)
        // The history lists runs without their detail.
        const [listed] = yield* store.history({ job: "flaky" })
        expect(listed?.attempts).toBeUndefined()
        const fine = Option.getOrThrow(yield* scheduler.trigger("fine"))
        const detail = Option.getOrThrow(yield* store.get(fine.runId))
        expect(detail.attempts).toBeUndefined()
        expect(detail.stack).toBeUndefined()
        expect(detail.traceId).toMatch(/^[0-9a-f]{32}$/)
      })
    ))
})

describe("backfill", () => {
  const hourly = Effect.runSync(CronSpec.parse("0 * * * *", { timezone: "UTC" }))
  const h = (hours: number) => new Date(T0 + hours * 3_600_000)

  it.effect.each([
    { case: "the slots of [from, to), from included, to excluded", from: -5, to: 0, slots: 5 },
    { case: "a range between two slots has none", from: -0.75, to: -0.25, slots: 0 },
    { case: "1000 slots are allowed", from: -1000, to: 0, slots: 1000 }
  ])("plan: $case", ({ from, slots, to }) =>
    Effect.sync(() => {
      const planned = Backfill.plan("job", hourly, T0, h(from), h(to), T0)
      assert.isTrue(Either.isRight(planned))
      const got = Either.getOrThrow(planned)
      expect(got).toHaveLength(slots)
      if (slots > 0) expect([got[0], got[got.length - 1]]).toEqual([h(from).getTime(), h(to - 1).getTime()])
    }))

  it.effect.each([
    { case: "more than 1000 slots", from: -1001, to: 0, tag: "BackfillTooLarge", says: "more than 1000 slots" },
    { case: "an end after now", from: -1, to: 1, tag: "BackfillInFuture", says: "after now" },
    { case: "an empty range", from: -1, to: -1, tag: "BackfillEmptyRange", says: "must be before" },
    { case: "a reversed range", from: -1, to: -2, tag: "BackfillEmptyRange", says: "must be before" }
  ])("plan refuses $case", ({ from, says, tag, to }) =>
    Effect.sync(() => {
      const planned = Backfill.plan("job", hourly, T0, h(from), h(to), T0)
      assert.isTrue(Either.isLeft(planned))
      const error = Either.getLeft(planned).pipe(Option.getOrThrow)
      expect(error._tag).toBe(tag)
      expect(error.message).toContain(says)
    }))

  it.effect("runs the range's slots one after another as backfill runs; a retried id runs nothing twice", () => {
    const logs = captureLogs()
    const ran: Array<number> = []
    const job = Job.make({
      name: "hourly",
      schedule: "0 * * * *",
      run: Effect.flatMap(Job.CurrentRun, (run) => Effect.sync(() => ran.push(run.nominalAt.getTime())))
    })
    return withWorker(
      [job],
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const store = yield* RunStore.RunStore
        // A paused job: a backfill is an operator's act, it runs all the same.
        yield* store.pause("hourly", "maintenance", h(0))
        const started = yield* scheduler.backfill("hourly", { from: h(-3), to: h(0) })
        expect(started.slots).toEqual([h(-3), h(-2), h(-1)])
        const done = (records: ReadonlyArray<RunStore.RunRecord>) => records.filter((r) => r.status === "succeeded")
        const first = yield* until(history("hourly"), (records) => done(records).length === 3)
        expect(first.map((r) => [r.reason, r.nominalAt, r.backfillId])).toEqual([
          ["backfill", h(-3), started.id],
          ["backfill", h(-2), started.id],
          ["backfill", h(-1), started.id]
        ])
        expect(ran).toEqual([h(-3), h(-2), h(-1)].map((d) => d.getTime()))
        // The same id again (a retried request): its slots are taken, nothing runs.
        yield* scheduler.backfill("hourly", { from: h(-3), to: h(0), id: started.id })
        for (let i = 0; i < 100; i++) yield* Effect.yieldNow()
        expect(ran).toHaveLength(3)
        // The finished line counts the slots this backfill claimed: all three, then none.
        expect(logs.withMessage("backfill finished").map((e) => e.fields.claimed)).toEqual([3, 0])
        // A new backfill runs them again.
        const again = yield* scheduler.backfill("hourly", { from: h(-2), to: h(0) })
        assert.notEqual(again.id, started.id)
        yield* until(history("hourly"), (records) => done(records).length === 5)
        expect(ran).toHaveLength(5)
        // Not the schedule's slots: catch-up after downtime does not count from them.
        expect((yield* store.lastSlots(["hourly"])).has("hourly")).toBe(false)
      })
    ).pipe(Effect.provide(logs.layer))
  })

  it.effect("an unknown job, a refused range: named errors, nothing runs", () =>
    withWorker(
      [long],
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const unknown = yield* Effect.flip(scheduler.backfill("nope", { from: h(-1), to: h(0) }))
        expect(unknown._tag).toBe("JobNotFound")
        const future = yield* Effect.flip(scheduler.backfill("long", { from: h(-1), to: h(1) }))
        expect(future._tag).toBe("BackfillInFuture")
        expect(yield* history("long")).toEqual([])
      })
    ))
})
