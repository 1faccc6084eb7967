/** Commands on the worker's database and broker: `run`, `cancel`, `backfill`, `migrate`. */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { operator } from "../Control.js"
import * as Database from "../Database.js"
import type * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import { RunStore } from "../RunStore.js"
import * as PgRunStore from "../RunStore/Pg.js"
import { CliExit, escapeControl, knownJob, quote, readConfig, readConfigFor, usage, withDatabase } from "./Common.js"
import * as Remote from "./Remote.js"

/** The overlap policy of one run or one backfill (`replace` is the job's alone). */
const overlapOption = Options.choice("overlap", ["skip", "allow", "queue"]).pipe(
  Options.withDescription("the overlap policy of this run only (default: the job's)"),
  Options.optional
)

/**
 * `run <job>`: one manual run now; exits with its outcome. Its log lines go
 * to stderr; stdout gets one line on success.
 */
export const runCommand = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  jobs: Jobs,
  stack: Lifecycle.Stack<Jobs, E>
) =>
  Command.make(
    "run",
    {
      job: Args.text({ name: "job" }).pipe(Args.withDescription("name of the job to run (see `jobs`)")),
      noDeliver: Options.boolean("no-deliver").pipe(
        Options.withDescription("leave what is pending in the outbox for the worker (default: deliver it, up to 30 s)")
      ),
      overlap: overlapOption,
      noWait: Options.boolean("no-wait").pipe(
        Options.withDescription(
          "start the run in the running worker and exit once it has started (needs a running worker; default: wait)"
        )
      )
    },
    ({ job, noDeliver, noWait, overlap: chosen }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const config = yield* readConfigFor("worker")
        const overlap = Option.getOrUndefined(chosen)
        // A worker running on this database runs it (and its relay delivers what it publishes).
        const remote = yield* Remote.connect(config)
        if (noWait && Option.isNone(remote)) {
          // In this process the run would end with the command: there is nothing to leave it to.
          return yield* Effect.fail(usage("run --no-wait: no worker is running on this database to leave the run to"))
        }
        const record = Option.isSome(remote)
          ? yield* Remote.call(
            "run",
            Effect.map(
              remote.value.jobs.trigger({ path: { name: job }, payload: { overlap, wait: !noWait } }),
              (run) => Option.some(Remote.toRecord(run))
            )
          )
          : yield* Lifecycle.runOnce(config, jobs, stack, job, { deliver: !noDeliver, overlap }).pipe(
            Effect.catchIf(
              Lifecycle.isStartError,
              (error) => Effect.fail(new CliExit({ code: 1, lines: [`run: ${Lifecycle.describeStartError(error)}`] }))
            )
          )
        if (Option.isNone(record)) {
          return yield* Effect.fail(new CliExit({ code: 1, lines: [`job ${quote(job)} left no record`] }))
        }
        const { durationMs, error, runId, skipReason, status } = record.value
        if (noWait && (status === "running" || status === "queued")) {
          return yield* Console.log(`job ${quote(job)} ${status} (run ${runId})`)
        }
        if (status !== "succeeded") {
          if (status === "skipped" && skipReason !== undefined) {
            return yield* Effect.fail(new CliExit({ code: 1, lines: [`job ${quote(job)} skipped (${skipReason})`] }))
          }
          const why = error === undefined ? "" : `: ${escapeControl(error)}`
          return yield* Effect.fail(new CliExit({ code: 1, lines: [`job ${quote(job)} ${status}${why}`] }))
        }
        const took = durationMs === undefined ? "" : ` in ${(durationMs / 1000).toFixed(2)}s`
        yield* Console.log(`job ${quote(job)} succeeded${took} (run ${runId})`)
      })
  ).pipe(Command.withDescription("Run one job now as a manual run, deliver what it published, exit with its outcome"))

