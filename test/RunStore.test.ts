import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as RunStore from "../src/RunStore.js"

const claim = (runId: string, job: string, nominal: number, reason: "scheduled" | "manual" = "scheduled") => ({
  runId,
  job,
  nominalAt: new Date(nominal),
  reason,
  instance: "test",
  at: new Date(nominal),
  leaseSeconds: 30
})

describe("RunStore.layerMemory", () => {
  it.effect("a slot is claimed once; manual runs are never refused", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      expect((yield* store.claim(claim("a", "job", 1000)))._tag).toBe("Claimed")
      expect((yield* store.claim(claim("b", "job", 1000)))._tag).toBe("Taken")
      expect((yield* store.claim(claim("c", "other", 1000)))._tag).toBe("Claimed")
      expect((yield* store.claim(claim("d", "job", 1000, "manual")))._tag).toBe("Claimed")
    }))

  it.effect("the first outcome wins, and finish says whether it recorded", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      yield* store.claim(claim("a", "job", 1000))
      expect(yield* store.finish("a", { status: "succeeded", attempt: 1, at: new Date(1500) })).toBe(true)
      expect(yield* store.finish("a", { status: "interrupted", attempt: 1, at: new Date(1600) })).toBe(false)
      const record = Option.getOrThrow(yield* store.get("a"))
      expect(record).toMatchObject({ status: "succeeded", durationMs: 500, attempt: 1 })
    }))

  it.effect("evicts the oldest finished records beyond capacity, never a running one", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory({ capacity: 2 })
      yield* store.claim(claim("long", "job", 0))
      for (let i = 1; i <= 5; i++) {
        yield* store.claim(claim(`r${i}`, "job", i * 1000))
        yield* store.finish(`r${i}`, { status: "succeeded", attempt: 1, at: new Date(i * 1000 + 1) })
      }
      expect(yield* store.finish("long", { status: "succeeded", attempt: 1, at: new Date(9000) })).toBe(true)
      const ids = (yield* store.history()).map((r) => r.runId)
      expect(ids).toContain("long")
      expect(ids).toContain("r5")
      expect(ids).not.toContain("r1")
    }))

  it.effect("history is newest first and filters by job", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.makeMemory()
      yield* store.claim(claim("a", "x", 1000))
      yield* store.claim(claim("b", "y", 2000))
      yield* store.claim(claim("c", "x", 3000))
      expect((yield* store.history()).map((r) => r.runId)).toEqual(["c", "b", "a"])
      expect((yield* store.history({ job: "x", limit: 1 })).map((r) => r.runId)).toEqual(["c"])
    }))
})
