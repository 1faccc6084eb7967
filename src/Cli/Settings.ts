/**
 * What `Cli.main` reads before @effect/cli parses the command line: the
 * `--log-level` option (ours, so that it wins over `LOG_LEVEL` and accepts
 * `warn`), and the package name of the entry script (the service name of a
 * worker composed from a user's own jobs).
 */
import { Either, LogLevel, Option } from "effect"
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { dirname, join } from "node:path"

/** The values of `--log-level`: those of @effect/cli's built-in option, and `warn`. */
export const LOG_LEVELS: Readonly<Record<string, LogLevel.LogLevel>> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

/**
 * `argv` without its `--log-level X` / `--log-level=X` (before a `--`; the
 * runtime and script, its first two entries, untouched), and the level it
 * named (the last one wins). Left: the message for an unknown or missing
 * value.
 */
export const takeLogLevel = (
  argv: ReadonlyArray<string>
): Either.Either<
  { readonly argv: ReadonlyArray<string>; readonly level: Option.Option<LogLevel.LogLevel> },
  string
> => {
  const rest: Array<string> = [...argv.slice(0, 2)]
  let level = Option.none<LogLevel.LogLevel>()
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (arg === "--") {
      rest.push(...argv.slice(i))
      break
    }
    if (arg !== "--log-level" && !arg.startsWith("--log-level=")) {
      rest.push(arg)
      continue
    }
    const value = arg === "--log-level" ? argv[++i] : arg.slice("--log-level=".length)
    const found = value === undefined ? undefined : LOG_LEVELS[value.toLowerCase()]
    if (found === undefined) {
      return Either.left(
        `--log-level ${value === undefined ? "needs a value" : `${JSON.stringify(value)} is not a level`}: ` +
          `one of ${Object.keys(LOG_LEVELS).join(", ")}`
      )
    }
    level = Option.some(found)
  }
  return Either.right({ argv: rest, level })
}

/**
 * `argv` with the cron expression of `next` last. @effect/cli reads a token that begins with `-` as an option,
 * so `next "-1 * * * *" --count 2` would fail on `--count` before our parser could name the problem. A token
 * with a space in it is never an option: it moves after the options; so does the token after a `--`, which
 * is dropped.
 */
export const expressionLast = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (argv[2] !== "next") return argv
  const rest = argv.slice(3)
  const separator = rest.indexOf("--")
  const expression = separator !== -1
    ? rest.slice(separator + 1, separator + 2)
    : rest.filter((arg) => arg.startsWith("-") && /\s/.test(arg))
  if (expression.length === 0) return argv
  const options = separator !== -1
    ? [...rest.slice(0, separator), ...rest.slice(separator + 2)]
    : rest.filter((arg) => !expression.includes(arg))
  return [...argv.slice(0, 3), ...options, ...expression]
}

/**
 * The `name` of the nearest `package.json` above `script` (symbolic links
 * resolved), if it has one.
 */
export const packageName = (script: string | undefined): string | undefined => {
  if (script === undefined || script === "" || !existsSync(script)) return undefined
  let dir = dirname(realpathSync(script))
  for (;;) {
    const file = join(dir, "package.json")
    if (existsSync(file)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(file, "utf8"))
        const name = typeof parsed === "object" && parsed !== null && "name" in parsed ? parsed.name : undefined
        return typeof name === "string" && name.trim() !== "" ? name.trim() : undefined
      } catch {
        // Unreadable or not JSON: no name to take from it.
        return undefined
      }
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}
