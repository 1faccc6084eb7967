/**
 * The admin API's answers, served in this process (`test/fixtures/admin.ts`) on the memory stores: who is calling
 * (`/api/worker`'s `caller`), the trace viewer (`OTEL_TRACES_URL`) and a run's link to its trace; the jobs' `recent`
 * runs, the `source` filter and the schedule in words; the alerts (`GET /api/alerts`) of a history in memory.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { traceLink } from "../src/Admin.js"
import { JobView } from "../src/AdminApi.js"
import * as AlertHistory from "../src/AlertHistory.js"
import * as Job from "../src/Job.js"
import * as Kind from "../src/Kind.js"
import * as RunStore from "../src/RunStore.js"
import { ADMIN_TOKEN, adminLayer, client, get, VIEWER_TOKEN } from "./fixtures/admin.js"
import { T0 } from "./utils.js"

const TRACE_ID = "0123456789abcdef0123456789abcdef"

/** A finished run of `job`, with `traceId` (if any), straight in the store; started `minute` minutes after T0. */
const recordRun = (job: string, traceId?: string, minute = 0) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runId = randomUUID()
    const at = new Date(T0 + minute * 60_000)
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
    }).pipe(Effect.provide(adminLayer({ config: { tracesUrl: Option.some("http://localhost:16686") } }))))

  it.scoped("without OTEL_TRACES_URL: no tracesUrl", () =>
    Effect.gen(function*() {
      const info = yield* (yield* client()).worker.info()
      expect(info.tracesUrl).toBeUndefined()
      expect("tracesUrl" in info).toBe(false)
    }).pipe(Effect.provide(adminLayer())))
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
    }).pipe(Effect.provide(adminLayer({ config: { tracesUrl: Option.some("http://localhost:16686/") } }))))

  it.scoped("the {traceId} placeholder is replaced", () =>
    Effect.gen(function*() {
      const runId = yield* recordRun("job_a", TRACE_ID)
      const run = yield* (yield* client()).runs.get({ path: { runId } })
      expect(run.traceUrl).toBe(`https://grafana.example.com/explore?trace=${TRACE_ID}&view=${TRACE_ID}x`)
    }).pipe(
      Effect.provide(
        adminLayer({
          config: { tracesUrl: Option.some("https://grafana.example.com/explore?trace={traceId}&view={traceId}x") }
        })
      )
    ))

  it.scoped("without OTEL_TRACES_URL: a trace id, no link", () =>
    Effect.gen(function*() {
      const runId = yield* recordRun("job_a", TRACE_ID)
      const run = yield* (yield* client()).runs.get({ path: { runId } })
      expect(run.traceId).toBe(TRACE_ID)
      expect(run.traceUrl).toBeUndefined()
    }).pipe(Effect.provide(adminLayer())))

  it("traceLink: Jaeger's path, a trailing slash dropped, or every placeholder replaced", () => {
    expect(traceLink("http://localhost:16686", "abc")).toBe("http://localhost:16686/trace/abc")
    expect(traceLink("http://jaeger:16686/ui/", "abc")).toBe("http://jaeger:16686/ui/trace/abc")
    expect(traceLink("https://t.example.com/{traceId}?q={traceId}", "abc")).toBe("https://t.example.com/abc?q=abc")
  })
})

const weekly = Job.make({ name: "weekly", schedule: "0 8 * * 1", run: Effect.void })
const often = Job.make({ name: "often", schedule: "*/5 * * * *", timezone: "Europe/Paris", run: Effect.void })
const note = Kind.make({ name: "note", payload: Schema.Struct({}), run: () => Effect.void })

