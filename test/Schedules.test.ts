/**
 * Schedules created at run time, on the memory stores and the `TestClock`: validation before anything is stored,
 * idempotent creation by key, runs recorded with the schedule's version, and the edit semantics: a change fires no
 * past slot, computes the next from now and keeps a run already going; a delete lets a running run finish and
 * starts none; a limit of runs ends the schedule; a stored schedule of a kind the code lacks is skipped, named.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Layer, Schema, TestClock } from "effect"
import { Control } from "../src/Control.js"
import * as Job from "../src/Job.js"
import * as Kind from "../src/Kind.js"
import * as Schedules from "../src/Schedules.js"
import * as ScheduleStore from "../src/Schedules/Store.js"
import * as Worker from "../src/Worker.js"
import { at, captureLogs, history, T0 } from "./utils.js"

/** Services a kind needs, provided by the app: here, a list of what ran. */
class Seen extends Context.Tag("test/Seen")<Seen, Array<string>>() {}

const greet = Kind.make({
  name: "greet",
  payload: Schema.Struct({
    to: Schema.NonEmptyString,
    seconds: Schema.optionalWith(Schema.Number, { default: () => 0 })
  }),
  run: ({ seconds, to }) =>
    Effect.gen(function*() {
      const seen = yield* Seen
      const run = yield* Job.CurrentRun
      seen.push(`${to}@${run.nominalAt.toISOString()}`)
      if (seconds > 0) yield* Effect.sleep(Duration.seconds(seconds))
    })
})

const layer = (seen: Array<string>, kinds: ReadonlyArray<Kind.Any> = [greet]) =>
  Layer.merge(Schedules.layer(kinds), Control.Default).pipe(
    Layer.provideMerge(ScheduleStore.layerMemory()),
    Layer.provideMerge(Worker.layerTest({ shutdownTimeout: Duration.zero })),
    Layer.provideMerge(Layer.succeed(Seen, seen))
  )

/** A started worker with schedules of `greet`. */
const started = <A, E, R>(body: (seen: Array<string>) => Effect.Effect<A, E, R>) => {
  const seen: Array<string> = []
  const logs = captureLogs()
  return Effect.gen(function*() {
    yield* TestClock.setTime(T0)
    yield* Worker.start([], [greet])
    return yield* body(seen)
  }).pipe(Effect.provide(layer(seen)), Effect.provide(logs.layer))
}

