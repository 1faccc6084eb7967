/** Commands on the worker's database and broker: `run`, `migrate`. */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as Database from "../Database.js"
import type * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import { CliExit, escapeControl, knownJob, quote, readConfigFor, withDatabase } from "./Common.js"
import * as Remote from "./Remote.js"

/**
 * `run <job>`: one manual run now; exits with its outcome. Its log lines go
 * to stderr; stdout gets one line on success.
 */
export const runCommand = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  jobs: Jobs,
  layer: Lifecycle.AppLayer<Jobs, E>
) =>
  Command.make(
    "run",
    {
      job: Args.text({ name: "job" }).pipe(Args.withDescription("name of the job to run (see `jobs`)")),
      noDeliver: Options.boolean("no-deliver").pipe(
        Options.withDescription("leave what is pending in the outbox for the worker (default: deliver it, up to 30 s)")
      )
    },
    ({ job, noDeliver }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const config = yield* readConfigFor("worker")
        // A worker running on this database runs it (and its relay delivers what it publishes).
        const remote = yield* Remote.connect(config)
        const record = Option.isSome(remote)
          ? yield* Remote.call(
            "run",
            Effect.map(remote.value.jobs.trigger({ path: { name: job } }), (run) => Option.some(Remote.toRecord(run)))
          )
          : yield* Lifecycle.runOnce(config, jobs, layer, job, { deliver: !noDeliver }).pipe(
            Effect.catchIf(
              Lifecycle.isStartError,
              (error) => Effect.fail(new CliExit({ code: 1, lines: [`run: ${Lifecycle.describeStartError(error)}`] }))
            )
          )
        if (Option.isNone(record)) {
          return yield* Effect.fail(new CliExit({ code: 1, lines: [`job ${quote(job)} left no record`] }))
        }
        const { durationMs, error, runId, status } = record.value
        if (status !== "succeeded") {
          const why = error === undefined ? "" : `: ${escapeControl(error)}`
          return yield* Effect.fail(new CliExit({ code: 1, lines: [`job ${quote(job)} ${status}${why}`] }))
        }
        const took = durationMs === undefined ? "" : ` in ${(durationMs / 1000).toFixed(2)}s`
        yield* Console.log(`job ${quote(job)} succeeded${took} (run ${runId})`)
      })
  ).pipe(Command.withDescription("Run one job now as a manual run, deliver what it published, exit with its outcome"))

export const migrateCommand = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const applied = yield* withDatabase("migrate", Database.migrate, Database.layerWithoutMigrations)
    yield* Console.log(
      applied.length === 0
        ? "database is up to date"
        : `applied: ${applied.join(", ")}`
    )
  })).pipe(Command.withDescription("Apply the database migrations and exit"))