describe("GET /api/jobs: recent, source, scheduleInWords", () => {
  const layer = adminLayer({ jobs: [weekly, often], kinds: [note] })

  it.scoped("recent: each job's newest N runs, newest first by start; absent when 0 or not asked for", () =>
    Effect.gen(function*() {
      // Recorded out of order: the answer is by start, not by when they were recorded.
      const w3 = yield* recordRun("weekly", undefined, 3)
      const w1 = yield* recordRun("weekly", undefined, 1)
      const w4 = yield* recordRun("weekly", undefined, 4)
      yield* recordRun("weekly", undefined, 2)
      const o1 = yield* recordRun("often", undefined, 1)
      const api = yield* client(VIEWER_TOKEN)
      const listed = yield* api.jobs.list({ urlParams: { recent: 2 } })
      const byName = new Map(listed.map((job) => [job.name, job]))
      expect(byName.get("weekly")?.recent?.map((r) => r.runId)).toEqual([w4, w3])
      expect(byName.get("often")?.recent).toEqual([
        { runId: o1, status: "succeeded", nominalAt: new Date(T0 + 60_000), reason: "manual" }
      ])
      const one = yield* api.jobs.get({ path: { name: "weekly" }, urlParams: { recent: 50 } })
      expect(one.recent?.map((r) => r.runId)).toEqual([w4, w3, expect.any(String), w1])
      for (const urlParams of [{}, { recent: 0 }]) {
        for (const job of yield* api.jobs.list({ urlParams })) expect("recent" in job).toBe(false)
        expect("recent" in (yield* api.jobs.get({ path: { name: "weekly" }, urlParams }))).toBe(false)
      }
    }).pipe(Effect.provide(layer)))

  it.scoped("source: only the code's jobs, or only the schedules created at run time; both by default", () =>
    Effect.gen(function*() {
      const api = yield* client()
      yield* api.schedules.create({ payload: { kind: "note", expression: "@hourly", id: "n1", payload: {} } })
      const names = (jobs: ReadonlyArray<{ readonly name: string }>) => jobs.map((j) => j.name).sort()
      expect(names(yield* api.jobs.list({ urlParams: {} }))).toEqual(["often", "schedule:n1", "weekly"])
      expect(names(yield* api.jobs.list({ urlParams: { source: "code" } }))).toEqual(["often", "weekly"])
      const schedules = yield* api.jobs.list({ urlParams: { source: "schedule", recent: 5 } })
      expect(names(schedules)).toEqual(["schedule:n1"])
      expect(schedules[0]?.recent).toEqual([])
    }).pipe(Effect.provide(layer)))

  it.scoped("name filters (case-insensitive); limit and after page by name; without them, registration order", () =>
    Effect.gen(function*() {
      const api = yield* client()
      for (const id of ["c", "a", "b", "Weekly-digest"]) {
        yield* api.schedules.create({ payload: { kind: "note", expression: "@hourly", id, payload: {} } })
      }
      const names = (jobs: ReadonlyArray<{ readonly name: string }>) => jobs.map((j) => j.name)
      expect(names(yield* api.jobs.list({ urlParams: {} }))).toEqual([
        "weekly",
        "often",
        "schedule:c",
        "schedule:a",
        "schedule:b",
        "schedule:Weekly-digest"
      ])
      expect(names(yield* api.jobs.list({ urlParams: { name: "WEEK" } }))).toEqual(["weekly", "schedule:Weekly-digest"])
      const first = yield* api.jobs.list({ urlParams: { limit: 2 } })
      expect(names(first)).toEqual(["often", "schedule:Weekly-digest"])
      const second = yield* api.jobs.list({ urlParams: { limit: 2, after: "schedule:Weekly-digest" } })
      expect(names(second)).toEqual(["schedule:a", "schedule:b"])
      const last = yield* api.jobs.list({ urlParams: { limit: 2, after: "schedule:b" } })
      expect(names(last)).toEqual(["schedule:c", "weekly"])
      expect(yield* api.jobs.list({ urlParams: { limit: 2, after: "weekly" } })).toEqual([])
      expect(names(yield* api.jobs.list({ urlParams: { source: "schedule", after: "schedule:a" } }))).toEqual(
        [
          "schedule:Weekly-digest",
          "schedule:b",
          "schedule:c"
        ].filter((n) => n > "schedule:a").sort()
      )
      const bad = yield* get("/api/jobs?limit=0")
      expect(bad.status).toBe(400)
      expect(JSON.stringify(bad.body)).toContain("limit")
    }).pipe(Effect.provide(layer)))

  it.scoped("scheduleInWords: the schedule in words in its zone, as /api/preview describes it", () =>
    Effect.gen(function*() {
      const api = yield* client()
      const byName = new Map((yield* api.jobs.list({ urlParams: {} })).map((job) => [job.name, job]))
      expect(byName.get("weekly")?.scheduleInWords).toBe("at 08:00 on Monday, UTC")
      // A shape not put in words: as written, with its zone.
      expect(byName.get("often")?.scheduleInWords).toBe("*/5 * * * *, Europe/Paris")
      const preview = yield* api.schedules.preview({ payload: { expression: "0 8 * * 1", timezone: "UTC" } })
      expect(byName.get("weekly")?.scheduleInWords).toBe(preview.description)
    }).pipe(Effect.provide(layer)))

  it.scoped("the list's body is what JobView's encoder writes (the handler sends its views as JSON, unencoded)", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      yield* recordRun("weekly", TRACE_ID, 1)
      const failed = randomUUID()
      const at = new Date(T0 + 2 * 60_000)
      yield* store.claim({
        runId: failed,
        job: "weekly",
        nominalAt: at,
        reason: "scheduled",
        instance: "i",
        at,
        leaseSeconds: 30
      })
      yield* store.finish(failed, { status: "failed", attempt: 2, at: new Date(at.getTime() + 1500), error: "boom" })
      yield* store.pause("weekly", "maintenance", new Date(T0), "api:admin", new Date(T0 + 3_600_000))
      yield* recordRun("often", undefined, 3)
      const http = yield* HttpClient.HttpClient
      for (const path of ["/api/jobs?recent=3", "/api/jobs?limit=1&recent=2", "/api/jobs"]) {
        const response = yield* http.execute(
          HttpClientRequest.get(path).pipe(HttpClientRequest.bearerToken(ADMIN_TOKEN))
        )
        expect(response.status).toBe(200)
        expect(response.headers["content-type"]).toBe("application/json")
        const text = yield* response.text
        const schema = Schema.Array(JobView)
        const encoded = JSON.stringify(Schema.encodeSync(schema)(Schema.decodeUnknownSync(schema)(JSON.parse(text))))
        expect(text).toBe(encoded)
      }
      const [weeklyView] = yield* (yield* client()).jobs.list({ urlParams: { name: "weekly", recent: 1 } })
      expect(weeklyView?.paused?.by).toBe("api:admin")
      expect(weeklyView?.lastRun?.error).toBe("boom")
    }).pipe(Effect.provide(layer)))

  it.scoped("a bad recent or source is a 400 naming the parameter", () =>
    Effect.gen(function*() {
      const tooMany = yield* get("/api/jobs?recent=51")
      expect(tooMany.status).toBe(400)
      expect(JSON.stringify(tooMany.body)).toContain("recent")
      const source = yield* get("/api/jobs?source=elsewhere")
      expect(source.status).toBe(400)
      expect(JSON.stringify(source.body)).toContain("source")
      expect((yield* get("/api/jobs/weekly?recent=-1")).status).toBe(400)
    }).pipe(Effect.provide(layer)))
})

