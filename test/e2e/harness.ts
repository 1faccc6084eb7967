/**
 * Spawns worker scripts and the CLI as real Node processes and watches their
 * output: stdout is read line by line, each line parsed as a JSON log line
 * when it is one. Every wait has a timeout that fails with the output so far.
 * Cleanup: `runNode` kills its own process; the `spawn` fixture of `test`
 * kills the processes of a test when it ends (safe in concurrent tests);
 * `killAll` kills whatever is left.
 */
import { it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
/** The worker's own entry point, as built by `npm run build`. */
export const MAIN = join(ROOT, "dist/main.js")
/** A script of `test/fixtures/`. */
export const fixture = (name: string): string => join(ROOT, "test/fixtures", name)

/** One line of the worker's JSON log. */
export interface LogLine {
  readonly time: string
  readonly level: string
  readonly service: string
  readonly msg: string
  readonly [field: string]: unknown
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** `Date.now()` when the process exited. */
  readonly at: number
}

/** Variables the worker reads: never inherited from the environment running the tests. */
const CONFIG_VARIABLES = [
  "SERVICE_NAME_WORKER",
  "WORKER_DEFAULT_TIMEOUT_SECONDS",
  "WORKER_MAX_CONCURRENT_JOBS",
  "WORKER_SHUTDOWN_TIMEOUT_SECONDS",
  "WORKER_TIMEZONE",
  "LOG_LEVEL",
  "LOG_FORMAT"
]

const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !CONFIG_VARIABLES.includes(key) && !key.startsWith("FIXTURE_")) env[key] = value
  }
  return env
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The line as a log line, or `undefined` when it is not JSON with string `time`, `level`, `service` and `msg`. */
export const parseLogLine = (line: string): LogLine | undefined => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isRecord(value)) return undefined
  const { level, msg, service, time } = value
  if (typeof time !== "string" || typeof level !== "string" || typeof service !== "string" || typeof msg !== "string") {
    return undefined
  }
  return { ...value, time, level, service, msg }
}

export interface SpawnOptions {
  /** Added to a clean environment (the worker's own variables removed). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Contents of a `.env` file in the process's working directory (a fresh temporary directory). */
  readonly dotEnv?: string | undefined
}

