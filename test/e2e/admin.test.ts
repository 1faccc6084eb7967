/**
 * End to end: the admin API of a running `dist/main.js`, through the typed
 * client that the same `HttpApi` definition gives (`HttpApiClient`), and raw
 * HTTP where the status code is the point: 401 without a token or with a
 * wrong one, 403 for the viewer token on a change, 400 and 404 named; pause
 * and resume seen in the job and in the audit trail; a triggered run in the
 * history, paged by cursor; previews; the OpenAPI document; a token made and
 * kept with mode 0600 when none is configured.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdminApi } from "../../src/AdminApi.js"
import { freePort, servicesAvailable } from "../services.js"
import { fixture, MAIN, type Proc, runNode, sleep, type Spawn, test } from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

/** The worker's own job: quick, and harmless to run now. */
const MAINTENANCE = "cron_worker.maintenance"
const ADMIN = "admin-token-of-the-e2e-suite-0123456789"
const VIEWER = "viewer-token-of-the-e2e-suite-0123456789"

/**
 * How long a worker may take to start: the tests run side by side, so several start at once (each connects to and
 * migrates a database of its own) beside the other test files.
 */
const START_MS = 60_000

const worker = async (
  spawn: Spawn,
  env: Record<string, string> = { ADMIN_TOKEN: ADMIN, VIEWER_TOKEN: VIEWER },
  script = MAIN
) => {
  const port = await freePort()
  const proc = await spawn(script, [], { env: { HTTP_PORT: String(port), ...env } })
  await proc.waitFor("worker started successfully", undefined, START_MS)
  return { proc, base: `http://127.0.0.1:${port}` }
}

/** The typed client, with `token` on every request. */
const client = (base: string, token: string) =>
  HttpApiClient.make(AdminApi, {
    baseUrl: base,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  }).pipe(Effect.provide(FetchHttpClient.layer))

const status = async (base: string, path: string, init: RequestInit = {}) => {
  const response = await fetch(`${base}${path}`, init)
  // The body as sent, to look into: what the typed client would refuse to decode is the point here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: response.status, body: await response.json().catch(() => undefined) as any }
}

const bearer = (token: string, body?: unknown): RequestInit => ({
  method: body === undefined ? "GET" : "POST",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  ...(body === undefined ? {} : { body: JSON.stringify(body) })
})

const noSecrets = (proc: Proc, ...secrets: ReadonlyArray<string>) => {
  for (const secret of secrets) expect(proc.output()).not.toContain(secret)
}

