/**
 * The admin API, as one `HttpApi` definition: the worker serves it under
 * `/api` on `HTTP_PORT` (`Admin.ts`), and the same definition gives a typed
 * client (`HttpApiClient.make(AdminApi, { baseUrl })`) and the OpenAPI
 * document (`/api/openapi.json`). Every route needs `Authorization: Bearer
 * <token>`: the admin token may do everything, the viewer token only read.
 */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Context, Schema } from "effect"

/** No token, or not one of the worker's: 401. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** A viewer token on a route that changes something: 403. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

/** No such job or run: 404. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** A request the worker cannot act on (an invalid expression, a pause reason too long…): 400, saying why. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** The request conflicts with what is stored (an id taken, a change from a version that moved on): 409. */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** A run that is not running (any more): it cannot be cancelled. 409. */
export class NotRunning extends Schema.TaggedError<NotRunning>()(
  "NotRunning",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The worker cannot serve the request now (it is shutting down): 503. */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** Who is calling: the name of the token (`admin` or `viewer`), which the audit trail records. */
export class Caller extends Context.Tag("cron-worker/AdminApi/Caller")<Caller, {
  readonly token: "admin" | "viewer"
}>() {}

/** Checks the bearer token of every route; provides the {@link Caller}. */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("cron-worker/AdminApi/Authorization", {
  failure: Unauthorized,
  provides: Caller,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

const Instant = Schema.Date.annotations({ description: "An instant, ISO 8601 (UTC)" })

/**
 * Any JSON value (a payload, a record before and after a change). Named, so that the OpenAPI document defines it
 * once among its components: the JSON Schema of `Schema.Unknown` carries an `$id`, which repeated at every use makes
 * the document invalid.
 */
const AnyJson = Schema.Unknown.annotations({ identifier: "AnyJson", description: "Any JSON value" })

/** A pause in force. */
export const PauseView = Schema.Struct({
  reason: Schema.optional(Schema.String),
  at: Instant,
  by: Schema.optional(Schema.String),
  /** When it ends by itself; absent: until resumed. */
  until: Schema.optional(Instant)
})

/** One run of a job (one slot), as the history keeps it. */
export const RunView = Schema.Struct({
  runId: Schema.String,
  job: Schema.String,
  nominalAt: Instant,
  reason: Schema.Literal("scheduled", "manual", "catch-up", "rerun", "backfill"),
  status: Schema.Literal(
    "running",
    "queued",
    "succeeded",
    "failed",
    "timed_out",
    "interrupted",
    "skipped",
    "abandoned"
  ),
  skipReason: Schema.optional(Schema.String),
  attempt: Schema.Number,
  instance: Schema.String,
  startedAt: Instant,
  finishedAt: Schema.optional(Instant),
  durationMs: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String),
  /** A run of a schedule created at run time (job `schedule:<id>`): the schedule's version it ran under. */
  scheduleVersion: Schema.optional(Schema.Number),
  /** The backfill that ran it (reason `backfill`). */
  backfillId: Schema.optional(Schema.String)
})
export type RunView = typeof RunView.Type

/** One run with its detail: what went wrong, attempt by attempt, and where to look for its trace. */
export const RunDetail = Schema.Struct({
  ...RunView.fields,
  /** The failed attempts, oldest first (the last 20 of a long retry); empty when the first attempt succeeded. */
  attempts: Schema.Array(Schema.Struct({ attempt: Schema.Number, at: Instant, error: Schema.String })),
  /** The stack of the error or defect that ended it, when it had one, secrets masked as in the logs. */
  stack: Schema.optional(Schema.String),
  /** The trace id of the run's span (`job <name>`), as in its log lines' `trace_id`. */
  traceId: Schema.optional(Schema.String),
  /** The trace in the viewer of `OTEL_TRACES_URL`: present when that is set and the run has a trace id. */
  traceUrl: Schema.optional(Schema.String)
})
export type RunDetail = typeof RunDetail.Type

/** The overlap policies a manual run or a backfill may choose for itself (`replace` is the job's alone). */
const OverlapOverride = Schema.Literal("skip", "allow", "queue")

/** A backfill accepted: its id and the slots it runs, in the background, oldest first. */
export const BackfillView = Schema.Struct({
  id: Schema.String,
  job: Schema.String,
  from: Instant,
  to: Instant,
  overlap: Schema.String,
  slots: Schema.Array(Instant)
})

/** One of a job's recent runs, in short (`JobView.recent`): the whole run is `GET /api/runs/{runId}`. */
export const RecentRun = Schema.Struct({
  runId: Schema.String,
  status: RunView.fields.status,
  nominalAt: Instant,
  reason: RunView.fields.reason
})

/** A job as operators see it. */
export const JobView = Schema.Struct({
  name: Schema.String,
  /**
   * `code`: part of the deploy: pause, resume and trigger it, never edit it. `schedule`: a schedule created at run
   * time (`/api/schedules/{id}`), the job `schedule:<id>`.
   */
  source: Schema.Literal("code", "schedule"),
  schedule: Schema.String,
  /** The schedule in words, as `/api/preview` gives it ("at 08:00 on Monday, UTC"), or as written when it cannot. */
  scheduleInWords: Schema.String,
  timezone: Schema.String,
  description: Schema.optional(Schema.String),
  overlap: Schema.String,
  timeoutSeconds: Schema.optional(Schema.Number),
  nextRuns: Schema.Array(Instant),
  paused: Schema.optional(PauseView),
  lastRun: Schema.optional(RunView),
  /** Failed or timed-out runs since the last that succeeded, newest first (up to 100 looked at). */
  consecutiveFailures: Schema.Number,
  /** Its newest runs, newest first (by start): present when asked for (`recent` > 0). */
  recent: Schema.optional(Schema.Array(RecentRun))
})
export type JobView = typeof JobView.Type

const JobPath = Schema.Struct({ name: Schema.String })

/** How many of a job's newest runs to show in `recent` (0 to 50, default 0: none, and no `recent` field). */
const RecentCount = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 50))

