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

/** A memory store whose claims, outcomes and probes fail (like an unreachable database) when the predicates say. */
const failingWhere = (
  memory: RunStore.RunStoreShape,
  fails: {
    readonly claim?: (claim: RunStore.Claim) => boolean
    readonly finish?: (runId: string) => boolean
    readonly probe?: () => boolean
  }
): RunStore.RunStoreShape => {
  const down = Effect.die(new Error("connect ECONNREFUSED 127.0.0.1:5432"))
  return {
    ...memory,
    claim: (claim) => Effect.suspend(() => (fails.claim?.(claim) ? down : memory.claim(claim))),
    finish: (runId, outcome) => Effect.suspend(() => (fails.finish?.(runId) ? down : memory.finish(runId, outcome))),
    lastSlots: (jobs) => Effect.suspend(() => (fails.probe?.() ? down : memory.lastSlots(jobs)))
  }
}

const stackOn = (store: RunStore.RunStoreShape) =>
  Scheduler.Default.pipe(
    Layer.provideMerge(Layer.succeed(RunStore.RunStore, store)),
    Layer.provideMerge(WorkerConfig.layerWith({ shutdownTimeout: Duration.zero })),
    Layer.provideMerge(RunContext.layer)
  )

/** The job's records as `[second after T0, reason, status, skipReason]`, by slot. */
const table = (store: RunStore.RunStoreShape, job: string) =>
  Effect.map(
    store.history({ job }),
    (records) =>
      [...records].sort((a, b) => a.nominalAt.getTime() - b.nominalAt.getTime()).map((
        r
      ) => [(r.nominalAt.getTime() - T0) / SECOND, r.reason, r.status, r.skipReason])
  )