// Every test has a worker (or two) of its own, on a port and a database of its own: they run side by side.
describe.skipIf(!postgres).concurrent("admin API of a running worker", () => {
  test(
    "tokens: 401 without or with a wrong one, the viewer reads, only the admin changes (403)",
    { timeout: 120_000 },
    async ({ spawn }) => {
      const { base, proc } = await worker(spawn)
      expect((await status(base, "/api/jobs")).status).toBe(401)
      expect((await status(base, "/api/jobs", bearer("not-a-token-of-this-worker"))).status).toBe(401)
      expect((await status(base, "/api/runs", bearer(`${ADMIN}x`))).status).toBe(401)
      const listed = await Effect.runPromise(
        Effect.flatMap(client(base, VIEWER), (api) => api.jobs.list({ urlParams: {} }))
      )
      expect(listed.map((job) => job.name)).toEqual(["database_cleanup", "report_generator", "cron_worker.maintenance"])
      expect(listed.every((job) => job.source === "code" && job.nextRuns.length === 3)).toBe(true)
      const denied = await status(base, "/api/jobs/report_generator/pause", bearer(VIEWER, { reason: "no" }))
      expect(denied.status).toBe(403)
      expect(denied.body._tag).toBe("Forbidden")
      expect((await status(base, "/api/jobs/report_generator/trigger", bearer(VIEWER, {}))).status).toBe(403)
      noSecrets(proc, ADMIN, VIEWER)
    }
  )

  test(
    "pause and resume: seen in the job, recorded in the audit trail with the token's name",
    { timeout: 120_000 },
    async ({ spawn }) => {
      const { base, proc } = await worker(spawn)
      const result = await Effect.runPromise(Effect.gen(function*() {
        const api = yield* client(base, ADMIN)
        const paused = yield* api.jobs.pause({ path: { name: "report_generator" }, payload: { reason: "ticket 42" } })
        const seen = yield* api.jobs.get({ path: { name: "report_generator" }, urlParams: { next: 5 } })
        // Paused twice: the first pause stays, nothing more is recorded.
        yield* api.jobs.pause({ path: { name: "report_generator" }, payload: { reason: "again" } })
        const resumed = yield* api.jobs.resume({ path: { name: "report_generator" } })
        const audit = yield* api.audit.list({ urlParams: {} })
        return { paused, seen, resumed, audit }
      }))
      expect(result.paused.paused).toMatchObject({ reason: "ticket 42", by: "api:admin" })
      expect(result.seen.paused?.reason).toBe("ticket 42")
      expect(result.seen.nextRuns).toHaveLength(5)
      expect(result.resumed.paused).toBeUndefined()
      expect(result.audit.map((entry) => [entry.action, entry.target, entry.token])).toEqual([
        ["resume", "job:report_generator", "admin"],
        ["pause", "job:report_generator", "admin"]
      ])
      expect(result.audit[1]!.after).toMatchObject({ paused: { reason: "ticket 42" } })
      // A pause that ends by itself; one that would end in the past is refused.
      const until = new Date(Date.now() + 2 * 3_600_000)
      const timed = await status(
        base,
        "/api/jobs/database_cleanup/pause",
        bearer(ADMIN, { until: until.toISOString() })
      )
      expect(timed.status).toBe(200)
      expect(timed.body.paused.until).toBe(until.toISOString())
      const past = await status(
        base,
        "/api/jobs/report_generator/pause",
        bearer(ADMIN, { until: "2020-01-01T00:00:00Z" })
      )
      expect(past.status).toBe(400)
      expect(past.body.message).toContain("not in the future")
      const missing = await status(base, "/api/jobs/no_such_job/pause", bearer(ADMIN, {}))
      expect(missing).toMatchObject({ status: 404, body: { _tag: "NotFound" } })
      expect((await status(base, "/api/jobs/no_such_job", bearer(VIEWER))).status).toBe(404)
      const tooLong = await status(
        base,
        "/api/jobs/cron_worker.maintenance/pause",
        bearer(ADMIN, { reason: "x".repeat(501) })
      )
      expect(tooLong.status).toBe(400)
      expect(tooLong.body.message).toContain("500")
      noSecrets(proc, ADMIN, VIEWER)
    }
  )

  test(
    "trigger: the run's outcome, then the run in the history, paged by cursor",
    { timeout: 120_000 },
    async ({ spawn }) => {
      const { base } = await worker(spawn)
      const result = await Effect.runPromise(Effect.gen(function*() {
        const api = yield* client(base, ADMIN)
        const runs = []
        for (let i = 0; i < 3; i++) runs.push(yield* api.jobs.trigger({ path: { name: MAINTENANCE }, payload: null }))
        const first = yield* api.runs.list({ urlParams: { job: MAINTENANCE, limit: 2 } })
        const second = yield* api.runs.list({ urlParams: { job: MAINTENANCE, limit: 2, cursor: first.next } })
        const one = yield* api.runs.get({ path: { runId: runs[0]!.runId } })
        const failed = yield* api.runs.list({ urlParams: { job: MAINTENANCE, status: "failed" } })
        return { runs, first, second, one, failed }
      }))
      expect(result.runs.map((run) => [run.reason, run.status])).toEqual([
        ["manual", "succeeded"],
        ["manual", "succeeded"],
        ["manual", "succeeded"]
      ])
      expect(result.first.runs).toHaveLength(2)
      expect(result.first.next).toBeDefined()
      expect(result.second.runs).toHaveLength(1)
      expect(result.second.next).toBeUndefined()
      // Newest first, each run once over the two pages.
      expect([...result.first.runs, ...result.second.runs].map((run) => run.runId)).toEqual(
        result.runs.map((run) => run.runId).reverse()
      )
      expect(result.one.runId).toBe(result.runs[0]!.runId)
      expect(result.failed.runs).toEqual([])
      expect((await status(base, "/api/runs/00000000-0000-0000-0000-000000000000", bearer(ADMIN))).status).toBe(404)
      const badCursor = await status(base, "/api/runs?cursor=nonsense", bearer(ADMIN))
      expect(badCursor.status).toBe(400)
      expect(badCursor.body.message).toContain("cursor")
      expect((await status(base, "/api/runs?limit=0", bearer(ADMIN))).status).toBe(400)
    }
  )

  test(
    "schedules: kinds listed; create (one per key), run with their version, change (409 from a stale version), " +
      "delete; bad input named (400), unknown ids (404), the viewer refused (403); all audited",
    { timeout: 150_000 },
    async ({ spawn }) => {
      const { base, proc } = await worker(spawn)
      const api = await Effect.runPromise(client(base, ADMIN))
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
      const kinds = await run(api.schedules.kinds())
      expect(kinds.map((kind) => kind.name)).toEqual(["user_digest"])
      expect(kinds[0]!.payload).toMatchObject({ type: "object", required: ["userId"] })
      const input = {
        kind: "user_digest",
        expression: "* * * * * *",
        payload: { userId: "00000000-0000-4000-8000-000000000001" },
        key: "digest-user-1",
        note: "every second, for the test"
      }
      const first = await run(api.schedules.create({ payload: input }))
      expect(first.created).toBe(true)
      expect(first.schedule).toMatchObject({ version: 1, state: "active", job: `schedule:${first.schedule.id}` })
      const again = await run(api.schedules.create({ payload: { ...input, expression: "0 0 * * *" } }))
      expect([again.created, again.schedule.id, again.schedule.expression]).toEqual([
        false,
        first.schedule.id,
        "* * * * * *"
      ])
      const id = first.schedule.id
      await proc.waitFor("user digest published")
      const jobs = await run(api.jobs.list({ urlParams: {} }))
      expect(jobs.find((job) => job.name === `schedule:${id}`)?.source).toBe("schedule")
      const changed = await run(api.schedules.update({
        path: { id },
        payload: { ...input, expression: "*/2 * * * * *", version: 1 }
      }))
      expect([changed.version, changed.expression]).toEqual([2, "*/2 * * * * *"])
      const stale = await status(base, `/api/schedules/${id}`, {
        ...bearer(ADMIN, { ...input, version: 1 }),
        method: "PUT"
      })
      expect([stale.status, stale.body._tag]).toEqual([409, "Conflict"])
      expect(stale.body.message).toContain("is at version 2, not 1")
      // Runs of both versions, in the history with their version.
      const deadline = Date.now() + 10_000
      let versions = new Set<number | undefined>()
      while (Date.now() < deadline && versions.size < 2) {
        const page = await run(api.runs.list({ urlParams: { job: `schedule:${id}`, limit: 100 } }))
        versions = new Set(page.runs.map((r) => r.scheduleVersion))
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      expect(versions).toEqual(new Set([1, 2]))

      const badPayload = await status(base, "/api/schedules", bearer(ADMIN, { ...input, key: undefined, payload: {} }))
      expect([badPayload.status, badPayload.body.message]).toEqual([400, "payload.userId: is missing"])
      const badKind = await status(base, "/api/schedules", bearer(ADMIN, { ...input, key: undefined, kind: "nope" }))
      expect([badKind.status, badKind.body.message]).toEqual([
        400,
        "unknown job kind \"nope\"; this worker has user_digest"
      ])
      const badZone = await status(
        base,
        "/api/schedules",
        bearer(ADMIN, { ...input, key: undefined, timezone: "Mars/Base" })
      )
      expect(badZone.status).toBe(400)
      expect(badZone.body.message).toMatch(/^timezone: .*Mars\/Base/)
      const badId = await status(base, "/api/schedules", bearer(ADMIN, { ...input, key: undefined, id: "no spaces" }))
      expect(badId.status).toBe(400)
      expect((await status(base, "/api/schedules/none", bearer(ADMIN))).status).toBe(404)
      expect((await status(base, "/api/schedules", bearer(VIEWER, input))).status).toBe(403)
      expect((await status(base, `/api/schedules/${id}`, { ...bearer(VIEWER), method: "DELETE" })).status).toBe(403)
      expect((await status(base, "/api/schedules", bearer(VIEWER))).status).toBe(200)

      const removed = await run(api.schedules.delete({ path: { id } }))
      expect(removed.id).toBe(id)
      expect((await status(base, `/api/schedules/${id}`, bearer(ADMIN))).status).toBe(404)
      const audit = await run(api.audit.list({ urlParams: {} }))
      expect(audit.filter((e) => e.target === `schedule:${id}`).map((e) => e.action)).toEqual([
        "delete",
        "update",
        "create"
      ])
      noSecrets(proc, ADMIN, VIEWER)
    }
  )

  test(
    "/metrics: every job's series from start-up at zero, with HELP texts; a manual run through the API is counted " +
      "in the worker's, and the shared values (last success, instances, schedules by kind) follow the database",
    { timeout: 150_000 },
    async ({ spawn }) => {
      const { base } = await worker(spawn)
      const scrape = async () => (await fetch(`${base}/metrics`)).text()
      const value = (text: string, series: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`${series} `))
        return line === undefined ? undefined : Number(line.slice(series.length + 1))
      }
      const first = await scrape()
      for (const job of ["database_cleanup", "report_generator", MAINTENANCE]) {
        expect(value(first, `cron_worker_runs_total{job="${job}",status="succeeded"}`), job).toBe(0)
        expect(value(first, `cron_worker_skips_total{job="${job}",reason="overlap"}`), job).toBe(0)
        expect(value(first, `cron_worker_run_duration_seconds_count{job="${job}"}`), job).toBe(0)
        expect(value(first, `cron_worker_next_fire_timestamp_seconds{job="${job}"}`), job).toBeGreaterThan(
          Date.now() / 1000
        )
      }
      expect(first).toContain("# HELP cron_worker_runs_total Slots of each job by outcome")
      expect(first).not.toMatch(/# HELP (\S+) \1\n/)
      const api = await Effect.runPromise(client(base, ADMIN))
      const run = await Effect.runPromise(api.jobs.trigger({ path: { name: MAINTENANCE }, payload: {} }))
      expect(run.status).toBe("succeeded")
      await Effect.runPromise(api.schedules.create({
        payload: { kind: "user_digest", expression: "0 0 1 1 *", payload: { userId: "u" } }
      }))
      const deadline = Date.now() + 30_000
      let text = await scrape()
      while (
        Date.now() < deadline &&
        !(value(text, `cron_worker_last_success_timestamp_seconds{job="${MAINTENANCE}"}`)! > 0 &&
          value(text, `cron_worker_schedules{kind="user_digest"}`) === 1)
      ) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        text = await scrape()
      }
      expect(value(text, `cron_worker_runs_total{job="${MAINTENANCE}",status="succeeded"}`)).toBe(1)
      expect(value(text, `cron_worker_run_duration_seconds_count{job="${MAINTENANCE}"}`)).toBe(1)
      expect(value(text, `cron_worker_last_success_timestamp_seconds{job="${MAINTENANCE}"}`)).toBeCloseTo(
        run.finishedAt!.getTime() / 1000,
        2
      )
      expect(value(text, `cron_worker_consecutive_failures{job="${MAINTENANCE}"}`)).toBe(0)
      expect(value(text, "cron_worker_instances_alive")).toBe(1)
      expect(value(text, `cron_worker_schedules{kind="user_digest"}`)).toBe(1)
    }
  )

  test("preview: the next instants in a zone, or the problem named; the OpenAPI document and the docs page", {
    timeout: 120_000
  }, async ({ spawn }) => {
    const { base } = await worker(spawn)
    const preview = await status(
      base,
      "/api/preview",
      bearer(VIEWER, { expression: "0 8 * * 1", timezone: "America/Sao_Paulo", count: 2 })
    )
    expect(preview.status).toBe(200)
    expect(preview.body.timezone).toBe("America/Sao_Paulo")
    expect(preview.body.description).toBe("at 08:00 on Monday, America/Sao_Paulo")
    expect(preview.body.next).toHaveLength(2)
    // 08:00 in São Paulo (UTC-3, no DST since 2019) is 11:00 UTC, on a Monday.
    for (const instant of preview.body.next) {
      expect(new Date(instant).getUTCHours()).toBe(11)
      expect(new Date(instant).getUTCDay()).toBe(1)
    }
    const bad = await status(base, "/api/preview", bearer(VIEWER, { expression: "0 25 * * *" }))
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain("hour")
    const zone = await status(
      base,
      "/api/preview",
      bearer(VIEWER, { expression: "0 8 * * *", timezone: "Mars/Olympus" })
    )
    expect(zone.status).toBe(400)
    expect(zone.body.message).toContain("Mars/Olympus")
    const payload = await status(base, "/api/preview", bearer(VIEWER, { expression: 5 }))
    expect(payload.status).toBe(400)
    expect(JSON.stringify(payload.body)).toContain("expression")
    const openapi = await status(base, "/api/openapi.json")
    expect(openapi.status).toBe(200)
    expect(openapi.body.openapi).toMatch(/^3\./)
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining([
      "/api/jobs",
      "/api/jobs/{name}",
      "/api/jobs/{name}/pause",
      "/api/jobs/{name}/resume",
      "/api/jobs/{name}/trigger",
      "/api/runs",
      "/api/runs/{runId}",
      "/api/runs/{runId}/cancel",
      "/api/jobs/{name}/backfill",
      "/api/preview",
      "/api/audit"
    ]))
    // The no-wait trigger's 202 and the cancel's 409 are in the document, as the typed client reads them.
    expect(Object.keys(openapi.body.paths["/api/jobs/{name}/trigger"].post.responses)).toEqual(
      expect.arrayContaining(["200", "202", "403", "404"])
    )
    expect(Object.keys(openapi.body.paths["/api/runs/{runId}/cancel"].post.responses)).toEqual(
      expect.arrayContaining(["200", "401", "403", "404", "409"])
    )
    const docs = await fetch(`${base}/api/docs`)
    expect(docs.status).toBe(200)
    const html = await docs.text()
    expect(html).toContain("cron-worker admin API")
    // Every asset is in the page: no script is loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]+src=/)
  })

  test(
    "no token configured: one is made, kept with mode 0600, accepted, never logged",
    { timeout: 120_000 },
    async ({ spawn }) => {
      const { base, proc } = await worker(spawn, {})
      const file = join(proc.cwd, ".data/admin-token")
      expect(statSync(file).mode & 0o777).toBe(0o600)
      const token = readFileSync(file, "utf8").trim()
      expect(token.length).toBeGreaterThanOrEqual(32)
      expect((await status(base, "/api/jobs", bearer(token))).status).toBe(200)
      expect((await status(base, "/api/jobs")).status).toBe(401)
      expect(proc.logs().find((line) => line.msg === "admin token made")).toMatchObject({ file: "./.data/admin-token" })
      noSecrets(proc, token)
    }
  )

  test(
    "the command line beside a running embedded worker goes through its API: history, pause, jobs, run, resume",
    { timeout: 240_000 },
    async ({ onTestFinished, spawn }) => {
      const dir = mkdtempSync(join(tmpdir(), "cw-admin-cli-"))
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
      const port = await freePort()
      // No token set: the worker makes one in ADMIN_TOKEN_FILE, where the command line finds it.
      const env = {
        HTTP_PORT: String(port),
        PGLITE_DATA_DIR: join(dir, "pglite"),
        ADMIN_TOKEN_FILE: join(dir, "admin-token")
      }
      const proc = await spawn(MAIN, [], { database: "none", env })
      // A first start on the embedded database migrates it: 7 s on an idle machine, more beside the other tests.
      await proc.waitFor("worker started successfully", undefined, 2 * START_MS)
      const cli = (...args: ReadonlyArray<string>) => runNode(MAIN, args, { database: "none", env, timeoutMs: 45_000 })
      const printed = (result: { readonly stdout: string }) =>
        result.stdout.split("\n").filter((line) => line !== "" && !line.startsWith("{"))

      const paused = await cli("pause", "report_generator", "--reason", "beside the worker")
      expect(paused.code, paused.output).toBe(0)
      expect(printed(paused)).toEqual([`job "report_generator" paused: beside the worker`])
      const jobs = await cli("jobs", "--json")
      expect(jobs.code, jobs.output).toBe(0)
      const listed = JSON.parse(printed(jobs)[0]!) as Array<{ name: string; paused: boolean | null }>
      expect(listed.find((job) => job.name === "report_generator")?.paused).toBe(true)
      const ran = await cli("run", MAINTENANCE)
      expect(ran.code, ran.output).toBe(0)
      expect(printed(ran)[0]).toMatch(/^job "cron_worker\.maintenance" succeeded in \d+\.\d{2}s \(run [0-9a-f-]{36}\)$/)
      const history = await cli("history", "--json", "--limit", "5")
      expect(history.code, history.output).toBe(0)
      const runs = JSON.parse(printed(history)[0]!) as Array<{ job: string; reason: string; status: string }>
      expect(runs[0]).toMatchObject({ job: MAINTENANCE, reason: "manual", status: "succeeded" })
      const resumed = await cli("resume", "report_generator")
      expect(printed(resumed)).toEqual([`job "report_generator" resumed`])
      // The run happened in the worker: its log says so.
      await proc.waitFor("job completed successfully", (line) => line.job === MAINTENANCE)
      noSecrets(proc, readFileSync(env.ADMIN_TOKEN_FILE, "utf8").trim())
    }
  )

  /** A worker of one job, `sleepy-1`, whose runs take `sleepMs` (`test/fixtures/sleepy-worker.mjs`). */
  const sleepy = (spawn: Spawn, schedule: string, sleepMs: number) =>
    worker(spawn, {
      ADMIN_TOKEN: ADMIN,
      VIEWER_TOKEN: VIEWER,
      FIXTURE_SCHEDULE: schedule,
      FIXTURE_SLEEP_MS: String(sleepMs)
    }, fixture("sleepy-worker.mjs"))

  test(
    "trigger with an overlap override, not waited for (202); cancel a running run; its detail; 403, 404, 409",
    { timeout: 150_000 },
    async ({ spawn }) => {
      // A yearly job that runs for a minute: only the runs this test starts run.
      const { base, proc } = await sleepy(spawn, "0 0 1 1 *", 60_000)
      const started = await status(base, "/api/jobs/sleepy-1/trigger", bearer(ADMIN, { wait: false }))
      expect(started.status).toBe(202)
      expect(started.body).toMatchObject({ job: "sleepy-1", reason: "manual", status: "running" })
      // No body at all is the defaults (curl -X POST): the run's outcome, here skipped (the first still runs).
      const bare = await status(base, "/api/jobs/sleepy-1/trigger", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}` }
      })
      expect(bare).toMatchObject({ status: 200, body: { status: "skipped", skipReason: "overlap" } })
      const result = await Effect.runPromise(Effect.gen(function*() {
        const api = yield* client(base, ADMIN)
        // The job's own policy is skip: a second run, not waited for, is refused at once.
        const skipped = yield* api.jobs.trigger({ path: { name: "sleepy-1" }, payload: { wait: false } })
        // Allowed for this run only.
        const allowed = yield* api.jobs.trigger({
          path: { name: "sleepy-1" },
          payload: { wait: false, overlap: "allow" }
        })
        const cancelled = yield* api.runs.cancel({ path: { runId: started.body.runId } })
        const detail = yield* api.runs.get({ path: { runId: started.body.runId } })
        const other = yield* api.runs.cancel({ path: { runId: allowed.runId } })
        const audit = yield* api.audit.list({ urlParams: { limit: 10 } })
        return { skipped, allowed, cancelled, detail, other, audit }
      }))
      expect(result.skipped).toMatchObject({ status: "skipped", skipReason: "overlap", reason: "manual" })
      expect(result.allowed).toMatchObject({ status: "running" })
      expect(result.cancelled).toMatchObject({ status: "interrupted", error: "cancelled through the API (admin)" })
      expect(result.other).toMatchObject({ status: "interrupted", error: "cancelled through the API (admin)" })
      expect(result.detail).toMatchObject({ status: "interrupted", attempts: [], instance: expect.any(String) })
      expect(result.detail.traceId).toMatch(/^[0-9a-f]{32}$/)
      // The run's log line carries the same trace id as its detail.
      const interrupted = await proc.waitFor("job interrupted", (line) => line.run_id === started.body.runId)
      expect(interrupted.trace_id).toBe(result.detail.traceId)
      await proc.waitFor("fixture work interrupted")
      expect(result.audit.filter((entry) => entry.action === "cancel").map((entry) => entry.target)).toEqual([
        `run:${result.allowed.runId}`,
        `run:${started.body.runId}`
      ])
      expect(result.audit.find((entry) => entry.action === "cancel")?.before).toMatchObject({ status: "running" })
      // A run that is not running any more: 409, named.
      const again = await status(base, `/api/runs/${started.body.runId}/cancel`, bearer(ADMIN, {}))
      expect(again.status).toBe(409)
      expect(again.body).toMatchObject({ _tag: "NotRunning" })
      expect(again.body.message).toContain("interrupted")
      expect((await status(base, `/api/runs/${started.body.runId}/cancel`, bearer(VIEWER, {}))).status).toBe(403)
      const unknown = await status(base, "/api/runs/00000000-0000-0000-0000-000000000000/cancel", bearer(ADMIN, {}))
      expect(unknown).toMatchObject({ status: 404, body: { _tag: "NotFound" } })
      expect((await status(base, "/api/runs/not-a-run-id/cancel", bearer(ADMIN, {}))).status).toBe(404)
      expect((await status(base, "/api/runs/not-a-run-id", bearer(VIEWER))).status).toBe(404)
      expect((await status(base, `/api/runs/${started.body.runId}/cancel`, { method: "POST" })).status).toBe(401)
      // `replace` is the job's alone; the override is skip, allow or queue.
      const replace = await status(base, "/api/jobs/sleepy-1/trigger", bearer(ADMIN, { overlap: "replace" }))
      expect(replace.status).toBe(400)
      expect(JSON.stringify(replace.body)).toContain("overlap")
      expect((await status(base, "/api/jobs/nope/trigger", bearer(ADMIN, { wait: false }))).status).toBe(404)
      noSecrets(proc, ADMIN, VIEWER)
    }
  )

  test(
    "run detail: each failed attempt, the stack of a defect or an error, the trace id of the run's log lines",
    { timeout: 120_000 },
    async ({ spawn }) => {
      const { base, proc } = await worker(spawn, { ADMIN_TOKEN: ADMIN }, fixture("panic-worker.mjs"))
      const panic = await proc.waitFor("job panic recovered", (line) => line.job === "exploding")
      await proc.waitFor("job failed", (line) => line.job === "failing")
      const result = await Effect.runPromise(Effect.gen(function*() {
        const api = yield* client(base, ADMIN)
        const exploding = yield* api.runs.get({ path: { runId: String(panic.run_id) } })
        // The line is written as the run ends; its outcome reaches the history a moment later (a batched write).
        const list = api.runs.list({ urlParams: { job: "failing", status: "failed", limit: 1 } })
        let failed = yield* list
        for (let i = 0; i < 200 && failed.runs.length === 0; i++) {
          yield* Effect.sleep("100 millis")
          failed = yield* list
        }
        const failing = yield* api.runs.get({ path: { runId: failed.runs[0]!.runId } })
        return { exploding, failing }
      }))
      expect(result.exploding.status).toBe("failed")
      expect(result.exploding.attempts).toEqual([
        { attempt: 1, at: expect.any(Date), error: expect.stringContaining("panic: Error: fixture boom") }
      ])
      expect(result.exploding.stack).toMatch(/^Error: fixture boom at .*\n\s+at /)
      expect(result.exploding.traceId).toBe(panic.trace_id)
      expect(result.failing.attempts.map((a) => a.error)).toEqual(["Error: fixture typed failure"])
      expect(result.failing.stack).toContain("fixture typed failure")
    }
  )

  test(
    "backfill: the slots of a past range run as backfill runs; a retried id runs nothing twice; 400, 403, 404",
    { timeout: 150_000 },
    async ({ spawn }) => {
      const { base, proc } = await sleepy(spawn, "0 * * * *", 10)
      const hour = 3_600_000
      const to = new Date(Math.floor(Date.now() / hour) * hour)
      const from = new Date(to.getTime() - 3 * hour)
      const accepted = await status(
        base,
        "/api/jobs/sleepy-1/backfill",
        bearer(ADMIN, { from: from.toISOString(), to: to.toISOString() })
      )
      expect(accepted.status).toBe(202)
      expect(accepted.body).toMatchObject({ job: "sleepy-1", overlap: "skip" })
      expect(accepted.body.slots).toEqual([0, 1, 2].map((i) => new Date(from.getTime() + i * hour).toISOString()))
      await proc.waitFor("backfill finished", (line) => line.backfill_id === accepted.body.id)
      const backfilled = async () => {
        const runs = await status(base, "/api/runs?job=sleepy-1&limit=50", bearer(VIEWER))
        return (runs.body.runs as Array<{ reason: string; status: string; nominalAt: string; backfillId?: string }>)
          .filter((run) => run.reason === "backfill")
      }
      const first = await backfilled()
      expect(first.map((run) => [run.status, run.nominalAt, run.backfillId]).reverse()).toEqual(
        accepted.body.slots.map((slot: string) => ["succeeded", slot, accepted.body.id])
      )
      // The same request again, with its id: nothing runs twice.
      const retried = await Effect.runPromise(Effect.flatMap(client(base, ADMIN), (api) =>
        api.jobs.backfill({
          path: { name: "sleepy-1" },
          payload: { from, to, id: accepted.body.id, overlap: "allow" }
        })))
      expect(retried.id).toBe(accepted.body.id)
      await proc.waitFor("backfill finished", (line) => line.backfill_id === accepted.body.id && line.claimed === 0)
      expect(await backfilled()).toHaveLength(3)
      // Refused, named: an end after now, more than 1000 slots, an empty range.
      const future = await status(
        base,
        "/api/jobs/sleepy-1/backfill",
        bearer(ADMIN, { from: from.toISOString(), to: new Date(Date.now() + 2 * hour).toISOString() })
      )
      expect(future.status).toBe(400)
      expect(future.body.message).toContain("after now")
      const large = await status(
        base,
        "/api/jobs/sleepy-1/backfill",
        bearer(ADMIN, { from: new Date(to.getTime() - 2000 * hour).toISOString(), to: to.toISOString() })
      )
      expect(large.status).toBe(400)
      expect(large.body.message).toContain("more than 1000 slots")
      const empty = await status(
        base,
        "/api/jobs/sleepy-1/backfill",
        bearer(ADMIN, { from: to.toISOString(), to: from.toISOString() })
      )
      expect(empty.status).toBe(400)
      const body = { from: from.toISOString(), to: to.toISOString() }
      expect((await status(base, "/api/jobs/sleepy-1/backfill", bearer(VIEWER, body))).status).toBe(403)
      expect((await status(base, "/api/jobs/nope/backfill", bearer(ADMIN, body))).status).toBe(404)
      const audit = await status(base, "/api/audit?limit=5", bearer(VIEWER))
      expect(audit.body.filter((entry: { action: string }) => entry.action === "backfill")).toHaveLength(2)
      expect(audit.body[0]).toMatchObject({
        action: "backfill",
        target: "job:sleepy-1",
        after: { id: accepted.body.id, slots: 3, overlap: "allow" }
      })
    }
  )

  test(
    "the command line through a running worker: run --no-wait --overlap, cancel, backfill",
    { timeout: 240_000 },
    async ({ database, spawn }) => {
      const db = await database()
      const port = await freePort()
      const env = {
        HTTP_PORT: String(port),
        ADMIN_TOKEN: ADMIN,
        FIXTURE_SCHEDULE: "0 0 1 1 *",
        FIXTURE_SLEEP_MS: "60000"
      }
      const script = fixture("sleepy-worker.mjs")
      const proc = await spawn(script, [], { database: db, env })
      await proc.waitFor("worker started successfully", undefined, START_MS)
      const cli = (...args: ReadonlyArray<string>) => runNode(script, args, { database: db, env, timeoutMs: 45_000 })
      const printed = (result: { readonly stdout: string }) =>
        result.stdout.split("\n").filter((line) => line !== "" && !line.startsWith("{"))

      const ran = await cli("run", "sleepy-1", "--no-wait")
      expect(ran.code, ran.output).toBe(0)
      const [line] = printed(ran)
      expect(line).toMatch(/^job "sleepy-1" running \(run [0-9a-f-]{36}\)$/)
      const runId = line!.match(/run ([0-9a-f-]{36})/)![1]!
      const skipped = await cli("run", "sleepy-1", "--no-wait")
      expect(skipped.code).toBe(1)
      expect(skipped.stderr).toContain(`job "sleepy-1" skipped (overlap)`)
      const allowed = await cli("run", "sleepy-1", "--no-wait", "--overlap", "allow")
      expect(allowed.code, allowed.output).toBe(0)
      expect(printed(allowed)[0]).toMatch(/^job "sleepy-1" running/)
      const cancelled = await cli("cancel", runId)
      expect(cancelled.code, cancelled.output).toBe(0)
      expect(printed(cancelled)).toEqual([`run ${runId} of job "sleepy-1": interrupted`])
      const twice = await cli("cancel", runId)
      expect(twice.code).toBe(1)
      expect(twice.stderr).toContain("not running")
      expect((await cli("cancel", "nonsense")).code).toBe(2)
      const hour = 3_600_000
      const to = new Date(Math.floor(Date.now() / hour) * hour)
      // A yearly job: the two years before now hold two or three of its slots.
      const backfill = await cli(
        "backfill",
        "sleepy-1",
        "--from",
        new Date(to.getTime() - 2 * 366 * 24 * hour).toISOString(),
        "--to",
        to.toISOString()
      )
      expect(backfill.code, backfill.output).toBe(0)
      expect(printed(backfill)[0]).toMatch(
        /^backfill [0-9a-f-]{36} of job "sleepy-1": [23] slots, running in the worker$/
      )
      await proc.waitFor("backfill started")
      const bad = await cli("backfill", "sleepy-1", "--from", "yesterday", "--to", to.toISOString())
      expect(bad.code).toBe(2)
      noSecrets(proc, ADMIN)
    }
  )

  test(
    "cancel through one worker of a run on another: requested at once, interrupted at the other's next lease renewal",
    { timeout: 150_000 },
    async ({ database, spawn }) => {
      const db = await database()
      const script = fixture("sleepy-worker.mjs")
      // Leases of 6 s: renewed, and the request seen, every 2 s.
      const env = (id: string, port: number) => ({
        HTTP_PORT: String(port),
        ADMIN_TOKEN: ADMIN,
        WORKER_INSTANCE_ID: id,
        WORKER_LEASE_SECONDS: "6",
        FIXTURE_SCHEDULE: "0 0 1 1 *",
        FIXTURE_SLEEP_MS: "60000"
      })
      const [portA, portB] = [await freePort(), await freePort()]
      const a = await spawn(script, [], { database: db, env: env("instance-a", portA) })
      const b = await spawn(script, [], { database: db, env: env("instance-b", portB) })
      await Promise.all([
        a.waitFor("worker started successfully", undefined, START_MS),
        b.waitFor("worker started successfully", undefined, START_MS)
      ])
      const baseA = `http://127.0.0.1:${portA}`
      const baseB = `http://127.0.0.1:${portB}`
      const started = await status(baseA, "/api/jobs/sleepy-1/trigger", bearer(ADMIN, { wait: false }))
      expect(started.body).toMatchObject({ status: "running", instance: "instance-a" })
      const asked = Date.now()
      const answer = await status(baseB, `/api/runs/${started.body.runId}/cancel`, bearer(ADMIN, {}))
      // B does not run it: it asked, and answers the run as it is, still running on A.
      expect(answer).toMatchObject({ status: 200, body: { status: "running", instance: "instance-a" } })
      const line = await a.waitFor("job interrupted", (l) => l.run_id === started.body.runId, 20_000)
      expect(line.error).toBe("cancelled through the API (admin)")
      expect(Date.now() - asked).toBeLessThan(10_000)
      // The outcome is recorded just after its log line (outcomes are written in batches).
      let detail = await status(baseB, `/api/runs/${started.body.runId}`, bearer(ADMIN))
      for (let i = 0; i < 200 && detail.body.status === "running"; i++) {
        await sleep(100)
        detail = await status(baseB, `/api/runs/${started.body.runId}`, bearer(ADMIN))
      }
      expect(detail.body).toMatchObject({ status: "interrupted", error: "cancelled through the API (admin)" })
      // Audited where it was asked.
      const audit = await status(baseB, "/api/audit?limit=1", bearer(ADMIN))
      expect(audit.body[0]).toMatchObject({ action: "cancel", target: `run:${started.body.runId}` })
    }
  )
})
