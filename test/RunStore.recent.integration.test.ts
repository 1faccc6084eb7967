/**
 * `recent` on the real PostgreSQL (the admin API's `GET /api/jobs?recent=N`): each job's newest runs, newest first
 * by start, at most N, for every job asked for in one statement (counted as the `sql.execute` spans of @effect/sql),
 * however many jobs; and the memory store's answer is the same.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Tracer } from "effect"
import { randomUUID } from "node:crypto"
import * as RunStore from "../src/RunStore.js"
import { servicesAvailable, unique } from "./services.js"
import { suiteDatabase, withPgStore } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const T0 = Date.parse("2026-03-02T08:00:00Z")

/** Records a finished run of `job` started `minute` minutes after T0 (its slot one hour before, so slot ≠ start). */
const record = (store: RunStore.RunStoreShape, job: string, minute: number) =>
  Effect.gen(function*() {
    const runId = randomUUID()
    const at = new Date(T0 + minute * 60_000)
    yield* store.claim({
      runId,
      job,
      nominalAt: new Date(at.getTime() - 3_600_000),
      reason: "manual",
      instance: "instance-a",
      at,
      leaseSeconds: 30
    })
    yield* store.finish(runId, { status: minute % 2 === 0 ? "succeeded" : "failed", attempt: 1, at })
    return runId
  })

/** Runs `effect` with a tracer that counts the statements sent (`sql.execute` spans). */
const countingStatements = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const base = yield* Effect.tracer
    let statements = 0
    const counting = Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        if (name === "sql.execute") statements++
        return base.span(name, parent, context, links, startTime, kind, options)
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    const result = yield* Effect.withTracer(effect, counting)
    return { result, statements }
  })

/** Three jobs: `a` with five runs recorded out of order, `b` with one, `c` with none. */
const scenario = (store: RunStore.RunStoreShape) =>
  Effect.gen(function*() {
    const [a, b, c] = [unique("a"), unique("b"), unique("c")]
    const ids = new Map<number, string>()
    for (const minute of [3, 1, 5, 2, 4]) ids.set(minute, yield* record(store, a, minute))
    const onlyB = yield* record(store, b, 7)
    const { result, statements } = yield* countingStatements(store.recent([a, b, c], 3))
    expect(result.get(a)?.map((r) => r.runId)).toEqual([ids.get(5), ids.get(4), ids.get(3)])
    expect(result.get(a)?.map((r) => r.status)).toEqual(["failed", "succeeded", "failed"])
    expect(result.get(b)?.map((r) => r.runId)).toEqual([onlyB])
    expect(result.get(c) ?? []).toEqual([])
    // The newest run whole, as the history gives it.
    expect(result.get(a)?.[0]).toMatchObject({
      job: a,
      reason: "manual",
      nominalAt: new Date(T0 + 5 * 60_000 - 3_600_000)
    })
    return statements
  })

describe.skipIf(!available)("RunStore.recent on PostgreSQL", () => {
  const db = suiteDatabase()
  const withStore = withPgStore(db)

  it.live("each job's newest runs, newest first by start, at most N, in one statement for all the jobs", () =>
    withStore((store) =>
      Effect.gen(function*() {
        expect(yield* scenario(store)).toBe(1)
        // Forty jobs: still one statement.
        const many = Array.from({ length: 40 }, (_, i) => unique(`job${i}`))
        for (const job of many) yield* record(store, job, 1)
        const { result, statements } = yield* countingStatements(store.recent(many, 5))
        expect(statements).toBe(1)
        expect(many.every((job) => result.get(job)?.length === 1)).toBe(true)
        // Nothing asked for: nothing sent.
        expect((yield* countingStatements(store.recent([], 5))).statements).toBe(0)
      })
    ))
})

describe("RunStore.recent in memory", () => {
  it.effect("the same answer as on PostgreSQL", () =>
    Effect.flatMap(RunStore.makeMemory(), (store) => Effect.asVoid(scenario(store))))
})