describe("the run store failing mid-way", () => {
  it.effect("a catch-up chain (all) stopped by a claim the store failed: that slot and the rest are caught up", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const memory = yield* RunStore.makeMemory()
      const job = Job.make({ name: "chained", schedule: "* * * * * *", catchUp: "all", run: Effect.void })
      yield* TestClock.setTime(T0)
      yield* Worker.start([job]).pipe(Effect.zipRight(TestClock.adjust("1 second")), Effect.provide(stackOn(memory)))
      // Down from T0+1.5s to T0+10.5s: 2 … 10 are caught up, one after another; the claim of 5 fails once.
      let failed = 0
      const store = failingWhere(memory, {
        claim: (claim) => claim.reason === "catch-up" && claim.nominalAt.getTime() === T0 + 5 * SECOND && failed++ === 0
      })
      yield* TestClock.setTime(T0 + 10_500)
      yield* Worker.start([job]).pipe(Effect.zipRight(TestClock.adjust("3 seconds")), Effect.provide(stackOn(store)))
      expect(failed).toBeGreaterThan(0)
      const rows = yield* table(memory, "chained")
      // Every slot has its one record: 2 … 4 ran in the chain, 5 … 10 once the store answered again.
      expect(rows.filter(([s]) => (s as number) <= 10)).toEqual([
        [1, "scheduled", "succeeded", undefined],
        ...Array.from({ length: 9 }, (_, i) => [i + 2, "catch-up", "succeeded", undefined])
      ])
      expect(logs.withMessage("slot not recorded: the run store failed")).toHaveLength(1)
      expect(logs.withMessage("job missed slots while the run store was unavailable").map((e) => e.fields)).toEqual([
        expect.objectContaining({ job: "chained", missed: 6, catch_up: "all", running: 6 })
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a store that fails, answers for a slot, then fails again: each stretch of holes is caught up", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const memory = yield* RunStore.makeMemory()
      // Claims fail for slots 3 and 5; the store is not seen answering again until 6 is due.
      let probing = false
      const store = failingWhere(memory, {
        claim: (claim) => [3, 5].includes((claim.nominalAt.getTime() - T0) / SECOND) && claim.reason === "scheduled",
        probe: () => probing
      })
      yield* TestClock.setTime(T0)
      yield* Worker.start([
        Job.make({ name: "flicker", schedule: "* * * * * *", catchUp: "all", run: Effect.void })
      ]).pipe(
        Effect.zipRight(TestClock.adjust("2500 millis")),
        Effect.zipRight(Effect.sync(() => (probing = true))),
        Effect.zipRight(TestClock.adjust("3 seconds")),
        Effect.zipRight(Effect.sync(() => (probing = false))),
        Effect.zipRight(TestClock.adjust("5 seconds")),
        Effect.provide(stackOn(store))
      )
      const rows = yield* table(memory, "flicker")
      // 4 ran as scheduled between the two holes; 3 and 5 each caught up, neither lost behind 4.
      expect(rows.filter(([s]) => (s as number) <= 6)).toEqual([
        [1, "scheduled", "succeeded", undefined],
        [2, "scheduled", "succeeded", undefined],
        [3, "catch-up", "succeeded", undefined],
        [4, "scheduled", "succeeded", undefined],
        [5, "catch-up", "succeeded", undefined],
        [6, "scheduled", "succeeded", undefined]
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("an outcome the store failed to write leaves the claimed slot its row: no hole, no second run", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const memory = yield* RunStore.makeMemory()
      const runIds: Array<string> = []
      const store = failingWhere(memory, { finish: (runId) => runIds.length === 3 && runIds[2] === runId })
      const spy: RunStore.RunStoreShape = {
        ...store,
        claim: (claim) => Effect.tap(store.claim(claim), () => Effect.sync(() => runIds.push(claim.runId)))
      }
      yield* TestClock.setTime(T0)
      yield* Worker.start([
        Job.make({ name: "unfinished", schedule: "* * * * * *", catchUp: "all", run: Effect.void })
      ]).pipe(Effect.zipRight(TestClock.adjust("6 seconds")), Effect.provide(stackOn(spy)))
      const rows = yield* table(memory, "unfinished")
      // Slot 3's outcome was lost: its row stays (the lease reaper marks it abandoned), and it is not run again.
      expect(rows.filter(([s]) => s === 3)).toEqual([[3, "scheduled", "running", undefined]])
      expect(rows.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6])
      expect(logs.withMessage("run outcome not recorded: the run store failed")).toHaveLength(1)
      expect(logs.withMessage("slot not recorded: the run store failed")).toEqual([])
      expect(logs.withMessage("job missed slots while the run store was unavailable")).toEqual([])
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("a run store slow to take outcomes", () => {
  it.effect.each(["skip", "queue"] as const)(
    "overlap %s, global limit 1: the next slot runs once the work ended, not once its outcome is recorded",
    (overlap) => {
      const logs = captureLogs()
      const slow = { value: true }
      // Each outcome takes 2.5 s to reach the store (a busy database), each run's work none.
      const slowFinish = Layer.effect(
        RunStore.RunStore,
        Effect.map(RunStore.makeMemory(), (memory) => ({
          ...memory,
          finish: (runId, outcome) =>
            slow.value
              ? Effect.zipRight(Effect.sleep("2500 millis"), memory.finish(runId, outcome))
              : memory.finish(runId, outcome)
        } satisfies RunStore.RunStoreShape))
      )
      return Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        yield* Worker.start([Job.make({ name: "every-second", schedule: "* * * * * *", overlap, run: Effect.void })])
        yield* TestClock.adjust("5 seconds") // slots T0+1s … T0+5s
        yield* TestClock.adjust("3 seconds") // their outcomes (and those of T0+6s … T0+8s, on their way) recorded
        const records = (yield* history("every-second")).filter((r) => r.nominalAt.getTime() <= T0 + 5 * SECOND)
        expect(records.map((r) => [r.nominalAt.getTime() - T0, r.status])).toEqual(
          [1, 2, 3, 4, 5].map((s) => [s * SECOND, "succeeded"])
        )
        expect(logs.withMessage("job skipped (previous run still running)")).toEqual([])
        expect(logs.withMessage("job queued (previous run still running)")).toEqual([])
        expect(logs.withMessage("job skipped (max concurrent executions reached)")).toEqual([])
        // The outcomes on their way reach the store, so that shutdown (uninterruptible outcomes) can end.
        slow.value = false
        yield* TestClock.adjust("3 seconds")
      }).pipe(
        Effect.provide(
          Scheduler.Default.pipe(
            Layer.provideMerge(slowFinish),
            Layer.provideMerge(WorkerConfig.layerWith({ shutdownTimeout: Duration.zero, maxConcurrentJobs: 1 })),
            Layer.provideMerge(RunContext.layer)
          )
        ),
        Effect.provide(logs.layer)
      )
    }
  )
})
