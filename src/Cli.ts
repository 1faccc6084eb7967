/**
 * The command line: `worker` (the default), `run`, `cancel`, `backfill`, `next`, `jobs`, `check`,
 * `history`, `pause`, `resume`, `schedules`, `migrate`, `outbox` and `alerts` (the commands are in
 * `Cli/`), and the application's own. `main({ jobs, layer, migrations,
 * commands })` is everything a worker's entry point needs:
 * `NodeRuntime.runMain(Cli.main({ jobs, layer }))`.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Cause, Console, Effect, Either, Layer } from "effect"
import { alertsCommand } from "./Cli/Alerts.js"
import { CliExit, CliSettings, readConfigFor, usage } from "./Cli/Common.js"
import * as CliConsole from "./Cli/Console.js"
import { historyCommand, pauseCommand, resumeCommand } from "./Cli/History.js"
import { backfillCommand, cancelCommand, migrateCommand, runCommand } from "./Cli/Operations.js"
import { outboxCommand } from "./Cli/Outbox.js"
import { checkCommand, jobsCommand, nextCommand } from "./Cli/Schedule.js"
import { schedulesCommand } from "./Cli/Schedules.js"
import { expressionLast, packageName, takeLogLevel } from "./Cli/Settings.js"
import { describe } from "./Execution.js"
import type * as Infrastructure from "./Infrastructure.js"
import type * as Job from "./Job.js"
import type * as Kind from "./Kind.js"
import * as Lifecycle from "./Lifecycle.js"
import * as Migrations from "./Migrations.js"
import * as Worker from "./Worker.js"

export { CliExit, withDatabase } from "./Cli/Common.js"
export { parseInstant } from "./Cli/Schedule.js"

/**
 * What a worker is made of: its jobs, and either a layer with the services they
 * need beyond those the worker provides (`Infrastructure.Provided`:
 * `WorkerConfig`, `SqlClient`, `PgClient`, `Publisher`), on the worker's own
 * stack (`Lifecycle.stack`), or the whole `stack` under them (`src/main.ts`
 * writes one out). The layer may be left out when the jobs need nothing more.
 */
export type MainOptions<
  Jobs extends ReadonlyArray<Job.Any>,
  E,
  Kinds extends ReadonlyArray<Kind.Any> = readonly []
> =
  & {
    /**
     * Every job the worker runs, in registration order. The worker adds none of its own: history retention is
     * the job `maintenance` (exported beside `Cli`), listed here like any other.
     */
    readonly jobs: Jobs
    /**
     * The job kinds of schedules created at run time (through the admin API or `schedules create`): each a name, a
     * payload `Schema` and `run(payload)`. Default: none.
     */
    readonly kinds?: Kinds | undefined
    /** The application's tables: migration sets applied after the worker's own. Default: none. */
    readonly migrations?: ReadonlyArray<Migrations.Set> | undefined
    /** The application's own commands, beside the worker's (`seed-demo` in this repository). Default: none. */
    readonly commands?: ReadonlyArray<AppCommand> | undefined
    /** Name in `--help`. Default `cron-worker`. */
    readonly name?: string | undefined
    readonly version?: string | undefined
    /**
     * The `service` of log lines and spans when neither `SERVICE_NAME_WORKER`
     * nor `OTEL_SERVICE_NAME` is set. Default: the `name` in the nearest
     * `package.json` above the entry script, else `cron-worker`.
     */
    readonly serviceName?: string | undefined
  }
  & (
    | {
      /**
       * The whole stack under the jobs, built in start-up order for each command's mode (see `Lifecycle.Stack`).
       * Default: the worker's own on `layer` (`Lifecycle.stack(layer, kinds)`).
       */
      readonly stack: Lifecycle.Stack<Jobs, E, Kinds>
      readonly layer?: undefined
    }
    | (
      & { readonly stack?: undefined }
      & ([Exclude<Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]>, Infrastructure.Provided>] extends
        [never] ? { readonly layer?: Lifecycle.AppLayer<Jobs, E, Kinds> | undefined }
        : { readonly layer: Lifecycle.AppLayer<Jobs, E, Kinds> })
    )
  )

