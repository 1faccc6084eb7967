/**
 * The console the command line prints through. @effect/cli writes help and
 * its own errors with Effect's `Console`; this one wraps the default and
 * tidies that text: no ANSI escapes when the stream is not a terminal (or
 * `NO_COLOR` is set), "is not an integer" rather than "is not a integer", and
 * no generic line of a primitive ("A user-defined piece of text.") in help
 * where a real description follows it.
 */
import { Console, Effect } from "effect"

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g

/** `text` without ANSI escape sequences (colours, bold, cursor moves, hyperlinks). */
export const stripAnsi = (text: string): string => text.replace(ANSI, "")

/** What @effect/cli says about a primitive when it has nothing better; our own descriptions follow it. */
const GENERIC = new Set([
  "A user-defined piece of text.",
  "A user-defined piece of text that is confidential.",
  "An integer.",
  "A floating point number.",
  "A true or false value."
])

/** Lines @effect/cli adds after a description: they are not one. */
const isLibraryNote = (text: string) => text.startsWith("This setting is optional") || text.startsWith("This option ")

const indentOf = (line: string) => line.length - line.trimStart().length

/**
 * Help text without the generic line of a primitive where a description of
 * ours follows it (after one blank line, at the same indentation).
 */
export const dropGenericLines = (text: string): string => {
  const lines = text.split("\n")
  const plain = lines.map(stripAnsi)
  const kept: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    const line = plain[i] ?? ""
    const next = plain[i + 2]
    const described = GENERIC.has(line.trim()) && plain[i + 1]?.trim() === "" && next !== undefined &&
      next.trim() !== "" && indentOf(next) === indentOf(line) && !isLibraryNote(next.trim()) &&
      !GENERIC.has(next.trim())
    if (described) {
      i++ // the blank line after it goes too
      continue
    }
    kept.push(lines[i] ?? "")
  }
  return kept.join("\n")
}

/** "is not a integer" → "is not an integer" (the library's article does not look at the word). */
export const fixArticles = (text: string): string => text.replace(/\bis not a (?=[aeiou])/gi, "is not an ")

/** Options of {@link make}: whether each stream keeps its colours. */
export interface Options {
  readonly stdoutColors: boolean
  readonly stderrColors: boolean
}

/** A console that tidies every string it prints (see the module's doc), printing through `base`. */
export const make = (base: Console.Console, options: Options): Console.Console => {
  const tidy = (colors: boolean) => (arg: unknown) => {
    if (typeof arg !== "string") return arg
    const text = dropGenericLines(fixArticles(arg))
    return colors ? text : stripAnsi(text)
  }
  const out = tidy(options.stdoutColors)
  const err = tidy(options.stderrColors)
  return {
    ...base,
    log: (...args: ReadonlyArray<unknown>) => base.log(...args.map(out)),
    info: (...args: ReadonlyArray<unknown>) => base.info(...args.map(out)),
    error: (...args: ReadonlyArray<unknown>) => base.error(...args.map(err)),
    warn: (...args: ReadonlyArray<unknown>) => base.warn(...args.map(err)),
    unsafe: {
      ...base.unsafe,
      log: (...args: ReadonlyArray<unknown>) => base.unsafe.log(...args.map(out)),
      info: (...args: ReadonlyArray<unknown>) => base.unsafe.info(...args.map(out)),
      error: (...args: ReadonlyArray<unknown>) => base.unsafe.error(...args.map(err)),
      warn: (...args: ReadonlyArray<unknown>) => base.unsafe.warn(...args.map(err))
    }
  }
}

/**
 * Colours only on a terminal, and never with `NO_COLOR` set (no-color.org: any
 * non-empty value).
 */
export const colorsFor = (stream: { readonly isTTY?: boolean | undefined }): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""

/** Runs `self` with the tidying console around the current one, colours decided by stdout's and stderr's kind. */
export const tidied = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.consoleWith((base) =>
    Effect.withConsole(
      self,
      make(base, { stdoutColors: colorsFor(process.stdout), stderrColors: colorsFor(process.stderr) })
    )
  )