export interface Proc {
  readonly pid: number
  /** Complete stdout lines so far. */
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
  readonly exited: Exited | undefined
  /** stdout and stderr so far, for failure messages. */
  readonly output: () => string
  /** Every stdout line parsed; throws, naming the line, when one is not a JSON log line. */
  readonly logs: () => Array<LogLine>
  /** The first stdout line (raw) that satisfies `predicate`. */
  readonly waitForLine: (label: string, predicate: (line: string) => boolean, timeoutMs?: number) => Promise<string>
  /** The first log line with this `msg` (and satisfying `where`, when given). */
  readonly waitFor: (msg: string, where?: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** Sends `signal`; returns `Date.now()` at the time it was sent. */
  readonly signal: (signal: NodeJS.Signals) => number
  /** Waits for the process to exit and its output to be read. */
  readonly exit: (timeoutMs?: number) => Promise<Exited>
  /** SIGKILL unless it has exited; resolves once it is gone. */
  readonly kill: () => Promise<void>
}

/** Processes not yet killed by `Proc.kill` or `killAll`. */
const live = new Set<Proc>()

const tail = (lines: ReadonlyArray<string>, n: number) =>
  (lines.length > n ? [`… ${lines.length - n} earlier lines`] : []).concat(lines.slice(-n)).join("\n")

/** Starts `node script ...args` in a fresh working directory. */
export const spawnNode = (script: string, args: ReadonlyArray<string> = [], options: SpawnOptions = {}): Proc => {
  const dir = mkdtempSync(join(tmpdir(), "cron-worker-e2e-"))
  if (options.dotEnv !== undefined) writeFileSync(join(dir, ".env"), options.dotEnv)
  const child = spawn(process.execPath, [script, ...args], {
    cwd: dir,
    env: { ...baseEnv(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  let partial = ""
  let stderr = ""
  let exited: Exited | undefined
  let exitAt = 0
  let closed = false
  const listeners = new Set<() => void>()
  const changed = () => {
    for (const listener of [...listeners]) listener()
  }
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n")
    partial = parts.pop() ?? ""
    lines.push(...parts)
    changed()
  })
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
  })
  child.on("exit", () => {
    exitAt = Date.now()
  })
  const closedPromise = new Promise<void>((done) => {
    child.on("close", (code, signal) => {
      if (partial !== "") lines.push(partial)
      partial = ""
      closed = true
      exited = { code, signal, at: exitAt || Date.now() }
      changed()
      done()
    })
  })

  const output = () =>
    `pid ${child.pid ?? "?"}, ${script} ${args.join(" ")}\n--- stdout (${lines.length} lines) ---\n${tail(lines, 80)}${
      partial === "" ? "" : `\n${partial}`
    }\n--- stderr ---\n${stderr}--- exit: ${exited === undefined ? "still running" : JSON.stringify(exited)}`

  /** Resolves with the first defined `check()`, re-checked on every new line and at exit. */
  const until = <A>(label: string, check: () => A | undefined, timeoutMs: number): Promise<A> =>
    new Promise((resolvePromise, reject) => {
      const listener = () => {
        const found = check()
        if (found !== undefined) {
          finish()
          resolvePromise(found)
        } else if (closed) {
          finish()
          reject(new Error(`process exited before ${label}\n${output()}`))
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}\n${output()}`))
      }, timeoutMs)
      const finish = () => {
        clearTimeout(timer)
        listeners.delete(listener)
      }
      listeners.add(listener)
      listener()
    })

  const proc: Proc = {
    pid: child.pid ?? -1,
    get lines() {
      return lines
    },
    get stderr() {
      return stderr
    },
    get exited() {
      return exited
    },
    output,
    logs: () =>
      lines.map((line, i) => {
        const parsed = parseLogLine(line)
        if (parsed === undefined) {
          throw new Error(`stdout line ${i + 1} is not a JSON log line with time, level, service and msg: ${line}\n${output()}`)
        }
        return parsed
      }),
    waitForLine: (label, predicate, timeoutMs = 10_000) => until(label, () => lines.find(predicate), timeoutMs),
    waitFor: (msg, where = () => true, timeoutMs = 10_000) =>
      until(
        `log line "${msg}"`,
        () => {
          for (const line of lines) {
            const parsed = parseLogLine(line)
            if (parsed !== undefined && parsed.msg === msg && where(parsed)) return parsed
          }
          return undefined
        },
        timeoutMs
      ),
    signal: (signal) => {
      const at = Date.now()
      if (!child.kill(signal)) throw new Error(`could not send ${signal}\n${output()}`)
      return at
    },
    exit: (timeoutMs = 15_000) => until("exit", () => exited, timeoutMs),
    kill: async () => {
      live.delete(proc)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      await closedPromise
      rmSync(dir, { recursive: true, force: true })
    }
  }
  live.add(proc)
  return proc
}

export interface Completed {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** Everything, for failure messages. */
  readonly output: string
}

/** Runs `node script ...args` to completion; kills it if it outlives `timeoutMs`. Safe in concurrent tests. */
export const runNode = async (
  script: string,
  args: ReadonlyArray<string> = [],
  options: SpawnOptions & { readonly timeoutMs?: number } = {}
): Promise<Completed> => {
  const proc = spawnNode(script, args, options)
  try {
    const exited = await proc.exit(options.timeoutMs ?? 15_000)
    return { code: exited.code, stdout: proc.lines.join("\n"), stderr: proc.stderr, output: proc.output() }
  } finally {
    await proc.kill()
  }
}

/** Kills every process still running and removes the working directories. */
export const killAll = async (): Promise<void> => {
  await Promise.all([...live].map((proc) => proc.kill()))
}

/** The `msg` of each line, keeping only those in `msgs`: compare with `msgs` to check order and uniqueness. */
export const sequence = (logs: ReadonlyArray<LogLine>, msgs: ReadonlyArray<string>): Array<string> =>
  logs.map((line) => line.msg).filter((msg) => msgs.includes(msg))

/** Index of the first line satisfying `predicate` (-1 if none). */
export const indexWhere = (logs: ReadonlyArray<LogLine>, predicate: (line: LogLine) => boolean): number =>
  logs.findIndex(predicate)

/** Non-empty lines of a text. */
export const nonEmptyLines = (text: string): Array<string> => text.split("\n").filter((line) => line.trim() !== "")

/** `spawnNode`, for one test: the processes it starts are killed when the test ends. */
export type Spawn = (script: string, args?: ReadonlyArray<string>, options?: SpawnOptions) => Proc

/** `it` with a `spawn` fixture; concurrency-safe cleanup of each test's processes. */
export const test = it.extend<{ spawn: Spawn }>({
  spawn: async ({}, use) => {
    const procs: Array<Proc> = []
    await use((script, args, options) => {
      const proc = spawnNode(script, args, options)
      procs.push(proc)
      return proc
    })
    await Promise.all(procs.map((proc) => proc.kill()))
  }
})
