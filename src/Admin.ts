/**
 * The admin API served: the handlers of `AdminApi.ts` on the scheduler, the
 * run store and `Control`, bearer tokens checked in constant time, every
 * change recorded in the audit trail, the OpenAPI document at
 * `/api/openapi.json` and an interactive reference at `/api/docs` (served by
 * the worker, no CDN). Mounted on the HTTP server of `Http.ts`.
 */
import { HttpApiBuilder, HttpApiScalar, HttpServerResponse } from "@effect/platform"
import { Clock, Duration, Effect, Either, JSONSchema, Layer, Option, Redacted, Schema } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import {
  AdminApi,
  Authorization,
  BadRequest,
  Caller,
  Conflict,
  Forbidden,
  type JobView,
  NotFound,
  NotRunning,
  type RunDetail,
  RunView,
  Unauthorized,
  Unavailable
} from "./AdminApi.js"
import { AlertHistory } from "./AlertHistory.js"
import { Control, type PauseEndsInPast, type PauseReasonTooLong } from "./Control.js"
import * as CronSpec from "./CronSpec.js"
import { describe } from "./CronSpec/Describe.js"
import * as Database from "./Database.js"
import * as Http from "./Http.js"
import { type JobLatest, type Pause, type RecentRecord, type RunRecord, RunStore } from "./RunStore.js"
import { type JobInfo, JobNotFound, Scheduler } from "./Scheduler.js"
import * as Schedules from "./Schedules.js"
import { WorkerConfig, type WorkerConfigShape } from "./WorkerConfig.js"

/** The tokens the API accepts, by the name the audit trail gives them. */
export interface Tokens {
  readonly admin: Option.Option<Redacted.Redacted<string>>
  readonly viewer: Option.Option<Redacted.Redacted<string>>
}

/**
 * The tokens of `config`; with neither set, the admin token kept in
 * `ADMIN_TOKEN_FILE`, made (32 random bytes, mode 0600) if the file does not
 * exist yet. The token itself is never logged.
 */
export const tokens = (config: WorkerConfigShape): Effect.Effect<Tokens> =>
  Effect.gen(function*() {
    if (Option.isSome(config.adminToken) || Option.isSome(config.viewerToken)) {
      return { admin: config.adminToken, viewer: config.viewerToken }
    }
    const file = config.adminTokenFile
    const kept = yield* Effect.sync(() => {
      try {
        return readFileSync(file, "utf8").trim()
      } catch {
        return ""
      }
    })
    if (kept !== "") return { admin: Option.some(Redacted.make(kept)), viewer: Option.none() }
    const made = randomBytes(32).toString("base64url")
    yield* Effect.sync(() => {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, `${made}\n`, { mode: 0o600 })
      chmodSync(file, 0o600)
    })
    yield* Effect.logInfo("admin token made").pipe(Effect.annotateLogs({ file }))
    return { admin: Option.some(Redacted.make(made)), viewer: Option.none() }
  })

const digest = (text: string) => createHash("sha256").update(text).digest()

/** `true` when `given` is `expected`, in a time that does not depend on where they differ. */
const same = (given: string, expected: Option.Option<Redacted.Redacted<string>>) =>
  Option.isSome(expected) && timingSafeEqual(digest(given), digest(Redacted.value(expected.value)))

const authorization = (known: Tokens) =>
  Layer.succeed(
    Authorization,
    Authorization.of({
      bearer: (token) => {
        const given = Redacted.value(token)
        // Both compared, whichever matches, so that the time says nothing about which exists.
        const admin = same(given, known.admin)
        const viewer = same(given, known.viewer)
        if (admin) return Effect.succeed({ token: "admin" as const })
        if (viewer) return Effect.succeed({ token: "viewer" as const })
        return Effect.fail(
          new Unauthorized({ message: "a bearer token of this worker is required (Authorization: Bearer <token>)" })
        )
      }
    })
  )

