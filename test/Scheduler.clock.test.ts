/**
 * The wall clock stepping while jobs are scheduled (NTP, a VM resumed, an operator's `date -s`): forward, the
 * slots jumped over are recorded as missed and the job's catch-up policy decides which run; back, no slot runs
 * twice. Timers are monotonic (Node's, and `TestClock`'s sleeps here): only the wall clock steps, as in life.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, TestClock } from "effect"
import * as Job from "../src/Job.js"
import * as RunStore from "../src/RunStore.js"
import * as Worker from "../src/Worker.js"
import { captureLogs, T0 } from "./utils.js"

const MINUTE = 60_000
const HOUR = 3_600_000

/**
 * A clock whose wall time is the test clock's plus an offset that `step` moves; its sleeps and its monotonic time
 * are the test clock's, untouched by steps.
 */
const steppable = Effect.map(TestClock.testClock(), (test) => {
  let offset = 0
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => test.unsafeCurrentTimeMillis() + offset,
    currentTimeMillis: Effect.sync(() => test.unsafeCurrentTimeMillis() + offset),
    unsafeCurrentTimeNanos: () => test.unsafeCurrentTimeNanos(),
    currentTimeNanos: Effect.sync(() => test.unsafeCurrentTimeNanos()),
    sleep: (duration: Duration.Duration) => test.sleep(duration)
  }
  return {
    clock,
    step: (millis: number) => Effect.sync(() => void (offset += millis)),
    /** `TestClock.adjust`, which would look for the test clock where this one is. */
    adjust: (duration: Duration.DurationInput) => test.adjust(duration)
  }
})

const everyMinute = (catchUp: Job.CatchUp) =>
  Job.make({ name: "minutely", schedule: "* * * * *", catchUp, run: Effect.void })

/** The history, oldest first: [nominal minute after T0, status, reason, skip reason]. */
const rows = Effect.flatMap(RunStore.RunStore, (store) => store.history({ job: "minutely" })).pipe(
  Effect.map((records) =>
    [...records]
      .sort((a, b) => a.nominalAt.getTime() - b.nominalAt.getTime())
      .map((r) => [(r.nominalAt.getTime() - T0) / MINUTE, r.status, r.reason, r.skipReason] as const)
  )
)

const missed = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => [from + i, "skipped", "scheduled", "missed"] as const)

describe("the wall clock steps while jobs are scheduled", () => {
  it.effect.each(
    [
      ["latest", [...missed(2, 61), [62, "succeeded", "catch-up", undefined]], 1],
      ["skip", missed(2, 62), 0],
      ["all", Array.from({ length: 61 }, (_, i) => [2 + i, "succeeded", "catch-up", undefined] as const), 61]
    ] as const
  )(
    "forward 1 h: the slots jumped over are missed and catchUp %s decides which run",
    ([catchUp, gap, running]) =>
      Effect.gen(function*() {
        const logs = captureLogs()
        const { adjust, clock, step } = yield* steppable
        yield* TestClock.setTime(T0)
        const history = yield* Effect.gen(function*() {
          yield* Worker.start([everyMinute(catchUp)])
          yield* adjust("90 seconds") // minute 1 runs
          // At T0 + 90 s the wall clock jumps to T0 + 1 h 2 min 0 s (30 s past minute 62), then time goes on.
          yield* step(HOUR + 30_000)
          yield* adjust("30 seconds") // the job wakes for minute 2: the wall clock reads 62:30
          yield* adjust("1 minute") // minute 63 on the wall clock
          yield* adjust("1 second")
          return yield* rows
        }).pipe(Effect.provide(Worker.layerTest()), Effect.withClock(clock), Effect.provide(logs.layer))
        expect(history).toEqual([
          [1, "succeeded", "scheduled", undefined],
          ...gap,
          [63, "succeeded", "scheduled", undefined]
        ])
        expect(logs.withMessage("job missed slots").map((e) => [e.level, e.fields])).toEqual([[
          "WARN",
          expect.objectContaining({ job: "minutely", missed: 61, catch_up: catchUp, running })
        ]])
      })
  )

  it.effect("forward 1 h onto a slot: that slot runs on time, as scheduled; the ones jumped over are missed", () =>
    Effect.gen(function*() {
      const { adjust, clock, step } = yield* steppable
      yield* TestClock.setTime(T0)
      const history = yield* Effect.gen(function*() {
        yield* Worker.start([everyMinute("skip")])
        yield* adjust("90 seconds")
        yield* step(HOUR)
        yield* adjust("31 seconds") // woken at the wall's 62:00 exactly
        return yield* rows
      }).pipe(Effect.provide(Worker.layerTest()), Effect.withClock(clock))
      expect(history).toEqual([
        [1, "succeeded", "scheduled", undefined],
        ...missed(2, 61),
        [62, "succeeded", "scheduled", undefined]
      ])
    }))

  it.effect("back 1 h: no slot runs twice, and none runs until the wall clock is past the last one run", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const { adjust, clock, step } = yield* steppable
      yield* TestClock.setTime(T0)
      const { after, before, later } = yield* Effect.gen(function*() {
        yield* Worker.start([everyMinute("latest")])
        yield* adjust("150 seconds") // minutes 1 and 2 run
        const before = yield* rows
        // At T0 + 150 s the wall clock goes back to T0 - 57:30.
        yield* step(-HOUR)
        yield* adjust("59 minutes") // the wall clock reads 01:30 again: minutes 1 and 2 are not run again
        const after = yield* rows
        yield* adjust("2 minutes") // 03:30 on the wall clock: minute 3 runs, once
        return { before, after, later: yield* rows }
      }).pipe(Effect.provide(Worker.layerTest()), Effect.withClock(clock), Effect.provide(logs.layer))
      const ran = [[1, "succeeded", "scheduled", undefined], [2, "succeeded", "scheduled", undefined]]
      expect(before).toEqual(ran)
      expect(after).toEqual(ran)
      expect(later).toEqual([...ran, [3, "succeeded", "scheduled", undefined]])
      expect(logs.withMessage("job started").map((e) => e.fields.nominal_at)).toEqual(
        [1, 2, 3].map((m) => new Date(T0 + m * MINUTE).toISOString())
      )
      expect(logs.withMessage("job missed slots")).toEqual([])
    }))

  it.effect("a catch-up run waiting behind a long run (overlap queue) does not hold the job's loop", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const { adjust, clock, step } = yield* steppable
      yield* TestClock.setTime(T0)
      const job = Job.make({
        name: "minutely",
        schedule: "* * * * *",
        overlap: "queue",
        timeout: "10 minutes",
        run: Effect.sleep("5 minutes")
      })
      const history = yield* Effect.gen(function*() {
        yield* Worker.start([job])
        yield* adjust("90 seconds") // minute 1 runs until 6:00
        yield* step(270_000) // the wall clock jumps from 1:30 to 6:00
        yield* adjust("30 minutes")
        return yield* rows
      }).pipe(Effect.provide(Worker.layerTest()), Effect.withClock(clock), Effect.provide(logs.layer))
      // One gap, caught up once; the loop goes on firing scheduled slots meanwhile (queued or skipped).
      expect(logs.withMessage("job missed slots")).toHaveLength(1)
      expect(history.filter(([, , reason]) => reason === "catch-up")).toHaveLength(1)
      const after = history.filter(([minute, , reason]) => minute > 6 && reason === "scheduled")
      expect(after.length).toBeGreaterThanOrEqual(25)
      expect(after.filter(([, status]) => status === "succeeded").length).toBeGreaterThanOrEqual(4)
    }))
})