const jobs = HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.get("list", "/jobs")
      .setUrlParams(Schema.Struct({
        recent: Schema.optional(RecentCount),
        /** Only the jobs of the code, or only the schedules created at run time. Default: both. */
        source: Schema.optional(JobView.fields.source),
        /** Only the jobs whose name contains this text (case-insensitive). */
        name: Schema.optional(Schema.String),
        /** A page of at most this many jobs, by name (with `after`). Default: every job, in registration order. */
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000))),
        /** The page after this job name: the last name of the previous page (the list is then by name). */
        after: Schema.optional(Schema.String)
      }))
      .addSuccess(Schema.Array(JobView))
      .annotate(
        OpenApi.Summary,
        "The worker's jobs (`source`, `name` filter), with their `recent` newest runs (default 0); `limit` and " +
          "`after` page them by name"
      )
  )
  .add(
    HttpApiEndpoint.get("get", "/jobs/:name")
      .setPath(JobPath)
      .setUrlParams(Schema.Struct({
        next: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))),
        recent: Schema.optional(RecentCount)
      }))
      .addSuccess(JobView)
      .addError(NotFound)
      .annotate(
        OpenApi.Summary,
        "One job, with its next fire times (`next`, default 10) and its `recent` newest runs (default 0)"
      )
  )
  .add(
    HttpApiEndpoint.post("pause", "/jobs/:name/pause")
      .setPath(JobPath)
      .setPayload(Schema.Struct({
        reason: Schema.optional(Schema.String),
        /** The pause ends by itself at this instant (ISO 8601): slots from then on run. Default: until resumed. */
        until: Schema.optional(Schema.Date)
      }))
      .addSuccess(JobView)
      .addError(NotFound)
      .addError(BadRequest)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Pause a job on every instance, until resumed or until `until`: its slots are recorded as skipped (paused)"
      )
  )
  .add(
    HttpApiEndpoint.post("resume", "/jobs/:name/resume")
      .setPath(JobPath)
      .addSuccess(JobView)
      .addError(NotFound)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Resume a paused job")
  )
  .add(
    HttpApiEndpoint.post("trigger", "/jobs/:name/trigger")
      .setPath(JobPath)
      // No body at all (`null`) is the defaults, as before the options existed.
      .setPayload(Schema.NullOr(Schema.Struct({
        /** The overlap policy of this run only. Default: the job's. */
        overlap: Schema.optional(OverlapOverride),
        /** Wait for the outcome (default `true`, 200); `false`: answer once the run is claimed and admitted (202). */
        wait: Schema.optional(Schema.Boolean)
      })))
      .addSuccess(RunView)
      .addSuccess(RunView, { status: 202 })
      .addError(NotFound)
      .addError(Forbidden)
      .addError(Unavailable)
      .annotate(
        OpenApi.Summary,
        "Run a job now, as a manual run: its recorded outcome (200), or with `wait: false` the run as it starts (202)"
      )
  )
  .add(
    HttpApiEndpoint.post("backfill", "/jobs/:name/backfill")
      .setPath(JobPath)
      .setPayload(Schema.Struct({
        /** The first instant of the range (inclusive). */
        from: Schema.Date,
        /** The end of the range (exclusive), not after now. */
        to: Schema.Date,
        /** The overlap policy of the backfill's runs. Default: the job's. */
        overlap: Schema.optional(OverlapOverride),
        /** The backfill's id, to retry a request without running a slot twice. Default: a new one. */
        id: Schema.optional(Schema.UUID)
      }))
      .addSuccess(BackfillView, { status: 202 })
      .addError(NotFound)
      .addError(BadRequest)
      .addError(Forbidden)
      .addError(Unavailable)
      .annotate(
        OpenApi.Summary,
        "Run the job's slots in [from, to) now, one after another, as `backfill` runs (at most 1000 slots)"
      )
  )
  .middleware(Authorization)

