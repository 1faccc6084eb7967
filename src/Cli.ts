/**
 * The command line: `worker` (the default), `run`, `next`, `jobs`, `check`,
 * `history`, `pause`, `resume`, `migrate`, `seed-demo` and `outbox`. `main({ jobs, layer })` is everything
 * a worker's entry point needs: `NodeRuntime.runMain(Cli.main({ jobs, layer }))`.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { CliExit, readConfig } from "./Cli/Common.js"
import {
  historyCommand,
  migrateCommand,
  outboxCommand,
  pauseCommand,
  resumeCommand,
  runCommand,
  seedDemoCommand
} from "./Cli/Operations.js"
import { checkCommand, jobsCommand, nextCommand } from "./Cli/Schedule.js"
import { describe } from "./Execution.js"
import type * as Infrastructure from "./Infrastructure.js"
import type * as Job from "./Job.js"
import * as Lifecycle from "./Lifecycle.js"
import { maintenance } from "./Maintenance.js"
import * as Worker from "./Worker.js"

export { CliExit } from "./Cli/Common.js"
export { parseInstant } from "./Cli/Schedule.js"

/**
 * What a worker is made of: its jobs, and a layer with the services they
 * need beyond those the worker provides (`Infrastructure.Provided`:
 * `WorkerConfig`, `SqlClient`, `PgClient`, `Publisher`). The layer may be left
 * out when the jobs need nothing more.
 */
export type MainOptions<Jobs extends ReadonlyArray<Job.Any>, E> =
  & {
    readonly jobs: Jobs
    /** Name in `--help`. Default `cron-worker`. */
    readonly name?: string | undefined
    readonly version?: string | undefined
  }
  & ([Exclude<Job.Requirements<Jobs[number]>, Infrastructure.Provided>] extends [never]
    ? { readonly layer?: Lifecycle.AppLayer<Jobs, E> | undefined }
    : { readonly layer: Lifecycle.AppLayer<Jobs, E> })

/** The command tree of a worker made of `options.jobs`. */
export const make = <const Jobs extends ReadonlyArray<Job.Any>, E>(options: MainOptions<Jobs, E>) => {
  // `layer` may be left out only when the jobs need nothing more: `Layer.empty` then provides all of it.
  const layer = (options.layer ?? Layer.empty) as Lifecycle.AppLayer<Jobs, E>
  // The worker's own maintenance job runs beside the user's.
  const jobs = [...options.jobs, maintenance] as const
  const runWorker = Effect.flatMap(readConfig, (config) => Lifecycle.run(config, jobs, layer))
  const worker = Command.make("worker", {}, () => runWorker).pipe(
    Command.withDescription("Run the scheduler until SIGINT or SIGTERM (the default command)")
  )
  return Command.make(options.name ?? "cron-worker", {}, () => runWorker).pipe(
    Command.withDescription("Scheduled jobs as Effect programs"),
    Command.withSubcommands([
      worker,
      runCommand(jobs, layer),
      nextCommand,
      jobsCommand(jobs),
      checkCommand(jobs),
      historyCommand(jobs),
      pauseCommand(jobs),
      resumeCommand(jobs),
      migrateCommand,
      seedDemoCommand,
      outboxCommand
    ])
  )
}

const report = (error: unknown) =>
  Effect.gen(function*() {
    if (error instanceof CliExit) {
      if (error.lines.length > 0) yield* Console.error(error.lines.join("\n"))
      process.exitCode = error.code
      return
    }
    if (error instanceof Worker.InvalidJobs) {
      yield* Console.error(error.lines.join("\n"))
      process.exitCode = 1
      return
    }
    if (ValidationError.isValidationError(error)) {
      process.exitCode = ValidationError.isHelpRequested(error) ? 0 : 2
      return
    }
    yield* Console.error(describe(error))
    process.exitCode = 1
  })

/**
 * The whole program of a worker's entry point: parses `process.argv`, runs
 * the command, prints errors to stderr and sets the exit code. Never fails.
 */
export const main = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  options: MainOptions<Jobs, E>
): Effect.Effect<void> =>
  Effect.suspend(() =>
    Command.run(make(options), { name: options.name ?? "cron-worker", version: options.version ?? "0.1.0" })(
      process.argv
    )
  ).pipe(
    Effect.catchAll(report),
    Effect.provide(NodeContext.layer),
    Effect.asVoid
  )
