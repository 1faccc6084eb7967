import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import * as Job from "../src/Job.js"
import * as RunContext from "../src/RunContext.js"
import * as Worker from "../src/Worker.js"
import { T0 } from "./utils.js"

/** Resolves after a turn of real timers: what a detached callback of a job sees, seen from outside it. */
const realTick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 20)))

it.effect("a run's detached callbacks, timers and promises carry its job and run; code outside runs does not", () =>
  Effect.gen(function*() {
    const seen: Array<{ readonly where: string; readonly tag: RunContext.RunTag | undefined }> = []
    const job = Job.make({
      name: "detached",
      schedule: "* * * * * *",
      run: Effect.gen(function*() {
        seen.push({ where: "fiber", tag: RunContext.current() })
        yield* Effect.sync(() => {
          setTimeout(() => seen.push({ where: "timer", tag: RunContext.current() }), 0)
          void Promise.resolve().then(() => seen.push({ where: "promise", tag: RunContext.current() }))
        })
        // After a pause, the fiber resumes in the run's context again.
        yield* Effect.yieldNow()
        seen.push({ where: "resumed", tag: RunContext.current() })
      })
    })
    yield* TestClock.setTime(T0)
    yield* Worker.start([job]).pipe(
      Effect.zipRight(TestClock.adjust("1 second")),
      Effect.zipRight(realTick),
      Effect.provide(Worker.layerTest())
    )
    seen.push({ where: "outside", tag: RunContext.current() })
    expect(seen.map((s) => s.where).sort()).toEqual(["fiber", "outside", "promise", "resumed", "timer"])
    for (const { tag, where } of seen) {
      if (where === "outside") expect(tag).toBeUndefined()
      else expect(tag, where).toMatchObject({ job: "detached", nominalAt: new Date(T0 + 1000) })
    }
    const runIds = new Set(seen.filter((s) => s.tag !== undefined).map((s) => s.tag!.runId))
    expect(runIds.size).toBe(1)
    expect(RunContext.running()).toEqual([])
  }))

it.live("a run's fiber holding the event loop is measured and named; a short one is not", () =>
  Effect.gen(function*() {
    const busy = (millis: number) =>
      Effect.sync(() => {
        const until = Date.now() + millis
        while (Date.now() < until) {
          // Holding the event loop on purpose.
        }
      })
    RunContext.takeBlocked()
    const tag = (job: string): RunContext.RunTag => ({ job, runId: job, nominalAt: new Date(T0) })
    yield* RunContext.within(tag("short"), busy(50))
    expect(RunContext.takeBlocked()).toBeUndefined()
    const fiber = yield* Effect.fork(RunContext.within(tag("long"), Effect.zipRight(Effect.yieldNow(), busy(1100))))
    yield* Fiber.join(fiber)
    const blocked = RunContext.takeBlocked()
    expect(blocked?.tag.job).toBe("long")
    expect(blocked!.millis).toBeGreaterThanOrEqual(1000)
    expect(RunContext.takeBlocked()).toBeUndefined()
  }))

it.effect("a fiber a run wakes up does not take the run's context along, nor do its timers", () =>
  Effect.gen(function*() {
    const woken = yield* Deferred.make<void>()
    const seen: Array<RunContext.RunTag | undefined> = []
    const job = Job.make({ name: "waker", schedule: "* * * * * *", run: Deferred.succeed(woken, undefined) })
    yield* TestClock.setTime(T0)
    yield* Effect.gen(function*() {
      const waiter = yield* Effect.fork(
        Deferred.await(woken).pipe(Effect.zipRight(Effect.sync(() => {
          seen.push(RunContext.current())
          setTimeout(() => seen.push(RunContext.current()), 0)
        })))
      )
      yield* Worker.start([job])
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiter)
      yield* realTick
    }).pipe(Effect.provide(Worker.layerTest()))
    expect(seen).toEqual([undefined, undefined])
  }))
