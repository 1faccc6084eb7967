/** What every command shares: its failure type, reading the configuration, names in error lines, tables. */
import { Context, Effect, LogLevel, Option, Schema } from "effect"
import type * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import * as WorkerConfig from "../WorkerConfig.js"

/** Ends the command with `code`, printing `lines` to stderr: bad input (2), bad config or jobs (1). */
export class CliExit extends Schema.TaggedError<CliExit>()("CliExit", {
  code: Schema.Int,
  lines: Schema.Array(Schema.String)
}) {}

/**
 * What `Cli.main` learnt before the command ran: the `--log-level` of the
 * command line (it wins over `LOG_LEVEL`), and the service name to use when
 * neither `SERVICE_NAME_WORKER` nor `OTEL_SERVICE_NAME` is set. Default: no
 * level given, the library's own service name.
 */
export class CliSettings extends Context.Reference<CliSettings>()("cron-worker/CliSettings", {
  defaultValue: (): {
    readonly logLevel: Option.Option<LogLevel.LogLevel>
    readonly serviceName: string | undefined
  } => ({ logLevel: Option.none(), serviceName: undefined })
}) {}

/**
 * `.env`, then the environment; a bad value ends the command with code 1 and
 * one line per variable. `--log-level` wins over `LOG_LEVEL`; a tool (every
 * command but `worker` and `run`) logs from `warn` up unless `--log-level`
 * says otherwise.
 */
export const readConfigFor = (kind: "worker" | "tool") =>
  Effect.gen(function*() {
    const settings = yield* CliSettings
    yield* WorkerConfig.loadDotEnv()
    const config = yield* WorkerConfig.makeConfig({ serviceName: settings.serviceName }).pipe(
      Effect.mapError((error) => new CliExit({ code: 1, lines: WorkerConfig.describeError(error) }))
    )
    const fallback = kind === "tool" ? LogLevel.Warning : config.logLevel
    return { ...config, logLevel: Option.getOrElse(settings.logLevel, () => fallback) }
  })

/** The configuration of a tool: logs from `warn` up unless `--log-level` says otherwise. */
export const readConfig = readConfigFor("tool")

/** Bad command-line input: exit code 2. */
export const usage = (message: string) => new CliExit({ code: 2, lines: [message] })

/** One control character as JSON writes it (`\n`, `\u001b`), or as a `\u` escape where JSON leaves it (DEL, C1). */
const escapeChar = (c: string) => {
  const json = JSON.stringify(c).slice(1, -1)
  return json === c ? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}` : json
}

/** User text shown unquoted: only its control characters escaped (`\n`, `\u001b`, …). */
export const escapeControl = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, escapeChar)

/**
 * A name or other user text as it goes into an error line: in double quotes,
 * control characters, quotes and backslashes escaped as JSON escapes them.
 */
export const quote = (text: string): string => escapeControl(JSON.stringify(text))

/** A job name this worker knows, or a usage error listing them. */
export const knownJob = (jobs: ReadonlyArray<Job.Any>, job: string) =>
  // A schedule's job (`schedule:<id>`) is data, not in the code: the store knows it.
  jobs.some((j) => j.name === job) || job.startsWith("schedule:")
    ? Effect.void
    : Effect.fail(usage(`no job named ${quote(job)}; the jobs are: ${jobs.map((j) => j.name).join(", ")}`))

/** Rows under a header, columns two spaces apart; the last column is not padded. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]?.length ?? 0)))
  return all.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")
}

/** One JSON document: the array of `values` (`[]` when empty), dates as ISO strings. */
export const jsonArray = (values: ReadonlyArray<unknown>): string => JSON.stringify(values)

/**
 * A tool's work on the database, on the configuration of a tool. A database
 * that cannot be opened ends the command with one line naming it and why:
 * `history: cannot open the embedded database at …: …`.
 */
export const withDatabase = <A, E, R>(
  command: string,
  effect: Effect.Effect<A, E, R>,
  database?: Parameters<typeof Lifecycle.withDatabase>[2]
) =>
  Effect.flatMap(readConfig, (config) =>
    Lifecycle.withDatabase(config, effect, database).pipe(
      Effect.catchIf(
        Lifecycle.isStartError,
        (error) => Effect.fail(new CliExit({ code: 1, lines: [`${command}: ${Lifecycle.describeStartError(error)}`] }))
      )
    ))
