import { describe, expect, it } from "@effect/vitest"
import * as Partition from "../src/Partition.js"

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