describe("Schedules", () => {
  it.effect("a schedule runs its kind with its payload at each slot, recorded with its version", () =>
    started((seen) =>
      Effect.gen(function*() {
        const { created, schedule } = yield* Schedules.Schedules.create({
          id: "s1",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "ana" }
        })
        expect(created).toBe(true)
        expect(schedule).toMatchObject({ id: "s1", job: "schedule:s1", version: 1, state: "active" })
        expect(schedule.nextRuns.map((d) => d.toISOString())).toEqual([at(10), at(20), at(30)])
        yield* TestClock.adjust("25 seconds")
        expect(seen).toEqual([`ana@${at(10)}`, `ana@${at(20)}`])
        const runs = yield* history("schedule:s1")
        expect(runs.map((r) => [r.status, r.scheduleVersion])).toEqual([["succeeded", 1], ["succeeded", 1]])
      })
    ))

  it.effect("validation before anything is stored: the payload's field path, the kind, the zone, the options", () =>
    started(() =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        const attempt = (input: Partial<Schedules.CreateInput>) =>
          Effect.flip(schedules.create({ kind: "greet", expression: "* * * * *", payload: { to: "x" }, ...input }))
        expect((yield* attempt({ payload: { to: "" } })).message).toMatch(/^payload\.to: /)
        expect((yield* attempt({ payload: {} })).message).toMatch(/^payload\.to: is missing/)
        const unknown = yield* attempt({ kind: "nope" })
        expect(unknown._tag).toBe("UnknownKind")
        expect(unknown.message).toBe("unknown job kind \"nope\"; this worker has greet")
        expect((yield* attempt({ timezone: "Mars/Base" })).message).toMatch(/^timezone: .*Mars\/Base/)
        expect((yield* attempt({ expression: "61 * * * *" })).message).toMatch(/^expression: /)
        expect((yield* attempt({ overlap: "sometimes" as "skip" })).message).toMatch(/^overlap: /)
        expect((yield* attempt({ timeout: "-5 seconds" })).message).toMatch(/^timeout: /)
        expect(
          (yield* attempt({ startAt: new Date(T0 + 10_000), endAt: new Date(T0) })).message
        ).toBe("endAt: must be after startAt")
        expect(yield* schedules.list()).toEqual([])
      })
    ))

  it.effect("created twice with one key: one schedule, the second answered with it; an id taken is refused", () =>
    started(() =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        const input = { kind: "greet", expression: "0 8 * * *", payload: { to: "bo" }, key: "customer-42" }
        const first = yield* schedules.create(input)
        const second = yield* schedules.create({ ...input, payload: { to: "someone else" } })
        expect(second.created).toBe(false)
        expect(second.schedule.id).toBe(first.schedule.id)
        expect(second.schedule.payload).toEqual({ to: "bo" })
        expect((yield* schedules.list()).length).toBe(1)
        const taken = yield* Effect.flip(schedules.create({ ...input, key: undefined, id: first.schedule.id }))
        expect(taken._tag).toBe("ScheduleIdTaken")
      })
    ))

  it.effect("a change fires no past slot, takes its next slot from now, and keeps the run going", () =>
    started((seen) =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        // Every 10 s, each run 15 s long, overlap allow: at 20 s the run of 10 s is still going.
        yield* schedules.create({
          id: "s",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "old", seconds: 15 },
          overlap: "allow"
        })
        yield* TestClock.adjust("12 seconds")
        // An hourly schedule from now: its past slot (00:00:00) is not fired, nor those of version 1 from now on.
        const { after, before } = yield* schedules.update("s", {
          kind: "greet",
          expression: "0 * * * *",
          payload: { to: "new" },
          version: 1
        })
        expect(before.version).toBe(1)
        expect(after.version).toBe(2)
        expect(after.nextRuns[0]!.toISOString()).toBe("2026-01-01T01:00:00.000Z")
        yield* TestClock.adjust("30 minutes")
        expect(seen).toEqual([`old@${at(10)}`])
        const runs = yield* history("schedule:s")
        // The run of version 1 was not dropped: it ran to its end.
        expect(runs.map((r) => [r.nominalAt.toISOString(), r.status, r.scheduleVersion])).toEqual([
          [at(10), "succeeded", 1]
        ])
        yield* TestClock.adjust("31 minutes")
        expect(seen).toEqual([`old@${at(10)}`, "new@2026-01-01T01:00:00.000Z"])
        expect((yield* history("schedule:s")).map((r) => r.scheduleVersion)).toEqual([1, 2])
        // From a version that moved on: refused, nothing changed.
        const conflict = yield* Effect.flip(
          schedules.update("s", { kind: "greet", expression: "* * * * *", payload: { to: "x" }, version: 1 })
        )
        expect(conflict._tag).toBe("VersionConflict")
        expect((yield* schedules.get("s")).version).toBe(2)
      })
    ))

  it.effect("a delete lets the running run finish and starts no new one; the history stays", () =>
    started((seen) =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        yield* schedules.create({
          id: "d",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "d", seconds: 5 }
        })
        yield* TestClock.adjust("11 seconds")
        const removed = yield* schedules.remove("d")
        expect(removed.id).toBe("d")
        yield* TestClock.adjust("1 minute")
        expect(seen).toEqual([`d@${at(10)}`])
        const runs = yield* history("schedule:d")
        expect(runs.map((r) => r.status)).toEqual(["succeeded"])
        expect((yield* Effect.flip(schedules.get("d")))._tag).toBe("ScheduleNotFound")
        expect((yield* Effect.flip(schedules.remove("d")))._tag).toBe("ScheduleNotFound")
      })
    ))

  it.effect("remainingRuns: the schedule runs that many times, then ends; startAt and endAt bound its slots", () =>
    started((seen) =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        yield* schedules.create({
          id: "limited",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "l" },
          remainingRuns: 2
        })
        yield* schedules.create({
          id: "bounded",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "b" },
          startAt: new Date(T0 + 25_000),
          endAt: new Date(T0 + 50_000)
        })
        yield* TestClock.adjust("2 minutes")
        expect(seen.filter((s) => s.startsWith("l@"))).toEqual([`l@${at(10)}`, `l@${at(20)}`])
        expect(seen.filter((s) => s.startsWith("b@"))).toEqual([`b@${at(30)}`, `b@${at(40)}`])
        const limited = yield* schedules.get("limited")
        expect([limited.state, limited.remainingRuns, limited.nextRuns]).toEqual(["ended", 0, []])
      })
    ))

  it.effect("a long pause never leaves a schedule stuck: paused slots are skipped, the next after resume runs", () =>
    started((seen) =>
      Effect.gen(function*() {
        const schedules = yield* Schedules.Schedules
        const control = yield* Control
        yield* schedules.create({ id: "p", kind: "greet", expression: "0 * * * *", payload: { to: "p" } })
        yield* control.pause("schedule:p", "quarter close")
        // Paused for 6 hours (each second of the TestClock costs the test time): 6 hourly slots pass, skipped.
        yield* TestClock.adjust("6 hours")
        expect(seen).toEqual([])
        yield* control.resume("schedule:p")
        yield* TestClock.adjust("1 hour")
        expect(seen).toEqual([`p@${new Date(T0 + 7 * 3_600_000).toISOString()}`])
        const runs = yield* history("schedule:p")
        expect(runs.filter((r) => r.skipReason === "paused").length).toBe(6)
      })
    ))

  it.effect("a stored schedule whose kind the code lacks stays stored; its slots are skipped as unknown_kind", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const logs = captureLogs()
      yield* TestClock.setTime(T0)
      // Stored by a worker that had the kind (the store outlives the worker: here, one store, two layers over it).
      const store = yield* Layer.build(ScheduleStore.layerMemory())
      const withKinds = (kinds: ReadonlyArray<Kind.Any>) =>
        Schedules.layer(kinds).pipe(
          Layer.provideMerge(Layer.succeedContext(store)),
          Layer.provideMerge(Worker.layerTest({ shutdownTimeout: Duration.zero })),
          Layer.provideMerge(Layer.succeed(Seen, seen))
        )
      yield* Effect.gen(function*() {
        yield* Schedules.Schedules.create({
          id: "orphan",
          kind: "greet",
          expression: "*/10 * * * * *",
          payload: { to: "o" }
        })
      }).pipe(Effect.provide(withKinds([greet])))
      yield* Effect.gen(function*() {
        yield* Worker.start([], [])
        const view = yield* Schedules.Schedules.get("orphan")
        expect([view.state, view.stateReason]).toEqual([
          "unknown_kind",
          "unknown job kind \"greet\"; this worker has none"
        ])
        yield* TestClock.adjust("1 minute")
        const runs = yield* history("schedule:orphan")
        expect(runs.length).toBeGreaterThanOrEqual(3)
        expect(runs.every((r) => r.status === "skipped" && r.skipReason === "unknown_kind")).toBe(true)
        expect(logs.withMessage("schedule not run by this worker: its slots are skipped").length).toBe(1)
      }).pipe(
        Effect.provide(withKinds([])),
        Effect.provide(logs.layer)
      )
      expect(seen).toEqual([])
    }).pipe(Effect.scoped))

  it("the id and the key are checked by the API's schema", () => {
    expect(Either.isLeft(Schema.decodeUnknownEither(Schedules.ScheduleId)("a b"))).toBe(true)
    expect(Either.isRight(Schema.decodeUnknownEither(Schedules.ScheduleId)("customer-42.daily_1"))).toBe(true)
  })
})