const runs = HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("list", "/runs")
      .setUrlParams(Schema.Struct({
        job: Schema.optional(Schema.String),
        status: Schema.optional(RunView.fields.status),
        /** Runs started at or after this instant. */
        from: Schema.optional(Schema.DateFromString),
        /** Runs started before this instant. */
        to: Schema.optional(Schema.DateFromString),
        /** The `next` of the previous page. */
        cursor: Schema.optional(Schema.String),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
      }))
      .addSuccess(Schema.Struct({
        runs: Schema.Array(RunView),
        /** Pass as `cursor` for the next page; absent on the last. */
        next: Schema.optional(Schema.String)
      }))
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Runs, newest first, filtered, a page at a time (default 100)")
  )
  .add(
    HttpApiEndpoint.get("get", "/runs/:runId")
      .setPath(Schema.Struct({ runId: Schema.String }))
      .addSuccess(RunDetail)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One run, with its failed attempts, the stack of its error, its trace id")
  )
  .add(
    HttpApiEndpoint.post("cancel", "/runs/:runId/cancel")
      .setPath(Schema.Struct({ runId: Schema.String }))
      .addSuccess(RunView)
      .addError(NotFound)
      .addError(NotRunning)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Interrupt a running run, on whichever instance runs it; recorded `interrupted` (cancelled through the API)"
      )
  )
  .middleware(Authorization)

const DurationValue = Schema.Union(Schema.String, Schema.Number).annotations({
  description: "A duration: \"30 seconds\", \"5 minutes\", or milliseconds"
})

/**
 * What a schedule is: its kind, expression, zone, payload, options, bounds and note. The API takes it and the
 * store keeps it (`Schedules.Definition`).
 */
export const DefinitionFields = {
  /** The job kind: a `Kind` in the worker's code. */
  kind: Schema.String.annotations({ description: "A job kind of the worker's code (GET /api/kinds)" }),
  expression: Schema.String,
  /** Default: the worker's `WORKER_TIMEZONE`. */
  timezone: Schema.optional(Schema.String),
  /** Decoded with the kind's payload `Schema`. */
  payload: Schema.optional(AnyJson),
  overlap: Schema.optional(Schema.Literal("skip", "allow", "queue", "replace")),
  catchUp: Schema.optional(Schema.Literal("latest", "skip", "all")),
  catchUpWindow: Schema.optional(DurationValue),
  timeout: Schema.optional(DurationValue),
  jitter: Schema.optional(DurationValue),
  retry: Schema.optional(Schema.Struct({
    attempts: Schema.Number,
    initialDelay: Schema.optional(DurationValue),
    factor: Schema.optional(Schema.Number),
    maxDelay: Schema.optional(DurationValue),
    jitter: Schema.optional(Schema.Boolean)
  })),
  onAbandoned: Schema.optional(Schema.Literal("record", "rerun")),
  /** No slot before this instant. */
  startAt: Schema.optional(Instant),
  /** No slot at or after this instant. */
  endAt: Schema.optional(Instant),
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(1000)))
}

