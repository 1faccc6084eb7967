/**
 * The run history and the pause switches: `history`, `pause`, `resume`; through the running worker's admin API
 * when one runs on this database (`Remote.ts`), else on the database.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as Control from "../Control.js"
import type * as Job from "../Job.js"
import * as RunStore from "../RunStore.js"
import * as PgRunStore from "../RunStore/Pg.js"
import { escapeControl, jsonArray, knownJob, quote, readConfig, table, usage, withDatabase } from "./Common.js"
import * as Remote from "./Remote.js"

const onRunStore = <A, E>(command: string, f: (store: RunStore.RunStoreShape) => Effect.Effect<A, E>) =>
  withDatabase(command, Effect.flatMap(RunStore.RunStore, f).pipe(Effect.provide(PgRunStore.layer)))

/** `pause` through the running worker: the pause in force if there was one (left as it is), else none. */
const pauseThrough = (client: Remote.Client, job: string, reason: string | undefined, until: Date | undefined) =>
  Effect.gen(function*() {
    const before = yield* client.jobs.get({ path: { name: job }, urlParams: {} })
    if (before.paused !== undefined) {
      const { at, by, reason, until } = before.paused
      return Option.some<RunStore.Pause>({ job, at, by, reason, until })
    }
    yield* client.jobs.pause({ path: { name: job }, payload: { reason, until } })
    return Option.none<RunStore.Pause>()
  })

const jobArgument = Args.text({ name: "job" }).pipe(Args.withDescription("name of the job (see `jobs`)"))

/** `since <instant> by <who> [until <instant>]: <reason>`, control characters escaped. */
export const describePause = (pause: RunStore.Pause): string =>
  `since ${pause.at.toISOString()}${pause.by === undefined ? "" : ` by ${escapeControl(pause.by)}`}` +
  (pause.until === undefined ? "" : ` until ${pause.until.toISOString()}`) +
  (pause.reason === undefined ? "" : `: ${escapeControl(pause.reason)}`)

/**
 * `pause <job> [--reason text]`: every instance records the job's slots as
 * skipped (paused) until `resume`. Logs `job paused` (with who) on stderr; a
 * job already paused is left as it is, and the command says since when.
 */
export const pauseCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "pause",
    {
      job: jobArgument,
      reason: Options.text("reason").pipe(
        Options.withDescription(
          `why it is paused, at most ${Control.MAX_PAUSE_REASON} characters, shown by \`jobs\` (default none)`
        ),
        Options.optional
      ),
      until: Options.text("until").pipe(
        Options.withDescription(
          "when the pause ends by itself, an ISO-8601 instant such as 2026-12-24T18:00:00Z; slots from then on run " +
            "(default: until `resume`)"
        ),
        Options.optional
      )
    },
    ({ job, reason, until: untilText }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const until = Option.getOrUndefined(Option.map(untilText, (raw) => new Date(raw)))
        if (until !== undefined && Number.isNaN(until.getTime())) {
          return yield* Effect.fail(
            usage(
              `--until ${
                quote(Option.getOrElse(untilText, () => ""))
              }: expected an ISO-8601 instant such as 2026-12-24T18:00:00Z`
            )
          )
        }
        if (until !== undefined && until.getTime() <= Date.now()) {
          return yield* Effect.fail(usage(`--until ${until.toISOString()} is not in the future`))
        }
        const text = Option.getOrUndefined(reason)
        const length = text === undefined ? 0 : [...text].length
        if (length > Control.MAX_PAUSE_REASON) {
          return yield* Effect.fail(
            usage(`--reason is ${length} characters long; the limit is ${Control.MAX_PAUSE_REASON}`)
          )
        }
        const remote = yield* Effect.flatMap(readConfig, Remote.connect)
        const existing = Option.isSome(remote)
          ? yield* Remote.call("pause", pauseThrough(remote.value, job, text, until))
          : yield* onRunStore("pause", (store) =>
            Control.pauseIn(store, job, { reason: text, until }).pipe(
              Effect.catchTag("PauseEndsInPast", (error) => Effect.fail(usage(error.message)))
            ))
        const ends = until === undefined ? "" : ` until ${until.toISOString()}`
        yield* Console.log(Option.match(existing, {
          onNone: () => `job ${quote(job)} paused${ends}${text === undefined ? "" : `: ${escapeControl(text)}`}`,
          onSome: (pause) => `job ${quote(job)} is already paused ${describePause(pause)}`
        }))
      })
  ).pipe(Command.withDescription("Pause a job on every instance: its slots are recorded as skipped (paused)"))

