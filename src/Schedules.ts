/**
 * Schedules created at run time: data (a job kind, a cron expression and zone, a payload, options) stored in the
 * database, made through the admin API or the command line, run by every instance's scheduler like code jobs,
 * exactly once per slot. Each is the job `schedule:<id>` in the scheduler, its runs recorded with the schedule's
 * version.
 *
 * A change is written to the store, applied by the instance that made it at once, and announced: every other
 * instance applies it on the announcement (`LISTEN/NOTIFY`), and compares all the versions it runs with the store's
 * every `RECONCILE_INTERVAL`, so that a lost announcement leaves no instance stale for long.
 *
 * What a change does, where schedulers differ: a changed schedule fires no past slot, computes its next slot from
 * now under the new version, and keeps the runs of the old version that are running or queued; a deleted one lets
 * its running runs finish and starts none. A schedule whose kind is not in this worker's code (removed, or not yet
 * deployed here) stays stored: its slots are recorded as skipped (`unknown_kind`) unless an instance that has the
 * kind runs them.
 */
import {
  Cause,
  Clock,
  type Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Option,
  ParseResult,
  Schedule,
  Schema,
  Stream
} from "effect"
import { randomUUID } from "node:crypto"
import { DefinitionFields } from "./AdminApi.js"
import * as CronSpec from "./CronSpec.js"
import { describe } from "./Execution.js"
import * as Job from "./Job.js"
import type * as Kind from "./Kind.js"
import { type MissedReason, RunStore } from "./RunStore.js"
import { Scheduler } from "./Scheduler.js"
import { type ScheduleRow, ScheduleStore, type ScheduleStoreShape } from "./Schedules/Store.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** The prefix of a schedule's job name: `schedule:<id>`. Code jobs may not use it. */
export const JOB_PREFIX = "schedule:"

/** The job name of the schedule `id`. */
export const jobName = (id: string): string => `${JOB_PREFIX}${id}`

/** Announced by an instance to itself, to learn that it listens: never a schedule id (ids have no `:`). */
const PROBE = "probe:"
const PROBE_INTERVAL = Duration.millis(100)
/** How long start-up waits to listen before it loads the schedules without. */
const LISTEN_TIMEOUT = Duration.seconds(5)

/** How long an instance that lost the announcements waits before it listens again. */
const RELISTEN = Duration.seconds(5)

/** How often an instance compares the versions it runs with the store's. */
export const RECONCILE_INTERVAL = Duration.seconds(30)

/** An id: 1–100 letters, digits or `_ . -`. */
export const ScheduleId = Schema.String.pipe(
  Schema.pattern(/^[\w.-]{1,100}$/, { message: () => "must be 1–100 letters, digits or _ . -" })
)

/** What a schedule is, as stored and as the API takes it. */
export const Definition = Schema.Struct(DefinitionFields)
export type Definition = typeof Definition.Type

/** A new schedule: its definition, an id (default: a random one), an idempotency key, a limit of runs. */
export const CreateInput = Schema.Struct({
  ...Definition.fields,
  id: Schema.optional(ScheduleId),
  /** One schedule per key: creating with a key that exists answers the schedule that has it. */
  key: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
  /** Runs in all; the schedule ends after the last. */
  remainingRuns: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive()))
})
export type CreateInput = typeof CreateInput.Type

/** A change: the whole new definition, and the version it is made from (refused if the schedule moved on). */
export const UpdateInput = Schema.Struct({
  ...Definition.fields,
  remainingRuns: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
  version: Schema.optional(Schema.Number.pipe(Schema.int()))
})
export type UpdateInput = typeof UpdateInput.Type

/** A schedule's definition that cannot work: the field and why. Nothing is stored. */
export class InvalidSchedule extends Schema.TaggedError<InvalidSchedule>()("InvalidSchedule", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.field}: ${this.reason}`
  }
}

/** A schedule names a kind this worker's code does not declare. */
export class UnknownKind extends Schema.TaggedError<UnknownKind>()("UnknownKind", {
  kind: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown job kind ${JSON.stringify(this.kind)}; this worker has ` +
      (this.known.length === 0 ? "none" : this.known.join(", "))
  }
}

