/** What every command shares: its failure type and reading the configuration. */
import { Effect, Schema } from "effect"
import * as WorkerConfig from "../WorkerConfig.js"

/** Ends the command with `code`, printing `lines` to stderr: bad input (2), bad config or jobs (1). */
export class CliExit extends Schema.TaggedError<CliExit>()("CliExit", {
  code: Schema.Int,
  lines: Schema.Array(Schema.String)
}) {}

/** `.env`, then the environment; a bad value ends the command with code 1 and one line per variable. */
export const readConfig = WorkerConfig.loadDotEnv().pipe(
  Effect.zipRight(WorkerConfig.config),
  Effect.mapError((error) => new CliExit({ code: 1, lines: WorkerConfig.describeError(error) }))
)

/** Bad command-line input: exit code 2. */
export const usage = (message: string) => new CliExit({ code: 2, lines: [message] })