const ScheduleIdSchema = Schema.String.pipe(
  Schema.pattern(/^[\w.-]{1,100}$/, { message: () => "id: must be 1–100 letters, digits or _ . -" })
)
const RunsLimit = Schema.Number.pipe(Schema.int(), Schema.positive())

/** A schedule created at run time, as stored, with how this worker runs it. */
export const ScheduleView = Schema.Struct({
  ...DefinitionFields,
  id: Schema.String,
  key: Schema.optional(Schema.String),
  /** Its job in `/api/jobs` and in the history: `schedule:<id>`. */
  job: Schema.String,
  version: Schema.Number,
  remainingRuns: Schema.optional(Schema.Number),
  createdAt: Instant,
  updatedAt: Instant,
  /** `active`; `ended` (past endAt, runs used up); `unknown_kind` or `invalid`: stored, its slots skipped. */
  state: Schema.Literal("active", "ended", "unknown_kind", "invalid"),
  stateReason: Schema.optional(Schema.String),
  nextRuns: Schema.Array(Instant)
})
export type ScheduleView = typeof ScheduleView.Type

const SchedulePath = Schema.Struct({ id: Schema.String })

const schedules = HttpApiGroup.make("schedules")
  .add(
    HttpApiEndpoint.get("list", "/schedules")
      .setUrlParams(Schema.Struct({
        /** The `next` of the previous page. */
        after: Schema.optional(Schema.String),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
      }))
      .addSuccess(Schema.Struct({ schedules: Schema.Array(ScheduleView), next: Schema.optional(Schema.String) }))
      .annotate(OpenApi.Summary, "Schedules created at run time, by id, a page at a time (default 100)")
  )
  .add(
    HttpApiEndpoint.post("create", "/schedules")
      .setPayload(Schema.Struct({
        ...DefinitionFields,
        id: Schema.optional(ScheduleIdSchema),
        key: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
        remainingRuns: Schema.optional(RunsLimit)
      }))
      .addSuccess(Schema.Struct({
        schedule: ScheduleView,
        /** `false`: its `key` named a schedule that exists, which is the one answered (nothing was changed). */
        created: Schema.Boolean
      }))
      .addError(BadRequest)
      .addError(Conflict)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Create a schedule of a job kind; with a key, creating it twice makes one schedule"
      )
  )
  .add(
    HttpApiEndpoint.get("get", "/schedules/:id")
      .setPath(SchedulePath)
      .addSuccess(ScheduleView)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One schedule, with its next fire times")
  )
  .add(
    HttpApiEndpoint.put("update", "/schedules/:id")
      .setPath(SchedulePath)
      .setPayload(Schema.Struct({
        ...DefinitionFields,
        remainingRuns: Schema.optional(RunsLimit),
        /** The version the change is made from: refused (409) if the schedule has moved on. */
        version: Schema.optional(Schema.Number.pipe(Schema.int()))
      }))
      .addSuccess(ScheduleView)
      .addError(BadRequest)
      .addError(NotFound)
      .addError(Conflict)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Replace a schedule's definition: one version up, next slot from now, no past slot fired, runs going on kept"
      )
  )
  .add(
    HttpApiEndpoint.del("delete", "/schedules/:id")
      .setPath(SchedulePath)
      .addSuccess(ScheduleView)
      .addError(NotFound)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Delete a schedule: its running runs finish, none starts; its history stays")
  )
  .add(
    HttpApiEndpoint.get("kinds", "/kinds")
      .addSuccess(Schema.Array(Schema.Struct({
        name: Schema.String,
        description: Schema.optional(Schema.String),
        /** The JSON Schema of its payload. */
        payload: AnyJson
      })))
      .annotate(OpenApi.Summary, "The job kinds of this worker's code, with the JSON Schema of their payloads")
  )
  .add(
    HttpApiEndpoint.post("preview", "/preview")
      .setPayload(Schema.Struct({
        expression: Schema.String,
        timezone: Schema.optional(Schema.String),
        count: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 100)))
      }))
      .addSuccess(Schema.Struct({
        expression: Schema.String,
        timezone: Schema.String,
        /** In words: "at 08:00 on Monday, America/Sao_Paulo"; a shape not put in words is shown as written. */
        description: Schema.String,
        next: Schema.Array(Instant)
      }))
      .addError(BadRequest)
      .annotate(
        OpenApi.Summary,
        "Check an expression in a zone: the next fire times and the expression in words, or what is wrong with it"
      )
  )
  .middleware(Authorization)