const runView = (record: RunRecord): RunView => ({
  runId: record.runId,
  job: record.job,
  nominalAt: record.nominalAt,
  reason: record.reason,
  status: record.status,
  skipReason: record.skipReason,
  attempt: record.attempt,
  instance: record.instance,
  startedAt: record.startedAt,
  finishedAt: record.finishedAt,
  durationMs: record.durationMs,
  error: record.error,
  scheduleVersion: record.scheduleVersion,
  backfillId: record.backfillId
})

/**
 * The link to a trace in the viewer at `template` (`OTEL_TRACES_URL`): `{traceId}` replaced where it appears, else
 * `<template>/trace/<traceId>` (Jaeger's UI).
 */
export const traceLink = (template: string, traceId: string): string =>
  template.includes("{traceId}")
    ? template.replaceAll("{traceId}", encodeURIComponent(traceId))
    : `${template.replace(/\/+$/, "")}/trace/${encodeURIComponent(traceId)}`

const runDetail = (record: RunRecord, tracesUrl: Option.Option<string>): RunDetail => ({
  ...runView(record),
  attempts: record.attempts ?? [],
  stack: record.stack,
  traceId: record.traceId,
  traceUrl: record.traceId === undefined || Option.isNone(tracesUrl)
    ? undefined
    : traceLink(tracesUrl.value, record.traceId)
})

/** Run ids are UUIDs: anything else names no run (and is not sent to the database). */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const noRun = (runId: string) => new NotFound({ message: `no run with id ${JSON.stringify(runId)}` })

/** A run answered with 202 (accepted, still going), as the endpoint's second success declares. */
const accepted = (run: RunView) =>
  Effect.flatMap(
    Schema.encode(RunView)(run).pipe(Effect.orDie),
    (body) => HttpServerResponse.json(body, { status: 202 }).pipe(Effect.orDie)
  )

const pauseView = (pause: Pause) => ({ reason: pause.reason, at: pause.at, by: pause.by, until: pause.until })

/** A cursor names the last run of a page: its start, its slot and its id, as base64url JSON. */
const encodeCursor = (record: RunRecord) =>
  Buffer.from(JSON.stringify([record.startedAt.toISOString(), record.nominalAt.toISOString(), record.runId]))
    .toString("base64url")

const decodeCursor = (cursor: string) =>
  Either.try({
    try: () => {
      const [startedAt, nominalAt, runId] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
      const after = { startedAt: new Date(startedAt), nominalAt: new Date(nominalAt), runId: String(runId) }
      if (Number.isNaN(after.startedAt.getTime()) || Number.isNaN(after.nominalAt.getTime())) throw new Error()
      if (!/^[0-9a-f-]{36}$/i.test(after.runId)) throw new Error()
      return after
    },
    catch: () => new BadRequest({ message: "cursor: not a cursor this API returned" })
  })

const forbidden = (action: string) =>
  Effect.flatMap(
    Caller,
    ({ token }) =>
      token === "admin"
        ? Effect.void
        : Effect.fail(new Forbidden({ message: `${action} needs the admin token; this is the ${token} token` }))
  )

/**
 * The jobs a list asks for: of one source, whose name contains `name` (case-insensitive); with `limit` or `after`, a
 * page of them by name, after `after`; else all, in registration order.
 */
const pageOf = (
  jobs: ReadonlyArray<JobInfo>,
  params: {
    readonly source?: JobView["source"] | undefined
    readonly name?: string | undefined
    readonly limit?: number | undefined
    readonly after?: string | undefined
  }
): ReadonlyArray<JobInfo> => {
  const needle = params.name?.toLowerCase()
  const matching = jobs.filter((info) =>
    (params.source === undefined || sourceOf(info.name) === params.source) &&
    (needle === undefined || info.name.toLowerCase().includes(needle))
  )
  if (params.limit === undefined && params.after === undefined) return matching
  // The first `limit` names after `after`, kept sorted as they are found: no sort of every job (100,000 schedules)
  // for a page of 100.
  const limit = params.limit ?? matching.length
  const page: Array<JobInfo> = []
  for (const info of matching) {
    if (params.after !== undefined && info.name <= params.after) continue
    if (page.length === limit && info.name >= page[limit - 1]!.name) continue
    let i = page.length
    while (i > 0 && page[i - 1]!.name > info.name) i--
    page.splice(i, 0, info)
    if (page.length > limit) page.pop()
  }
  return page
}