/** No schedule has that id. */
export class ScheduleNotFound extends Schema.TaggedError<ScheduleNotFound>()("ScheduleNotFound", {
  id: Schema.String
}) {
  override get message(): string {
    return `no schedule with id ${JSON.stringify(this.id)}`
  }
}

/** The id asked for belongs to another schedule. */
export class ScheduleIdTaken extends Schema.TaggedError<ScheduleIdTaken>()("ScheduleIdTaken", {
  id: Schema.String
}) {
  override get message(): string {
    return `a schedule with id ${JSON.stringify(this.id)} exists already`
  }
}

/** A change made from a version that is no longer the schedule's. */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  id: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `schedule ${JSON.stringify(this.id)} is at version ${this.actual}, not ${this.expected}: ` +
      "read it again and make the change from there"
  }
}

/** How this instance runs a schedule. */
export type State =
  /** In the clock. */
  | "active"
  /** Past its `endAt`, or its runs used up: stored, and runs no more. */
  | "ended"
  /** Its kind is not in this worker's code: its slots are skipped (`unknown_kind`) unless another instance runs it. */
  | "unknown_kind"
  /** Its kind's code no longer accepts it (the payload, say): skipped (`invalid_schedule`). */
  | "invalid"

/** A schedule as the API shows it. */
export interface ScheduleView extends Definition {
  readonly id: string
  readonly key: string | undefined
  readonly job: string
  readonly version: number
  readonly remainingRuns: number | undefined
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly state: State
  /** Why it is not active. */
  readonly stateReason: string | undefined
  readonly nextRuns: ReadonlyArray<Date>
}

/** A schedule made ready to run: the job, or why it cannot run. */
interface Prepared {
  readonly job: Job.Job<unknown, never>
  readonly spec: CronSpec.CronSpec
}

const formatParseError = (prefix: string, error: ParseResult.ParseError): InvalidSchedule => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const path = issue === undefined ? [] : issue.path.map(String)
  return new InvalidSchedule({
    field: [prefix, ...path].join("."),
    reason: issue?.message ?? error.message
  })
}

/** The job options of a definition over its kind's defaults. */
const optionsOf = (
  definition: Definition,
  kind: Kind.Any | undefined
): Omit<Job.JobOptions<unknown, never>, "name" | "schedule" | "run"> => ({
  ...kind?.defaults,
  ...(definition.overlap === undefined ? {} : { overlap: definition.overlap }),
  ...(definition.catchUp === undefined ? {} : { catchUp: definition.catchUp }),
  ...(definition.catchUpWindow === undefined ? {} : { catchUpWindow: definition.catchUpWindow }),
  ...(definition.timeout === undefined ? {} : { timeout: definition.timeout }),
  ...(definition.jitter === undefined ? {} : { jitter: definition.jitter }),
  ...(definition.retry === undefined ? {} : { retry: definition.retry }),
  ...(definition.onAbandoned === undefined ? {} : { onAbandoned: definition.onAbandoned }),
  timezone: definition.timezone,
  description: definition.note
} as Omit<Job.JobOptions<unknown, never>, "name" | "schedule" | "run">)

/**
 * Checks a definition with the worker's kinds and parser: the kind, the payload decoded with its Schema (the path
 * of a wrong field named), the expression in its zone (the zone checked against IANA), the options, the bounds.
 * `run` is what a slot runs with the payload decoded.
 */
export const prepare = (
  kinds: ReadonlyMap<string, Kind.Any>,
  defaultTimezone: string,
  id: string,
  definition: Definition,
  run: (kind: Kind.Any, payload: unknown) => Effect.Effect<void, unknown> = (kind, payload) =>
    kind.run(payload) as Effect.Effect<void, unknown>
): Either.Either<Prepared, InvalidSchedule | UnknownKind> => {
  const kind = kinds.get(definition.kind)
  if (definition.startAt !== undefined && definition.endAt !== undefined && definition.endAt <= definition.startAt) {
    return Either.left(new InvalidSchedule({ field: "endAt", reason: "must be after startAt" }))
  }
  const options = optionsOf(definition, kind)
  const job = Job.make({ name: jobName(id), schedule: definition.expression, run: Effect.void, ...options })
  const checked = Job.validate(job, defaultTimezone)
  if (Either.isLeft(checked)) {
    const error = checked.left
    return Either.left(
      error._tag === "InvalidCronExpression"
        ? new InvalidSchedule({
          field: error.reason.includes("time zone") ? "timezone" : "expression",
          reason: `${JSON.stringify(error.expression)}: ${error.reason}`
        })
        : new InvalidSchedule({ field: error.option, reason: error.reason })
    )
  }
  const spec = checked.right.spec.within(definition.startAt?.getTime(), definition.endAt?.getTime())
  if (kind === undefined) {
    return Either.left(new UnknownKind({ kind: definition.kind, known: [...kinds.keys()] }))
  }
  const payload = Schema.decodeUnknownEither(kind.payload)(definition.payload)
  if (Either.isLeft(payload)) return Either.left(formatParseError("payload", payload.left))
  return Either.right({
    spec,
    job: Job.make({ name: jobName(id), schedule: definition.expression, run: run(kind, payload.right), ...options })
  })
}