export const resumeCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make("resume", { job: jobArgument }, ({ job }) =>
    Effect.gen(function*() {
      yield* knownJob(jobs, job)
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      const resumed = Option.isSome(remote)
        ? yield* Remote.call(
          "resume",
          Effect.gen(function*() {
            const before = yield* remote.value.jobs.get({ path: { name: job }, urlParams: {} })
            if (before.paused === undefined) return false
            yield* remote.value.jobs.resume({ path: { name: job } })
            return true
          })
        )
        : yield* onRunStore("resume", (store) => Control.resumeIn(store, job))
      yield* Console.log(resumed ? `job ${quote(job)} resumed` : `job ${quote(job)} was not paused`)
    })).pipe(Command.withDescription("Resume a paused job on every instance"))

/** A run that never started (skipped, or still waiting) has no attempt and no duration to show. */
const ran = (run: RunStore.RunRecord) => run.status !== "skipped" && run.attempt > 0

/** A run as `history --json` prints it: every field present, `null` where there is no value. */
export const runJson = (run: RunStore.RunRecord) => ({
  runId: run.runId,
  job: run.job,
  nominalAt: run.nominalAt.toISOString(),
  reason: run.reason,
  status: run.status,
  skipReason: run.skipReason ?? null,
  attempt: ran(run) ? run.attempt : null,
  instance: run.instance,
  startedAt: run.startedAt.toISOString(),
  finishedAt: run.finishedAt?.toISOString() ?? null,
  durationMs: ran(run) ? run.durationMs ?? null : null,
  error: run.error ?? null,
  /** A run of a schedule created at run time: the schedule's version it ran under. */
  scheduleVersion: run.scheduleVersion ?? null
})

const seconds = (ms: number | null) => (ms === null ? "" : `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)}s`)

/**
 * `history [job] [--limit N] [--json]`: the run history, newest first. A job
 * this worker does not know is shown only if the history has runs of it (a
 * job since removed); otherwise it is a usage error, as for `pause`.
 */
export const historyCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "history",
    {
      job: Args.text({ name: "job" }).pipe(
        Args.withDescription("only the runs of this job (default every job)"),
        Args.optional
      ),
      limit: Options.integer("limit").pipe(
        Options.withDescription("how many runs to show, newest first, at least 1 (default 20)"),
        Options.withDefault(20)
      ),
      json: Options.boolean("json").pipe(
        Options.withDescription("print one JSON array of runs instead of a table (default off)")
      )
    },
    ({ job, json, limit }) =>
      Effect.gen(function*() {
        if (limit < 1) return yield* Effect.fail(usage(`--limit must be at least 1, got ${limit}`))
        const remote = yield* Effect.flatMap(readConfig, Remote.connect)
        const runs = Option.isSome(remote)
          ? yield* Remote.call("history", Remote.history(remote.value, Option.getOrUndefined(job), limit))
          : yield* onRunStore("history", (store) => store.history({ job: Option.getOrUndefined(job), limit }))
        if (runs.length === 0 && Option.isSome(job)) yield* knownJob(jobs, job.value)
        const records = runs.map(runJson)
        if (json) return yield* Console.log(jsonArray(records))
        if (records.length === 0) return yield* Console.log("no runs recorded")
        yield* Console.log(table(
          ["NOMINAL", "JOB", "STATUS", "REASON", "ATTEMPT", "DURATION", "INSTANCE", "DETAIL"],
          records.map((run) => [
            run.nominalAt,
            escapeControl(run.job),
            run.status,
            run.reason,
            run.attempt === null ? "" : String(run.attempt),
            seconds(run.durationMs),
            escapeControl(run.instance),
            escapeControl(run.skipReason ?? run.error ?? "")
          ])
        ))
      })
  ).pipe(Command.withDescription("The run history, newest first: every slot run, skipped, failed or abandoned"))
