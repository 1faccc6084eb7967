/**
 * The admin API's answers, served in this process (`test/fixtures/admin.ts`) on the memory stores: who is calling
 * (`/api/worker`'s `caller`), the trace viewer (`OTEL_TRACES_URL`) and a run's link to its trace.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { traceLink } from "../src/Admin.js"
import * as RunStore from "../src/RunStore.js"
import { adminLayer, client, VIEWER_TOKEN } from "./fixtures/admin.js"
import { T0 } from "./utils.js"

const TRACE_ID = "0123456789abcdef0123456789abcdef"

/** A finished run of `job`, recorded with `traceId` (if any), straight in the store. */
const recordRun = (job: string, traceId?: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runId = randomUUID()
    const at = new Date(T0)
    yield* store.claim({ runId, job, nominalAt: at, reason: "manual", instance: "test", at, leaseSeconds: 30 })
    yield* store.finish(runId, { status: "succeeded", attempt: 1, at: new Date(T0 + 1000), traceId })
    return runId
  })

describe("GET /api/worker", () => {
  it.scoped("caller is the token used; tracesUrl is OTEL_TRACES_URL, absent when unset", () =>
    Effect.gen(function*() {
      const admin = yield* (yield* client()).worker.info()
      const viewer = yield* (yield* client(VIEWER_TOKEN)).worker.info()
      expect(admin.caller).toBe("admin")
      expect(viewer.caller).toBe("viewer")
      expect(admin.tracesUrl).toBe("http://localhost:16686")
    }).pipe(Effect.provide(adminLayer([], { tracesUrl: Option.some("http://localhost:16686") }))))

  it.scoped("without OTEL_TRACES_URL: no tracesUrl", () =>
    Effect.gen(function*() {
      const info = yield* (yield* client()).worker.info()
      expect(info.tracesUrl).toBeUndefined()
      expect("tracesUrl" in info).toBe(false)
    }).pipe(Effect.provide(adminLayer([]))))
})

describe("GET /api/runs/{runId}: traceUrl", () => {
  it.scoped("<url>/trace/<traceId>; absent for a run without a trace id", () =>
    Effect.gen(function*() {
      const traced = yield* recordRun("job_a", TRACE_ID)
      const untraced = yield* recordRun("job_a")
      const api = yield* client(VIEWER_TOKEN)
      const run = yield* api.runs.get({ path: { runId: traced } })
      expect(run.traceId).toBe(TRACE_ID)
      expect(run.traceUrl).toBe(`http://localhost:16686/trace/${TRACE_ID}`)
      const other = yield* api.runs.get({ path: { runId: untraced } })
      expect(other.traceId).toBeUndefined()
      expect(other.traceUrl).toBeUndefined()
    }).pipe(Effect.provide(adminLayer([], { tracesUrl: Option.some("http://localhost:16686/") }))))

  it.scoped("the {traceId} placeholder is replaced", () =>
    Effect.gen(function*() {
      const runId = yield* recordRun("job_a", TRACE_ID)
      const run = yield* (yield* client()).runs.get({ path: { runId } })
      expect(run.traceUrl).toBe(`https://grafana.example.com/explore?trace=${TRACE_ID}&view=${TRACE_ID}x`)
    }).pipe(
      Effect.provide(
        adminLayer([], {
          tracesUrl: Option.some("https://grafana.example.com/explore?trace={traceId}&view={traceId}x")
        })
      )
    ))

  it.scoped("without OTEL_TRACES_URL: a trace id, no link", () =>
    Effect.gen(function*() {
      const runId = yield* recordRun("job_a", TRACE_ID)
      const run = yield* (yield* client()).runs.get({ path: { runId } })
      expect(run.traceId).toBe(TRACE_ID)
      expect(run.traceUrl).toBeUndefined()
    }).pipe(Effect.provide(adminLayer([]))))

  it("traceLink: Jaeger's path, a trailing slash dropped, or every placeholder replaced", () => {
    expect(traceLink("http://localhost:16686", "abc")).toBe("http://localhost:16686/trace/abc")
    expect(traceLink("http://jaeger:16686/ui/", "abc")).toBe("http://jaeger:16686/ui/trace/abc")
    expect(traceLink("https://t.example.com/{traceId}?q={traceId}", "abc")).toBe("https://t.example.com/abc?q=abc")
  })
})