/** The definition stored in a row, as the API shows it. */
const definitionOf = (row: ScheduleRow): Definition =>
  Either.getOrElse(
    Schema.decodeUnknownEither(Definition)(row.definition),
    (): Definition => ({ kind: row.kind, expression: "" })
  )

export interface SchedulesShape {
  /** The kinds of this worker, by name. */
  readonly kinds: ReadonlyMap<string, Kind.Any>
  /**
   * Loads every stored schedule into the scheduler and keeps them in step with the store. Before `Scheduler.start`
   * (as `Worker.start` does), the scheduler's start catches up with their missed slots as with code jobs' (by each
   * one's policy); after it, each is caught up with as it is loaded. `context`: the services the kinds need.
   */
  readonly start: (context: Context.Context<never>) => Effect.Effect<void>
  readonly list: (
    query?: { readonly after?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<ScheduleView>>
  readonly get: (id: string) => Effect.Effect<ScheduleView, ScheduleNotFound>
  /** Creates a schedule; `created: false` when its key named one that exists (which is answered). */
  readonly create: (
    input: CreateInput
  ) => Effect.Effect<
    { readonly schedule: ScheduleView; readonly created: boolean },
    InvalidSchedule | UnknownKind | ScheduleIdTaken
  >
  readonly update: (
    id: string,
    input: UpdateInput
  ) => Effect.Effect<
    { readonly before: ScheduleView; readonly after: ScheduleView },
    InvalidSchedule | UnknownKind | ScheduleNotFound | VersionConflict
  >
  readonly remove: (id: string) => Effect.Effect<ScheduleView, ScheduleNotFound>
  /** Applies the store's state of `id` to this instance's scheduler now. */
  readonly sync: (id: string) => Effect.Effect<void>
  /** Compares every schedule this instance runs with the store, and applies what differs. */
  readonly reconcile: Effect.Effect<void>
}

export class Schedules extends Effect.Tag("cron-worker/Schedules")<Schedules, SchedulesShape>() {}

/** The definition as stored: JSON, instants as ISO strings. */
const encode = Schema.encodeSync(Definition)

/** What this instance runs of a schedule: the version, and how. */
interface Applied {
  readonly version: number
  readonly state: State
  readonly reason: string | undefined
  /** For an active schedule: its parsed schedule, so that the API shows its next fire times without parsing again. */
  readonly spec?: CronSpec.CronSpec | undefined
}

/**
 * The schedules of `kinds` on the stores of the context. A worker lists its kinds in `Cli.main({ kinds })`; without
 * a worker (tests, the command line on the database) `start` is not called and changes are only stored.
 */
export const make = (kinds: ReadonlyArray<Kind.Any>) =>
  Effect.gen(function*() {
    const store = yield* ScheduleStore
    // None for the command line on the database: changes are stored and announced, nothing is run here.
    const maybeScheduler = yield* Effect.serviceOption(Scheduler)
    const runStore = yield* Effect.serviceOption(RunStore)
    const config = yield* WorkerConfig
    const byName = new Map(kinds.map((kind) => [kind.name, kind]))
    const applied = new Map<string, Applied>()
    let context: Context.Context<never> | undefined
    const lock = yield* Effect.makeSemaphore(1)
    const scope = yield* Effect.scope

    /** A slot of a schedule with a limit takes one of its runs first; the last ends it (announced). */
    const runOf = (id: string, limited: boolean) => (kind: Kind.Any, payload: unknown) => {
      const work = kind.run(payload) as Effect.Effect<void, unknown, never>
      if (!limited) return work
      return Effect.flatMap(store.take(id), (left) => {
        if (left === undefined) return Effect.logWarning("schedule has no runs left: nothing run")
        return left > 0 ? work : Effect.ensuring(work, Effect.zipRight(store.announce(id), sync(id)))
      })
    }

    const view = (row: ScheduleRow, now: number): ScheduleView => {
      const definition = definitionOf(row)
      const known = applied.get(row.id)
      const local = known?.version === row.version ? known : undefined
      // What this instance runs of the row's version says it all; otherwise (not applied yet, another version, no
      // scheduler here) the definition is checked as a change would be.
      const prepared = local !== undefined ? undefined : prepare(byName, config.timezone, row.id, definition)
      const state: State = row.remainingRuns === 0 ? "ended" : local?.state ??
        (prepared === undefined || Either.isRight(prepared)
          ? "active"
          : prepared.left._tag === "UnknownKind"
          ? "unknown_kind"
          : "invalid")
      const reason = local?.reason ??
        (prepared !== undefined && Either.isLeft(prepared) ? prepared.left.message : undefined)
      const spec = local?.spec ?? (prepared !== undefined && Either.isRight(prepared) ? prepared.right.spec : undefined)
      const anchor = row.updatedAt.getTime()
      return {
        ...definition,
        id: row.id,
        key: row.key,
        job: jobName(row.id),
        version: row.version,
        remainingRuns: row.remainingRuns,
        createdAt: row.createdAt,
        updatedAt: row.updatedAt,
        state,
        stateReason: state === "active" ? undefined : reason ?? (state === "ended" ? "no runs left" : undefined),
        nextRuns: spec === undefined || state !== "active" || row.remainingRuns === 0
          ? []
          : CronSpec.nextN(spec, now, 3, anchor).filter(Number.isFinite).map((t) => new Date(t))
      }
    }

    /** Puts the row in the scheduler as it is now (or takes it out). Under `lock`: one change at a time. */
    const apply = (
      id: string,
      row: Option.Option<ScheduleRow>,
      catchUp: false | { readonly lastSlots: ReadonlyMap<string, Date> | undefined }
    ) =>
      Effect.gen(function*() {
        if (context === undefined || Option.isNone(maybeScheduler)) return
        const scheduler = maybeScheduler.value
        const local = applied.get(id)
        if (Option.isNone(row)) {
          if (local === undefined) return
          applied.delete(id)
          yield* scheduler.unregister(jobName(id))
          yield* Effect.logInfo("schedule deleted: no new run starts").pipe(Effect.annotateLogs({ schedule: id }))
          return
        }
        const { remainingRuns, updatedAt, version } = row.value
        const ended = remainingRuns === 0
        if (local !== undefined && local.version === version && (local.state === "ended") === ended) return
        const annotations = { schedule: id, version }
        if (ended) {
          applied.set(id, { version, state: "ended", reason: "no runs left" })
          yield* scheduler.unregister(jobName(id))
          yield* Effect.logInfo("schedule ended: no runs left").pipe(Effect.annotateLogs(annotations))
          return
        }
        const definition = definitionOf(row.value)
        const prepared = prepare(byName, config.timezone, id, definition, runOf(id, remainingRuns !== undefined))
        const bounds = { start: definition.startAt?.getTime(), end: definition.endAt?.getTime() }
        const base = {
          version,
          anchor: updatedAt.getTime(),
          catchUp: catchUp !== false,
          lastSlots: catchUp === false ? undefined : catchUp.lastSlots,
          ...bounds
        }
        if (Either.isLeft(prepared)) {
          const error = prepared.left
          const skipAs: MissedReason = error._tag === "UnknownKind" ? "unknown_kind" : "invalid_schedule"
          applied.set(id, {
            version,
            state: skipAs === "unknown_kind" ? "unknown_kind" : "invalid",
            reason: error.message
          })
          yield* Effect.logWarning("schedule not run by this worker: its slots are skipped").pipe(
            Effect.annotateLogs({ ...annotations, reason: error.message })
          )
          // Its slots are recorded skipped, unless an instance that can run it does.
          const placeholder = Job.make<unknown>({
            name: jobName(id),
            schedule: definition.expression,
            timezone: definition.timezone,
            run: Effect.void
          })
          yield* scheduler.upsert(placeholder, { ...base, skipAs }).pipe(
            Effect.catchAll(() => scheduler.unregister(jobName(id)))
          )
          return
        }
        const upserted = yield* Effect.either(scheduler.upsert(prepared.right.job, { ...base, context }))
        if (Either.isLeft(upserted)) {
          applied.set(id, { version, state: "invalid", reason: upserted.left.message })
          return yield* Effect.logWarning("schedule not run by this worker").pipe(
            Effect.annotateLogs({ ...annotations, reason: upserted.left.message })
          )
        }
        applied.set(id, { version, state: "active", reason: undefined, spec: prepared.right.spec })
        // Loaded at start-up: one line in all (`schedules loaded`), not one per schedule (100,000 lines, and time).
        const message = local === undefined ? "schedule started" : "schedule changed: next slot from now"
        yield* (catchUp === false ? Effect.logInfo(message) : Effect.logDebug(message)).pipe(
          Effect.annotateLogs(annotations)
        )
      })

    const sync = (id: string): Effect.Effect<void> =>
      lock.withPermits(1)(Effect.flatMap(store.get(id), (row) => apply(id, row, false)))

    const reconcile: Effect.Effect<void> = lock.withPermits(1)(
      Effect.gen(function*() {
        if (context === undefined) return
        const versions = yield* store.versions
        const stale: Array<string> = []
        for (const [id, local] of applied) if (versions.get(id) !== local.version) stale.push(id)
        for (const [id, version] of versions) {
          const local = applied.get(id)
          if (local === undefined || local.version !== version) stale.push(id)
        }
        for (const id of new Set(stale)) yield* apply(id, yield* store.get(id), false)
      })
    )

    /** Every stored schedule, a page at a time, into the scheduler (at start-up: with catch-up). */
    const loadAll = Effect.gen(function*() {
      let after: string | undefined
      for (;;) {
        const page = yield* store.list({ after, limit: 1000 })
        // The newest slot of each in the history, for the catch-up: one question per page, not per schedule.
        const lastSlots = Option.isSome(runStore) && page.length > 0
          ? yield* runStore.value.lastSlots(page.map((row) => jobName(row.id)))
          : undefined
        for (const row of page) yield* apply(row.id, Option.some(row), { lastSlots })
        if (page.length < 1000) return
        after = page[page.length - 1]!.id
      }
    })

    /**
     * Listens for announcements, then runs `onReady` (the first time: loads every schedule; after a loss: reconciles,
     * since announcements made meanwhile are lost), and goes on until the channel is lost. Listening is known to
     * have begun when a probe announced by this instance comes back: a change announced after it is heard.
     */
    const listenOnce = (onReady: Effect.Effect<void>) =>
      Effect.gen(function*() {
        const probe = `${PROBE}${randomUUID()}`
        const ready = yield* Deferred.make<void>()
        const listener = yield* store.announced.pipe(
          Stream.runForEach((id) =>
            id === probe
              ? Deferred.succeed(ready, undefined)
              : id.startsWith(PROBE)
              ? Effect.void
              : sync(id)
          ),
          Effect.fork
        )
        const prober = yield* Effect.fork(
          Effect.forever(Effect.zipRight(store.announce(probe), Effect.sleep(PROBE_INTERVAL)))
        )
        const heard = yield* Effect.raceFirst(
          Effect.as(Deferred.await(ready), true),
          Effect.as(Fiber.await(listener), false)
        )
        yield* Fiber.interrupt(prober)
        if (heard) yield* onReady
        return yield* Fiber.join(listener)
      })

    /** Listens while the scope lasts; when the channel is lost (the database restarted), again every `RELISTEN`. */
    const listen = (listening: Deferred.Deferred<void>) =>
      Effect.gen(function*() {
        let warned = false
        for (;;) {
          const first = !(yield* Deferred.isDone(listening))
          const exit = yield* Effect.exit(
            listenOnce(
              Effect.zipRight(
                first ? Effect.void : reconcile,
                Effect.sync(() => (warned = false)).pipe(Effect.zipRight(Deferred.succeed(listening, undefined)))
              )
            )
          )
          if (!warned) {
            warned = true
            yield* Effect.logWarning("schedule announcements lost: listening again, and reconciling").pipe(
              Effect.annotateLogs({ error: Exit.isFailure(exit) ? describe(Cause.squash(exit.cause)) : "ended" })
            )
          }
          yield* Effect.sleep(RELISTEN)
        }
      })

    const now = () => Clock.currentTimeMillis

    const get = (id: string) =>
      Effect.gen(function*() {
        const row = yield* store.get(id)
        if (Option.isNone(row)) return yield* Effect.fail(new ScheduleNotFound({ id }))
        return view(row.value, yield* now())
      })

    /**
     * After a change: announced to the others first (it is committed: they apply it while this instance does, not
     * after, which on a busy instance is a second later), then applied here.
     */
    const changed = (id: string) => Effect.zipRight(store.announce(id), sync(id))

    // A worker listens from the moment its schedules are built, well before it loads them at start: by then the
    // probe has come back, and start-up is not held up waiting for it (instances released together start together).
    const listening = yield* Deferred.make<void>()
    if (store.announces && Option.isSome(maybeScheduler)) yield* Effect.forkIn(listen(listening), scope)

    const shape: SchedulesShape = {
      kinds: byName,
      start: (services) =>
        Effect.gen(function*() {
          if (context !== undefined) return
          context = services
          // Listening first, then loading: a change made meanwhile is either loaded or heard. A database that does
          // not let this instance listen now: loaded all the same, the reconcile keeps it in step.
          if (store.announces) yield* Effect.timeout(Deferred.await(listening), LISTEN_TIMEOUT).pipe(Effect.option)
          yield* lock.withPermits(1)(loadAll)
          yield* Effect.forkIn(
            Effect.repeat(reconcile, Schedule.spaced(RECONCILE_INTERVAL)).pipe(Effect.delay(RECONCILE_INTERVAL)),
            scope
          )
          yield* Effect.logInfo("schedules loaded").pipe(Effect.annotateLogs({ schedules: applied.size }))
        }),
      list: (query) =>
        Effect.gen(function*() {
          const rows = yield* store.list(query)
          const at = yield* now()
          return rows.map((row) => view(row, at))
        }),
      get,
      create: (input) =>
        Effect.gen(function*() {
          const { id: given, key, remainingRuns, ...definition } = input
          const id = given ?? randomUUID()
          const prepared = prepare(byName, config.timezone, id, definition)
          if (Either.isLeft(prepared)) return yield* Effect.fail(prepared.left)
          const at = new Date(yield* now())
          const result = yield* store.create(
            { id, key, kind: definition.kind, definition: encode(definition), remainingRuns },
            at
          )
          if (result._tag === "IdTaken") return yield* Effect.fail(new ScheduleIdTaken({ id }))
          if (result._tag === "Created") yield* changed(id)
          return { schedule: view(result.row, at.getTime()), created: result._tag === "Created" }
        }),
      update: (id, input) =>
        Effect.gen(function*() {
          const { remainingRuns, version, ...definition } = input
          const prepared = prepare(byName, config.timezone, id, definition)
          if (Either.isLeft(prepared)) return yield* Effect.fail(prepared.left)
          const at = new Date(yield* now())
          const result = yield* store.update(
            id,
            { kind: definition.kind, definition: encode(definition), remainingRuns },
            at,
            version
          )
          if (result._tag === "NotFound") return yield* Effect.fail(new ScheduleNotFound({ id }))
          if (result._tag === "VersionMismatch") {
            return yield* Effect.fail(new VersionConflict({ id, expected: version!, actual: result.row.version }))
          }
          yield* changed(id)
          return { before: view(result.before, at.getTime()), after: view(result.row, at.getTime()) }
        }),
      remove: (id) =>
        Effect.gen(function*() {
          const removed = yield* store.remove(id)
          if (Option.isNone(removed)) return yield* Effect.fail(new ScheduleNotFound({ id }))
          const shown = view(removed.value, yield* now())
          yield* changed(id)
          return shown
        }),
      sync,
      reconcile
    }
    return shape
  })

/** {@link make} as a layer. */
export const layer = (
  kinds: ReadonlyArray<Kind.Any>
): Layer.Layer<Schedules, never, ScheduleStore | WorkerConfig> => Layer.scoped(Schedules, make(kinds))

export type { ScheduleRow, ScheduleStoreShape }