/** One change made through the API. */
export const AuditEntry = Schema.Struct({
  id: Schema.Number,
  at: Instant,
  token: Schema.String,
  action: Schema.String,
  target: Schema.String,
  before: Schema.optional(AnyJson),
  after: Schema.optional(AnyJson)
})

const audit = HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/audit")
      .setUrlParams(Schema.Struct({
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
      }))
      .addSuccess(Schema.Array(AuditEntry))
      .annotate(OpenApi.Summary, "Changes made through the API, newest first")
  )
  .middleware(Authorization)

/** A built-in alert as recorded: when it fired and, once it ended, when it resolved. */
export const AlertView = Schema.Struct({
  id: Schema.Number,
  /** `consecutive_failures`, `overdue`, `missed_slots`, `run_too_long`, `outbox_stale`, `instance_lost`. */
  rule: Schema.String,
  /** The job it is about; `""` for the worker's own rules (`outbox_stale`, `instance_lost`). */
  job: Schema.String,
  since: Instant,
  /** Absent while it fires. */
  resolvedAt: Schema.optional(Instant),
  detail: Schema.String
})
export type AlertView = typeof AlertView.Type

const alerts = HttpApiGroup.make("alerts")
  .add(
    HttpApiEndpoint.get("list", "/alerts")
      .setUrlParams(Schema.Struct({
        /** `active` (default): firing now; `resolved`: ended; `all`. */
        state: Schema.optional(Schema.Literal("active", "resolved", "all")),
        /** Only the alerts about this job. */
        job: Schema.optional(Schema.String),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
      }))
      .addSuccess(Schema.Array(AlertView))
      .annotate(
        OpenApi.Summary,
        "The built-in alerts, newest first: firing (`state=active`, default), `resolved` or `all` (default 100)"
      )
  )
  .middleware(Authorization)

/** The worker answering: what a command line checks before it goes through the API rather than the database. */
export const WorkerView = Schema.Struct({
  service: Schema.String,
  /** The database it uses: `postgres <host>:<port>/<database>` or `embedded <absolute data directory>`. */
  database: Schema.String,
  startedAt: Instant,
  /** The token of this request: `admin` may change things, `viewer` only read. */
  caller: Schema.Literal("admin", "viewer"),
  /** `OTEL_TRACES_URL`, the trace viewer runs link to (`traceUrl`); absent when unset. */
  tracesUrl: Schema.optional(Schema.String)
})

const worker = HttpApiGroup.make("worker")
  .add(
    HttpApiEndpoint.get("info", "/worker")
      .addSuccess(WorkerView)
      .annotate(
        OpenApi.Summary,
        "The worker answering: its service name, its database, when it started, the caller's token, the trace viewer"
      )
  )
  .middleware(Authorization)

/** The admin API. */
export class AdminApi extends HttpApi.make("cron-worker")
  .add(jobs)
  .add(runs)
  .add(schedules)
  .add(audit)
  .add(alerts)
  .add(worker)
  .prefix("/api")
  .annotate(OpenApi.Title, "cron-worker admin API")
  .annotate(OpenApi.Description, "Jobs, runs and schedules of a running cron-worker. Bearer token on every route.")
{}