/**
 * `cancel <runId>`: interrupts a running run, on whichever instance runs it. Through a running worker's API when
 * there is one; else by asking on the database, where the instance running it sees the request when it renews the
 * run's lease (a third of `WORKER_LEASE_SECONDS` at most).
 */
export const cancelCommand = Command.make(
  "cancel",
  { runId: Args.text({ name: "runId" }).pipe(Args.withDescription("the run's id (see `history`)")) },
  ({ runId }) =>
    Effect.gen(function*() {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(runId)) {
        return yield* Effect.fail(usage(`cancel: ${quote(runId)} is not a run id`))
      }
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      if (Option.isSome(remote)) {
        const run = yield* Remote.call("cancel", remote.value.runs.cancel({ path: { runId } }))
        return yield* Console.log(`run ${runId} of job ${quote(run.job)}: ${run.status}`)
      }
      const asked = yield* withDatabase(
        "cancel",
        Effect.gen(function*() {
          const store = yield* RunStore
          const run = yield* store.get(runId)
          if (Option.isNone(run)) return { run, asked: false }
          return { run, asked: yield* store.cancelRun(runId, `cancelled from the command line (${operator()})`) }
        }).pipe(Effect.provide(PgRunStore.layer))
      )
      if (Option.isNone(asked.run)) return yield* Effect.fail(new CliExit({ code: 1, lines: [`no run ${runId}`] }))
      if (!asked.asked) {
        return yield* Effect.fail(
          new CliExit({ code: 1, lines: [`run ${runId} is not running: it is ${asked.run.value.status}`] })
        )
      }
      yield* Console.log(`run ${runId} of job ${quote(asked.run.value.job)}: cancel requested`)
    })
).pipe(Command.withDescription("Interrupt a running run on whichever instance runs it; it is recorded interrupted"))

/** `--from` and `--to` of `backfill`: an ISO-8601 instant, or a usage error. */
const instant = (option: string, raw: string) => {
  const at = new Date(raw)
  return Number.isNaN(at.getTime())
    ? Effect.fail(usage(`--${option} ${quote(raw)}: expected an ISO-8601 instant such as 2026-01-01T00:00:00Z`))
    : Effect.succeed(at)
}

/**
 * `backfill <job> --from ISO --to ISO [--overlap …]`: the job's slots in [from, to) run in the running worker, one
 * after another, recorded as `backfill`. Needs a running worker: the runs go on after the command exits.
 */
export const backfillCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "backfill",
    {
      job: Args.text({ name: "job" }).pipe(Args.withDescription("name of the job (see `jobs`)")),
      from: Options.text("from").pipe(Options.withDescription("the first instant of the range, ISO 8601 (inclusive)")),
      to: Options.text("to").pipe(Options.withDescription("the end of the range, ISO 8601 (exclusive), not after now")),
      overlap: overlapOption
    },
    ({ from: fromText, job, overlap, to: toText }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const from = yield* instant("from", fromText)
        const to = yield* instant("to", toText)
        const remote = yield* Effect.flatMap(readConfig, Remote.connect)
        if (Option.isNone(remote)) {
          return yield* Effect.fail(
            new CliExit({ code: 1, lines: ["backfill: no worker is running on this database to run the backfill"] })
          )
        }
        const started = yield* Remote.call(
          "backfill",
          remote.value.jobs.backfill({
            path: { name: job },
            payload: { from, to, overlap: Option.getOrUndefined(overlap) }
          })
        )
        yield* Console.log(
          `backfill ${started.id} of job ${quote(job)}: ${started.slots.length} slots, running in the worker`
        )
      })
  ).pipe(Command.withDescription("Run a job's slots of a past range now, one after another, in the running worker"))

export const migrateCommand = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const applied = yield* withDatabase("migrate", Database.migrate, Database.layerWithoutMigrations)
    yield* Console.log(
      applied.length === 0
        ? "database is up to date"
        : `applied: ${applied.join(", ")}`
    )
  })).pipe(Command.withDescription("Apply the database migrations and exit"))
