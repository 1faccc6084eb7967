/**
 * The batcher behind claims and outcomes on PostgreSQL: requests made
 * together reach `run` in one call, in order, each getting its own result;
 * a failure of the call reaches every request of the batch.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Batcher from "../src/Batcher.js"

const options = { maxSize: 1000, minWaitMillis: 5, maxWaitMillis: 50 }

describe("Batcher", () => {
  it.scopedLive("requests made together go in one call, each with its own result, in order", () =>
    Effect.gen(function*() {
      const calls: Array<ReadonlyArray<number>> = []
      const submit = yield* Batcher.make(
        (items: ReadonlyArray<number>) => Effect.sync(() => (calls.push(items), items.map((n) => n * 10))),
        options
      )
      const results = yield* Effect.all(Array.from({ length: 50 }, (_, i) => submit(i)), { concurrency: "unbounded" })
      expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i * 10))
      expect(calls).toEqual([Array.from({ length: 50 }, (_, i) => i)])
    }))

  it.scopedLive("requests a little apart in time, within the minimum window, still share a call", () =>
    Effect.gen(function*() {
      const calls: Array<ReadonlyArray<string>> = []
      const submit = yield* Batcher.make(
        (items: ReadonlyArray<string>) => Effect.sync(() => (calls.push(items), items)),
        options
      )
      const late = Effect.zipRight(
        Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2))),
        submit("late")
      )
      yield* Effect.all([submit("early"), late], { concurrency: "unbounded" })
      expect(calls).toEqual([["early", "late"]])
    }))

  it.scopedLive("requests after a batch has gone make the next batch; maxSize caps a batch", () =>
    Effect.gen(function*() {
      const calls: Array<ReadonlyArray<number>> = []
      const submit = yield* Batcher.make(
        (items: ReadonlyArray<number>) => Effect.sync(() => (calls.push([...items]), items)),
        { ...options, maxSize: 2 }
      )
      yield* submit(1)
      yield* submit(2)
      expect(calls).toEqual([[1], [2]])
      const results = yield* Effect.all([3, 4, 5, 6, 7].map(submit), { concurrency: "unbounded" })
      expect(results).toEqual([3, 4, 5, 6, 7])
      expect(calls.slice(2)).toEqual([[3, 4], [5, 6], [7]])
    }))

  it.scopedLive("a failed call fails every request of its batch; a call returning too few results is a defect", () =>
    Effect.gen(function*() {
      const failing = yield* Batcher.make((_: ReadonlyArray<number>) => Effect.fail("database down"), options)
      const exits = yield* Effect.all([failing(1), failing(2)].map(Effect.exit), { concurrency: "unbounded" })
      expect(exits).toEqual([Exit.fail("database down"), Exit.fail("database down")])
      const short = yield* Batcher.make((items: ReadonlyArray<number>) => Effect.succeed(items.slice(1)), options)
      const [first, second] = yield* Effect.all([short(1), short(2)].map(Effect.exit), { concurrency: "unbounded" })
      expect(Exit.isSuccess(first!)).toBe(true)
      expect(Exit.isFailure(second!) && Exit.isFailure(second) ? String(second.cause) : "").toContain("too few results")
    }))
})