/** Where a job comes from: the code, or a schedule created at run time (`schedule:<id>`). */
const sourceOf = (job: string): JobView["source"] => job.startsWith(Schedules.JOB_PREFIX) ? "schedule" : "code"

const notFound = (job: string) => new NotFound({ message: `no job named ${JSON.stringify(job)}` })

/** The handlers, on the worker's services. */
const handlers = Layer.mergeAll(
  HttpApiBuilder.group(AdminApi, "jobs", (handlers) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const store = yield* RunStore
      const control = yield* Control
      /**
       * The job as the API shows it; `pauses`: those in force, and `latest`: its newest run and failure streak, when
       * the caller has read them already (the list reads them once for every job, not once per job); `recent`: its
       * newest runs, when asked for (read for every job listed at once).
       */
      const view = (
        info: JobInfo,
        count: number,
        known?: ReadonlyArray<Pause>,
        latest?: JobLatest,
        recent?: ReadonlyArray<RecentRecord>
      ) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const pauses = known ?? (yield* store.pauses)
          const { consecutiveFailures, last } = latest ?? (yield* store.latest([info.name]))[0] ??
            { last: undefined, consecutiveFailures: 0 }
          const pause = pauses.find((p) => p.job === info.name)
          return {
            name: info.name,
            source: sourceOf(info.name),
            schedule: info.schedule,
            scheduleInWords: describe(info.schedule, info.spec.zone.name),
            timezone: info.timezone,
            description: info.description,
            overlap: info.overlap,
            timeoutSeconds: Option.getOrUndefined(Option.map(info.timeout, (d) => Math.round(Duration.toSeconds(d)))),
            nextRuns: CronSpec.nextN(info.spec, now, count, info.anchor).map((t) => new Date(t)),
            paused: pause === undefined ? undefined : pauseView(pause),
            lastRun: last === undefined ? undefined : runView(last),
            consecutiveFailures,
            recent: recent?.map((r) => ({ runId: r.runId, status: r.status, nominalAt: r.nominalAt, reason: r.reason }))
          } satisfies JobView
        })
      /** The newest `count` runs of each of `jobs`, in one read, by job; none when `count` is 0 (the default). */
      const recentOf = (jobs: ReadonlyArray<JobInfo>, count: number | undefined) =>
        count === undefined || count === 0
          ? Effect.succeed(undefined)
          : Effect.map(
            store.recent(jobs.map((info) => info.name), count),
            (byJob) => (job: string): ReadonlyArray<RecentRecord> => byJob.get(job) ?? []
          )
      const find = (name: string) =>
        Effect.flatMap(scheduler.jobs, (jobs) => {
          const info = jobs.find((j) => j.name === name)
          return info === undefined ? Effect.fail(notFound(name)) : Effect.succeed(info)
        })
      const record = (action: string, job: string, before: unknown, after: unknown) =>
        Effect.gen(function*() {
          const { token } = yield* Caller
          const at = new Date(yield* Clock.currentTimeMillis)
          yield* store.audit({ token, action, target: `job:${job}`, before, after, at })
        })
      return handlers
        .handle("list", ({ urlParams }) =>
          Effect.gen(function*() {
            const listed = pageOf(yield* scheduler.jobs, urlParams)
            // The pauses, the newest runs and the recent runs once for every job (one statement each, at the same
            // time), not once per job.
            const [pauses, newest, recent] = yield* Effect.all(
              [store.pauses, store.latest(listed.map((j) => j.name)), recentOf(listed, urlParams.recent)],
              { concurrency: "unbounded" }
            )
            const latest = new Map(newest.map((l) => [l.job, l]))
            const views = yield* Effect.forEach(
              listed,
              (info) => view(info, 3, pauses, latest.get(info.name), recent?.(info.name))
            )
            // Sent as they are, not through the encoder of `JobView`: with `recent`, a page is thousands of structs
            // whose encoding (dates to ISO text) cost more than the rest of the request. `view` builds exactly the
            // schema's fields in its order, and JSON writes dates as `toISOString`, so the body is the encoder's
            // (test/Admin.test.ts compares them).
            return yield* HttpServerResponse.json(views).pipe(Effect.orDie)
          }))
        .handle("get", ({ path, urlParams }) =>
          Effect.gen(function*() {
            const info = yield* find(path.name)
            const latest = yield* recentOf([info], urlParams.recent)
            return yield* view(info, urlParams.next ?? 10, undefined, undefined, latest?.(info.name))
          }))
        .handle("pause", ({ path, payload }) =>
          Effect.gen(function*() {
            yield* forbidden("pausing a job")
            const info = yield* find(path.name)
            const before = yield* view(info, 3)
            const { token } = yield* Caller
            yield* control.pause(path.name, payload.reason, `api:${token}`, payload.until).pipe(
              Effect.catchTags({
                JobNotFound: () => Effect.fail(notFound(path.name)),
                PauseReasonTooLong: (error: PauseReasonTooLong) =>
                  Effect.fail(new BadRequest({ message: error.message })),
                PauseEndsInPast: (error: PauseEndsInPast) => Effect.fail(new BadRequest({ message: error.message }))
              })
            )
            const after = yield* view(info, 3)
            if (before.paused === undefined) {
              yield* record("pause", path.name, { paused: null }, { paused: after.paused })
            }
            return after
          }))
        .handle("resume", ({ path }) =>
          Effect.gen(function*() {
            yield* forbidden("resuming a job")
            const info = yield* find(path.name)
            const before = yield* view(info, 3)
            const { token } = yield* Caller
            const resumed = yield* control.resume(path.name, `api:${token}`).pipe(
              Effect.catchTag("JobNotFound", () => Effect.fail(notFound(path.name)))
            )
            if (resumed) yield* record("resume", path.name, { paused: before.paused }, { paused: null })
            return yield* view(info, 3)
          }))
        .handle("trigger", ({ path, payload }) =>
          Effect.gen(function*() {
            yield* forbidden("triggering a job")
            yield* find(path.name)
            const wait = payload?.wait ?? true
            const overlap = payload?.overlap
            yield* record(
              "trigger",
              path.name,
              undefined,
              overlap === undefined && wait ? undefined : { overlap, wait }
            )
            const run = yield* scheduler.trigger(path.name, { overlap, wait }).pipe(
              Effect.catchTags({
                JobNotFound: (error: JobNotFound) => Effect.fail(notFound(error.job)),
                SchedulerStopped: () => Effect.fail(new Unavailable({ message: "the worker is shutting down" }))
              })
            )
            if (Option.isNone(run)) {
              return yield* Effect.fail(new Unavailable({ message: "the manual run was not recorded" }))
            }
            return wait ? runView(run.value) : yield* accepted(runView(run.value))
          }))
        .handle("backfill", ({ path, payload }) =>
          Effect.gen(function*() {
            yield* forbidden("backfilling a job")
            const info = yield* find(path.name)
            const overlap = payload.overlap ?? info.overlap
            const started = yield* scheduler.backfill(path.name, { ...payload, overlap }).pipe(
              Effect.catchTags({
                JobNotFound: (error: JobNotFound) => Effect.fail(notFound(error.job)),
                SchedulerStopped: () => Effect.fail(new Unavailable({ message: "the worker is shutting down" })),
                BackfillTooLarge: (error) => Effect.fail(new BadRequest({ message: error.message })),
                BackfillInFuture: (error) => Effect.fail(new BadRequest({ message: error.message })),
                BackfillEmptyRange: (error) => Effect.fail(new BadRequest({ message: error.message }))
              })
            )
            const answer = { ...started, job: path.name, from: payload.from, to: payload.to, overlap }
            yield* record("backfill", path.name, undefined, {
              id: answer.id,
              from: answer.from,
              to: answer.to,
              overlap,
              slots: answer.slots.length
            })
            return answer
          }))
    })),
  HttpApiBuilder.group(AdminApi, "runs", (handlers) =>
    Effect.gen(function*() {
      const config = yield* WorkerConfig
      const store = yield* RunStore
      const scheduler = yield* Scheduler
      const find = (runId: string) =>
        RUN_ID.test(runId)
          ? Effect.flatMap(
            store.get(runId),
            Option.match({
              onNone: () => Effect.fail(noRun(runId)),
              onSome: Effect.succeed
            })
          )
          : Effect.fail(noRun(runId))
      const notRunning = (run: RunRecord) =>
        new NotRunning({ message: `run ${run.runId} is not running: it is ${run.status}` })
      return handlers
        .handle("list", ({ urlParams }) =>
          Effect.gen(function*() {
            const after = urlParams.cursor === undefined ? undefined : yield* decodeCursor(urlParams.cursor)
            const limit = urlParams.limit ?? 100
            // One more than asked: whether there is a next page.
            const rows = yield* store.history({
              job: urlParams.job,
              status: urlParams.status,
              from: urlParams.from,
              to: urlParams.to,
              after,
              limit: limit + 1
            })
            const page = rows.slice(0, limit)
            const last = page[page.length - 1]
            return {
              runs: page.map(runView),
              next: rows.length > limit && last !== undefined ? encodeCursor(last) : undefined
            }
          }))
        .handle("get", ({ path }) => Effect.map(find(path.runId), (run) => runDetail(run, config.tracesUrl)))
        .handle("cancel", ({ path }) =>
          Effect.gen(function*() {
            yield* forbidden("cancelling a run")
            const run = yield* find(path.runId)
            if (run.status !== "running" && run.status !== "queued") return yield* Effect.fail(notRunning(run))
            const { token } = yield* Caller
            const asked = yield* scheduler.cancel(run, `cancelled through the API (${token})`)
            const now = yield* find(path.runId)
            if (!asked) return yield* Effect.fail(notRunning(now))
            const at = new Date(yield* Clock.currentTimeMillis)
            yield* store.audit({
              token,
              action: "cancel",
              target: `run:${run.runId}`,
              before: { job: run.job, status: run.status },
              after: { job: now.job, status: now.status },
              at
            })
            return runView(now)
          }))
    })),
  HttpApiBuilder.group(AdminApi, "schedules", (handlers) =>
    Effect.gen(function*() {
      const config = yield* WorkerConfig
      const schedules = yield* Schedules.Schedules
      const store = yield* RunStore
      const record = (action: string, id: string, before: unknown, after: unknown) =>
        Effect.gen(function*() {
          const { token } = yield* Caller
          const at = new Date(yield* Clock.currentTimeMillis)
          yield* store.audit({ token, action, target: `schedule:${id}`, before, after, at })
        })
      const invalid = (error: Schedules.InvalidSchedule | Schedules.UnknownKind) =>
        Effect.fail(new BadRequest({ message: error.message }))
      const missing = (error: Schedules.ScheduleNotFound) => Effect.fail(new NotFound({ message: error.message }))
      const conflict = (error: Schedules.ScheduleIdTaken | Schedules.VersionConflict) =>
        Effect.fail(new Conflict({ message: error.message }))
      return handlers
        .handle("list", ({ urlParams }) =>
          Effect.gen(function*() {
            const limit = urlParams.limit ?? 100
            const rows = yield* schedules.list({ after: urlParams.after, limit: limit + 1 })
            const page = rows.slice(0, limit)
            return { schedules: page, next: rows.length > limit ? page[page.length - 1]?.id : undefined }
          }))
        .handle("get", ({ path }) => Effect.catchTag(schedules.get(path.id), "ScheduleNotFound", missing))
        .handle("create", ({ payload }) =>
          Effect.gen(function*() {
            yield* forbidden("creating a schedule")
            const result = yield* schedules.create(payload).pipe(
              Effect.catchTags({ InvalidSchedule: invalid, UnknownKind: invalid, ScheduleIdTaken: conflict })
            )
            if (result.created) yield* record("create", result.schedule.id, undefined, result.schedule)
            return result
          }))
        .handle("update", ({ path, payload }) =>
          Effect.gen(function*() {
            yield* forbidden("changing a schedule")
            const { after, before } = yield* schedules.update(path.id, payload).pipe(
              Effect.catchTags({
                InvalidSchedule: invalid,
                UnknownKind: invalid,
                ScheduleNotFound: missing,
                VersionConflict: conflict
              })
            )
            yield* record("update", path.id, before, after)
            return after
          }))
        .handle("delete", ({ path }) =>
          Effect.gen(function*() {
            yield* forbidden("deleting a schedule")
            const removed = yield* Effect.catchTag(schedules.remove(path.id), "ScheduleNotFound", missing)
            yield* record("delete", path.id, removed, undefined)
            return removed
          }))
        .handle("kinds", () =>
          Effect.succeed(
            [...schedules.kinds.values()].map((kind) => ({
              name: kind.name,
              description: kind.description,
              payload: JSONSchema.make(kind.payload)
            }))
          ))
        .handle("preview", ({ payload }) =>
          Effect.gen(function*() {
            const timezone = payload.timezone ?? config.timezone
            const spec = yield* CronSpec.parse(payload.expression, { timezone }).pipe(
              Effect.mapError((error) => new BadRequest({ message: error.message }))
            )
            const now = yield* Clock.currentTimeMillis
            return {
              expression: payload.expression,
              timezone: spec.zone.name,
              description: describe(payload.expression, spec.zone.name),
              next: CronSpec.nextN(spec, now, payload.count ?? 10).map((t) => new Date(t))
            }
          }))
    })),
  HttpApiBuilder.group(AdminApi, "worker", (handlers) =>
    Effect.gen(function*() {
      const config = yield* WorkerConfig
      const startedAt = new Date(yield* Clock.currentTimeMillis)
      return handlers.handle("info", () =>
        Effect.map(Caller, ({ token }) => ({
          service: config.serviceName,
          database: Database.identity(config),
          startedAt,
          caller: token,
          tracesUrl: Option.getOrUndefined(config.tracesUrl)
        })))
    })),
  HttpApiBuilder.group(AdminApi, "alerts", (handlers) =>
    Effect.gen(function*() {
      // A worker composed without an alert history has no alerts to show: an empty list, not an error.
      const history = yield* Effect.serviceOption(AlertHistory)
      return handlers.handle("list", ({ urlParams }) =>
        Option.match(history, {
          onNone: () => Effect.succeed([]),
          onSome: (history) =>
            history.list({ state: urlParams.state ?? "active", job: urlParams.job, limit: urlParams.limit ?? 100 })
        }))
    })),
  HttpApiBuilder.group(AdminApi, "audit", (handlers) =>
    Effect.gen(function*() {
      const store = yield* RunStore
      return handlers.handle("list", ({ urlParams }) => store.changes(urlParams.limit ?? 100))
    }))
)