/** A command of the application: it may read the configuration and open the database (`withDatabase`). */
// Its name and parsed arguments are its own: `withSubcommands` itself takes `Command<any, any, any, any>`.
/* eslint-disable-next-line @typescript-eslint/no-explicit-any */
export type AppCommand = Command.Command<any, CliContext, unknown, any>

/** What a command runs in: Node's file system, path and terminal, and the settings of `main`. */
type CliContext = NodeContext.NodeContext

/** The command tree of a worker made of `options.jobs`. */
export const make = <
  const Jobs extends ReadonlyArray<Job.Any>,
  E,
  const Kinds extends ReadonlyArray<Kind.Any> = readonly []
>(options: MainOptions<Jobs, E, Kinds>) => {
  const jobs = options.jobs
  const kinds = (options.kinds ?? []) as Kinds
  // `layer` may be left out only when the jobs need nothing more: `Layer.empty` then provides all of it.
  const stack: Lifecycle.Stack<Jobs, unknown, Kinds> = options.stack ??
    Lifecycle.stack((options.layer ?? Layer.empty) as Lifecycle.AppLayer<Jobs, E, Kinds>, kinds)
  // A failed start-up was logged (`worker failed to start`), defects too: nothing more to print. Invalid jobs
  // are printed like bad configuration.
  const runWorker = Effect.flatMap(readConfigFor("worker"), (config) =>
    Lifecycle.run(config, jobs, stack, kinds).pipe(
      Effect.mapError((error) =>
        new CliExit({ code: 1, lines: error instanceof Worker.InvalidJobs ? error.lines : [] })
      ),
      Effect.catchAllDefect(() => Effect.fail(new CliExit({ code: 1, lines: [] })))
    ))
  const worker = Command.make("worker", {}, () => runWorker).pipe(
    Command.withDescription("Run the scheduler until SIGINT or SIGTERM (the default command)")
  )
  return Command.make(options.name ?? "cron-worker", {}, () => runWorker).pipe(
    Command.withDescription("Scheduled jobs as Effect programs"),
    Command.withSubcommands([
      worker,
      runCommand(jobs, stack as unknown as Lifecycle.Stack<Jobs, unknown>),
      cancelCommand,
      backfillCommand(jobs),
      nextCommand,
      jobsCommand(jobs),
      checkCommand(jobs),
      historyCommand(jobs),
      pauseCommand(jobs),
      resumeCommand(jobs),
      schedulesCommand(kinds),
      migrateCommand,
      outboxCommand,
      alertsCommand,
      ...(options.commands ?? [])
    ])
  )
}

const report = (command: string) => (error: unknown) =>
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
    yield* Console.error(`${command}: ${describe(error)}`)
    process.exitCode = 1
  })

/** A defect (a bug, or a database lost in the middle of a command): one line naming the command, exit 1. */
const reportDefect = (command: string) => (cause: Cause.Cause<unknown>) =>
  Cause.isInterruptedOnly(cause) ? Effect.interrupt : report(command)(Cause.squash(cause))

/**
 * The whole program of a worker's entry point: parses `process.argv`, runs
 * the command, prints errors to stderr and sets the exit code. Never fails.
 * `--log-level` is read here (it wins over `LOG_LEVEL`); help and errors of
 * the command line are printed without colours unless on a terminal.
 */
export const main = <
  const Jobs extends ReadonlyArray<Job.Any>,
  E,
  const Kinds extends ReadonlyArray<Kind.Any> = readonly []
>(
  options: MainOptions<Jobs, E, Kinds>
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const name = options.name ?? "cron-worker"
    const parsed = takeLogLevel(process.argv)
    if (Either.isLeft(parsed)) return report(name)(usage(parsed.left))
    const first = parsed.right.argv[2]
    const command = first !== undefined && !first.startsWith("-") ? first : name
    const settings = {
      logLevel: parsed.right.level,
      serviceName: options.serviceName ?? packageName(process.argv[1])
    }
    const argv = expressionLast(parsed.right.argv)
    return Command.run(make(options), { name, version: options.version ?? "0.1.0" })(argv).pipe(
      Effect.provideService(CliSettings, settings),
      Effect.provideService(Migrations.AppMigrations, options.migrations ?? []),
      Effect.catchAll(report(command)),
      Effect.catchAllCause(reportDefect(command))
    )
  }).pipe(
    CliConsole.tidied,
    Effect.provide(NodeContext.layer),
    Effect.asVoid
  )
