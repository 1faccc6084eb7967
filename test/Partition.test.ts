import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import * as Partition from "../src/Partition.js"
import type { RunStoreShape } from "../src/RunStore.js"

const jobs = Array.from({ length: 3000 }, (_, i) => `job-${i}`)

describe("Partition: the owner of a job among the live instances (rendezvous hashing)", () => {
  it("splits jobs about evenly, the same on every instance whatever the order of the members", () => {
    const members = ["bench-0", "bench-1", "bench-2"]
    const counts = new Map<string, number>()
    for (const job of jobs) {
      const owner = Partition.owner(job, members)!
      expect(Partition.owner(job, [...members].reverse())).toBe(owner)
      counts.set(owner, (counts.get(owner) ?? 0) + 1)
    }
    expect([...counts.keys()].sort()).toEqual(members)
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(150)
  })

  it("an instance that leaves moves only its own share; one that joins takes only a share", () => {
    const three = ["a:1", "b:2", "c:3"]
    const two = ["a:1", "c:3"]
    let moved = 0
    for (const job of jobs) {
      const before = Partition.owner(job, three)
      const after = Partition.owner(job, two)
      if (before !== "b:2") expect(after).toBe(before)
      else moved++
    }
    expect(moved).toBeGreaterThan(800)
    // Joining is the same move backwards: a job changes owner only to the new instance.
    for (const job of jobs) {
      const after = Partition.owner(job, three)
      if (after !== "b:2") expect(after).toBe(Partition.owner(job, two))
    }
  })

  it("no members, no owner; one member owns all", () => {
    expect(Partition.owner("job", [])).toBeUndefined()
    expect(Partition.owner("job", ["only"])).toBe("only")
  })
})

describe("Partition: slots of other instances' jobs", () => {
  /** A job that `other` owns when the live instances are `me` and `other`. */
  const ofOther = jobs.find((job) => Partition.owner(job, ["me", "other"]) === "other")!
  const fakeStore = (
    live: Ref.Ref<ReadonlyArray<string>>,
    unclaimed: (call: number) => Effect.Effect<Array<number>>
  ) => {
    let calls = 0
    return {
      shared: true,
      partition: {
        live: Ref.get(live),
        unclaimed: (names: ReadonlyArray<string>) =>
          Effect.map(unclaimed(calls++), (free) => free.slice(0, names.length))
      }
    } as unknown as RunStoreShape
  }
  const make = (store: RunStoreShape, takenOver: Array<number>, missed: Array<number>) =>
    Effect.flatMap(Effect.clock, (clock) =>
      Partition.make<{ readonly name: string }>({
        store,
        instance: "me",
        enabled: true,
        clock,
        closed: () => false,
        takeOver: (_, nominal) => void takenOver.push(nominal),
        missed: (_, nominal) => void missed.push(nominal)
      }))

  it.scoped("a slot is looked at between whole seconds, away from the burst of claims at each second", () =>
    Effect.gen(function*() {
      // The owner (not live: it left) claimed nothing; the slot of 0 is asked about once, at 1.5 s.
      const live = yield* Ref.make<ReadonlyArray<string>>(["me"])
      const asked: Array<number> = []
      const store = fakeStore(
        live,
        () =>
          Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => {
            asked.push(now)
            return Effect.succeed([0])
          })
      )
      const takenOver: Array<number> = []
      const partition = yield* make(store, takenOver, [])
      partition.defer({ name: ofOther }, 0)
      yield* TestClock.adjust("1 second")
      expect(asked).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(asked).toEqual([1500])
      expect(takenOver).toEqual([0])
    }))

  it.scoped("a slot the store could not answer for is asked about again, not dropped", () =>
    Effect.gen(function*() {
      const live = yield* Ref.make<ReadonlyArray<string>>(["me"])
      // Its owner is not among the live instances (it left): the job is this instance's now. The first question
      // fails (a defect, as the store's failures are).
      const store = fakeStore(live, (call) => call === 0 ? Effect.dieMessage("connection lost") : Effect.succeed([0]))
      const takenOver: Array<number> = []
      const missed: Array<number> = []
      const partition = yield* make(store, takenOver, missed)
      partition.defer({ name: ofOther }, 0)
      // Past the grace: asked, and the store failed.
      yield* TestClock.adjust(Partition.GRACE_MILLIS + 100)
      expect(takenOver).toEqual([])
      // Asked again a second later.
      yield* TestClock.adjust("1100 millis")
      expect(takenOver).toEqual([0])
      expect(missed).toEqual([])
    }))

  it.scoped("a slot found unclaimed too late to run (this instance was behind) is recorded missed, not run", () =>
    Effect.gen(function*() {
      const live = yield* Ref.make<ReadonlyArray<string>>(["me"])
      const store = fakeStore(live, () => Effect.succeed([0]))
      const takenOver: Array<number> = []
      const missed: Array<number> = []
      const partition = yield* make(store, takenOver, missed)
      yield* TestClock.adjust("10 seconds")
      // Noted 10 s after its instant: its grace long past.
      partition.defer({ name: ofOther }, 0)
      yield* TestClock.adjust("100 millis")
      expect(takenOver).toEqual([])
      expect(missed).toEqual([0])
    }))
})

describe("Partition.deferBehind: the slots of another instance's job this process woke past", () => {
  const job = { name: "every-second" }
  const next = (at: number) => (Math.floor(at / 1000) + 1) * 1000
  const noted = (after: number, now: number) => {
    const slots: Array<number> = []
    Partition.deferBehind({ mine: () => false, defer: (_, nominal) => slots.push(nominal) }, job, next, after, now)
    return slots
  }

  it("notes each slot after `after` up to `now`, oldest first", () => {
    expect(noted(0, 3000)).toEqual([1000, 2000, 3000])
    expect(noted(500, 2999)).toEqual([1000, 2000])
  })

  it("notes only the newest ten when it woke past more: the owner has the rest", () => {
    expect(noted(0, 60_000)).toEqual(Array.from({ length: 10 }, (_, i) => 51_000 + i * 1000))
  })
})