/** Alerts of a store in memory, as the evaluator records them: `since` minutes after T0, resolved or not. */
const alertRows: ReadonlyArray<AlertHistory.MemoryRow> = [
  { rule: "consecutive_failures", job: "weekly", since: new Date(T0 + 60_000), detail: "3 failed runs in a row" },
  {
    rule: "overdue",
    job: "weekly",
    since: new Date(T0 + 120_000),
    resolvedAt: new Date(T0 + 180_000),
    detail: "no success for 900 s"
  },
  { rule: "instance_lost", job: "", since: new Date(T0 + 240_000), detail: "1 instances alive, 2 in the last 15m" },
  { rule: "missed_slots", job: "often", since: new Date(T0), resolvedAt: new Date(T0 + 30_000), detail: "2 missed" }
]

describe("GET /api/alerts", () => {
  const layer = adminLayer({ jobs: [weekly, often], extra: AlertHistory.layerMemory(alertRows) })

  it.scoped("active by default, resolved, all; filtered by job; newest since first", () =>
    Effect.gen(function*() {
      const api = yield* client(VIEWER_TOKEN)
      const rules = (alerts: ReadonlyArray<{ readonly rule: string }>) => alerts.map((a) => a.rule)
      const active = yield* api.alerts.list({ urlParams: {} })
      expect(rules(active)).toEqual(["instance_lost", "consecutive_failures"])
      expect(active[1]).toEqual({
        id: 1,
        rule: "consecutive_failures",
        job: "weekly",
        since: new Date(T0 + 60_000),
        detail: "3 failed runs in a row"
      })
      expect("resolvedAt" in active[1]!).toBe(false)
      expect(rules(yield* api.alerts.list({ urlParams: { state: "active" } }))).toEqual(rules(active))
      const resolved = yield* api.alerts.list({ urlParams: { state: "resolved" } })
      expect(rules(resolved)).toEqual(["overdue", "missed_slots"])
      expect(resolved[0]?.resolvedAt).toEqual(new Date(T0 + 180_000))
      expect(rules(yield* api.alerts.list({ urlParams: { state: "all" } }))).toEqual([
        "instance_lost",
        "overdue",
        "consecutive_failures",
        "missed_slots"
      ])
      expect(rules(yield* api.alerts.list({ urlParams: { state: "all", job: "weekly" } }))).toEqual([
        "overdue",
        "consecutive_failures"
      ])
      expect(rules(yield* api.alerts.list({ urlParams: { state: "all", limit: 2 } }))).toEqual([
        "instance_lost",
        "overdue"
      ])
      expect(yield* api.alerts.list({ urlParams: { job: "nothing" } })).toEqual([])
    }).pipe(Effect.provide(layer)))

  it.scoped("a bad state or limit is a 400 naming the parameter", () =>
    Effect.gen(function*() {
      const state = yield* get("/api/alerts?state=firing")
      expect(state.status).toBe(400)
      expect(JSON.stringify(state.body)).toContain("state")
      const limit = yield* get("/api/alerts?limit=501")
      expect(limit.status).toBe(400)
      expect(JSON.stringify(limit.body)).toContain("limit")
    }).pipe(Effect.provide(layer)))

  it.scoped("a worker without an alert history answers an empty list", () =>
    Effect.gen(function*() {
      expect(yield* (yield* client()).alerts.list({ urlParams: { state: "all" } })).toEqual([])
    }).pipe(Effect.provide(adminLayer({ jobs: [weekly] }))))
})