/**
 * The admin API on the HTTP server (`Http.ApiMount`), for the scope: mounted
 * once built, unmounted when the scope closes (then `/api` answers 503).
 * Without `HTTP_PORT` there is nothing to mount on, and nothing is built.
 */
export const layer: Layer.Layer<
  never,
  never,
  WorkerConfig | Http.ApiMount | Scheduler | RunStore | Control | Schedules.Schedules
> = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* WorkerConfig
  if (Option.isNone(config.httpPort)) return
  const mount = yield* Http.ApiMount
  const known = yield* tokens(config)
  const api = HttpApiBuilder.api(AdminApi).pipe(
    Layer.provide(handlers),
    Layer.provide(authorization(known))
  )
  const routes = Layer.mergeAll(
    HttpApiBuilder.middlewareOpenApi({ path: "/api/openapi.json" }),
    HttpApiScalar.layer({ path: "/api/docs" })
  ).pipe(
    Layer.provideMerge(api),
    Layer.provideMerge(HttpApiBuilder.Router.Live),
    Layer.provideMerge(HttpApiBuilder.Middleware.layer)
  )
  const context = yield* Layer.build(routes)
  const app = yield* Effect.provide(HttpApiBuilder.httpApp, context)
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      mount.app = app
    }),
    () =>
      Effect.sync(() => {
        mount.app = undefined
      })
  )
}))
