/**
 * No holes in the history: slots that fall due while the run store is unreachable are recorded once it answers
 * again (skipped, `store_unavailable`), and the job's catch-up policy applies to them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as Job from "../src/Job.js"
import * as RunContext from "../src/RunContext.js"
import * as RunStore from "../src/RunStore.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { captureLogs, history, T0 } from "./utils.js"

/** A memory store that fails like an unreachable database while `down.value` is set. */
const flakyStore = (down: { value: boolean }) =>
  Layer.effect(
    RunStore.RunStore,
    Effect.map(RunStore.makeMemory(), (memory) => {
      const guard = <A>(effect: Effect.Effect<A>) =>
        Effect.suspend(() => (down.value ? Effect.die(new Error("connect ECONNREFUSED 127.0.0.1:5432")) : effect))
      return {
        ...memory,
        claim: (claim) => guard(memory.claim(claim)),
        finish: (runId, outcome) => guard(memory.finish(runId, outcome)),
        lastSlots: (jobs) => guard(memory.lastSlots(jobs))
      } satisfies RunStore.RunStoreShape
    })
  )

const layer = (down: { value: boolean }) =>
  Scheduler.Default.pipe(
    Layer.provideMerge(flakyStore(down)),
    Layer.provideMerge(WorkerConfig.layerWith({ shutdownTimeout: Duration.zero })),
    Layer.provideMerge(RunContext.layer)
  )

const SECOND = 1000

describe("the run store unreachable", () => {
  it.effect.each(
    [
      ["latest", 1],
      ["skip", 0],
      ["all", 5]
    ] as const
  )("catch-up %s: the slots of the outage are recorded when it answers again, %i run", ([policy, runs]) => {
    const down = { value: false }
    const logs = captureLogs()
    return Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      yield* Worker.start([
        Job.make({ name: "every-second", schedule: "* * * * * *", catchUp: policy, run: Effect.void })
      ])
      yield* TestClock.adjust("2 seconds") // slots T0+1s, T0+2s run
      down.value = true
      yield* TestClock.adjust("5 seconds") // T0+3s … T0+7s: the store is down
      down.value = false
      yield* TestClock.adjust("3 seconds") // it answers again: T0+8s … T0+10s run, the outage is mended
      const records = yield* history("every-second")
      const bySlot = new Map(records.map((r) => [r.nominalAt.getTime() - T0, r]))
      // Every slot has its one record: no hole.
      expect([...bySlot.keys()].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 10 }, (_, i) => (i + 1) * SECOND)
      )
      expect(records).toHaveLength(10)
      const outage = [3, 4, 5, 6, 7].map((s) => bySlot.get(s * SECOND)!)
      const caughtUp = outage.filter((r) => r.reason === "catch-up")
      expect(caughtUp).toHaveLength(runs)
      expect(caughtUp.every((r) => r.status === "succeeded")).toBe(true)
      const missed = outage.filter((r) => r.status === "skipped")
      expect(missed).toHaveLength(5 - runs)
      expect(missed.every((r) => r.skipReason === "store_unavailable")).toBe(true)
      if (policy === "latest") expect(caughtUp[0]!.nominalAt.getTime()).toBe(T0 + 7 * SECOND)
      expect(logs.withMessage("job missed slots while the run store was unavailable")).toHaveLength(1)
    }).pipe(Effect.provide(layer(down)), Effect.provide(logs.layer))
  })
})
