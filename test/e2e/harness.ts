/**
 * Spawns worker scripts and the CLI as real Node processes and watches their
 * output: stdout is read line by line, each line parsed as a JSON log line
 * when it is one. Every wait has a timeout that fails with the output so far.
 *
 * Databases: every process gets a fresh database of its own on the real
 * PostgreSQL (`DATABASE_URL`, with the suite's password `PG_PASSWORD` in it),
 * dropped when the process is killed, unless the test passes one it shares
 * between processes (`database: db`) or wants none (`database: "none"`: the
 * embedded PGlite, or a `DATABASE_URL` of the test's own in `env`).
 *
 * Secrets: no line of stdout or stderr of any process may contain
 * `PG_PASSWORD`. `exit()` fails when one does, and so do `runNode` and the
 * `spawn` fixture of `test` when the process ends.
 *
 * Cleanup: `runNode` kills its own process; the `spawn` fixture kills the
 * processes of a test when it ends (safe in concurrent tests); `killAll`
 * kills whatever is left.
 */
import { expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { createDatabase, freePort, TEST_DATABASE_URL, type TestDatabase } from "../services.js"

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
  "OTEL_SERVICE_NAME",
  "NO_COLOR",
  "WORKER_DEFAULT_TIMEOUT_SECONDS",
  "WORKER_MAX_CONCURRENT_JOBS",
  "WORKER_SHUTDOWN_TIMEOUT_SECONDS",
  "WORKER_TIMEZONE",
  "WORKER_INSTANCE_ID",
  "WORKER_LEASE_SECONDS",
  "WORKER_HISTORY_RETENTION_DAYS",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "DATABASE_URL",
  "DATABASE_POOL_SIZE",
  "DATABASE_CONNECT_TIMEOUT_SECONDS",
  "PGLITE_DATA_DIR",
  "RABBITMQ_URL",
  "RABBITMQ_EXCHANGE",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "HTTP_PORT",
  "ADMIN_TOKEN",
  "VIEWER_TOKEN",
  "ADMIN_TOKEN_FILE",
  "CLEANUP_RETENTION_DAYS",
  "CLEANUP_BATCH_SIZE"
]

/**
 * The PostgreSQL password of every database URL the suite hands a process:
 * that of `TEST_DATABASE_URL` when it has one, else one of the suite's own
 * (the test server trusts local connections, so any password works).
 */
export const PG_PASSWORD: string = decodeURIComponent(new URL(TEST_DATABASE_URL).password) || "s3cr3t-pw-e2e"

/** `url` with `PG_PASSWORD` as its password. */
export const withPassword = (url: string): string => {
  const parsed = new URL(url)
  parsed.password = encodeURIComponent(PG_PASSWORD)
  return parsed.toString()
}

/** A fresh database on the real PostgreSQL, its URL carrying `PG_PASSWORD`. The caller drops it. */
export const freshDatabase = async (): Promise<TestDatabase> => {
  const db = await createDatabase("cw_e2e")
  return { ...db, url: withPassword(db.url) }
}

/** A local TCP port where nothing listens (one that was free a moment ago). */
export const closedPort = freePort

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
  /**
   * The process's `DATABASE_URL`: `"fresh"` (the default) a database of its
   * own, dropped when it is killed; a database the test shares between
   * processes (and drops); `"none"` for no `DATABASE_URL` but that of `env`.
   * A `DATABASE_URL` in `env` always wins.
   */
  readonly database?: "fresh" | "none" | TestDatabase | undefined
  /** Prepares the working directory before the process starts (e.g. copies a data directory into it). */
  readonly prepare?: ((dir: string) => void) | undefined
}

export interface Proc {
  readonly pid: number
  /** The process's working directory (removed when it is killed). */
  readonly cwd: string
  /** Its `DATABASE_URL`, if it has one. */
  readonly databaseUrl: string | undefined
  /** Complete stdout lines so far. */
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
  readonly exited: Exited | undefined
  /** stdout and stderr so far, for failure messages. */
  readonly output: () => string
  /** stdout and stderr lines that contain `PG_PASSWORD`. */
  readonly leaks: () => Array<string>
  /** Every stdout line parsed; throws, naming the line, when one is not a JSON log line. */
  readonly logs: () => Array<LogLine>
  /** The first stdout line (raw) that satisfies `predicate`. */
  readonly waitForLine: (label: string, predicate: (line: string) => boolean, timeoutMs?: number) => Promise<string>
  /** The first log line with this `msg` (and satisfying `where`, when given). */
  readonly waitFor: (msg: string, where?: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** Sends `signal`; returns `Date.now()` at the time it was sent. */
  readonly signal: (signal: NodeJS.Signals) => number
  /** Waits for the process to exit and its output to be read; fails if its output contains `PG_PASSWORD`. */
  readonly exit: (timeoutMs?: number) => Promise<Exited>
  /** SIGKILL unless it has exited; resolves once it is gone. */
  readonly kill: () => Promise<void>
}

/** Processes not yet killed by `Proc.kill` or `killAll`. */
const live = new Set<Proc>()

/**
 * How long a wait for a line may take by default: start-up now connects to
 * and migrates a database, and several workers start at once on two cores.
 */
const WAIT_MS = 40_000

const tail = (lines: ReadonlyArray<string>, n: number) =>
  (lines.length > n ? [`… ${lines.length - n} earlier lines`] : []).concat(lines.slice(-n)).join("\n")

/** Throws, quoting the lines, when the output of `proc` contains `PG_PASSWORD`. */
export const assertNoLeaks = (proc: Proc): void => {
  const leaks = proc.leaks()
  if (leaks.length > 0) {
    throw new Error(
      `the output contains the PostgreSQL password in ${leaks.length} line(s):\n${leaks.join("\n")}\n${proc.output()}`
    )
  }
}

/** Starts `node script ...args` in a fresh working directory, with a fresh database unless told otherwise. */
export const spawnNode = async (
  script: string,
  args: ReadonlyArray<string> = [],
  options: SpawnOptions = {}
): Promise<Proc> => {
  const database = options.database ?? "fresh"
  const own = options.env?.DATABASE_URL === undefined && database === "fresh" ? await freshDatabase() : undefined
  const databaseUrl = options.env?.DATABASE_URL ??
    (own !== undefined ? own.url : typeof database === "object" ? database.url : undefined)
  const dir = mkdtempSync(join(tmpdir(), "cron-worker-e2e-"))
  if (options.dotEnv !== undefined) writeFileSync(join(dir, ".env"), options.dotEnv)
  options.prepare?.(dir)
  const child = spawn(process.execPath, [script, ...args], {
    cwd: dir,
    env: { ...baseEnv(), ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }), ...options.env },
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

  const leaks = () => [...lines, partial, ...stderr.split("\n")].filter((line) => line.includes(PG_PASSWORD))

  const proc: Proc = {
    pid: child.pid ?? -1,
    cwd: dir,
    databaseUrl,
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
    leaks,
    logs: () =>
      lines.map((line, i) => {
        const parsed = parseLogLine(line)
        if (parsed === undefined) {
          throw new Error(
            `stdout line ${i + 1} is not a JSON log line with time, level, service and msg: ${line}\n${output()}`
          )
        }
        return parsed
      }),
    waitForLine: (label, predicate, timeoutMs = WAIT_MS) => until(label, () => lines.find(predicate), timeoutMs),
    waitFor: (msg, where = () => true, timeoutMs = WAIT_MS) =>
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
    exit: async (timeoutMs = 20_000) => {
      const result = await until("exit", () => exited, timeoutMs)
      assertNoLeaks(proc)
      return result
    },
    kill: async () => {
      live.delete(proc)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      await closedPromise
      rmSync(dir, { recursive: true, force: true })
      await own?.drop()
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
  const proc = await spawnNode(script, args, options)
  try {
    const exited = await proc.exit(options.timeoutMs ?? 20_000)
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
export type Spawn = (script: string, args?: ReadonlyArray<string>, options?: SpawnOptions) => Promise<Proc>

/**
 * `it` with fixtures, cleaned up when the test ends (safe in concurrent tests):
 * `spawn` kills the test's processes, then fails the test if the output of
 * one contains `PG_PASSWORD`; `database()` gives a fresh database to share
 * between processes, dropped after them.
 *
 * Its tests do not take the `timeout` of their `describe` (they get the
 * configured 30 s): give it to each one, `test(name, { timeout }, fn)`.
 */
export const test = it.extend<{ spawn: Spawn; database: () => Promise<TestDatabase> }>({
  database: async ({}, use) => {
    const databases: Array<TestDatabase> = []
    await use(async () => {
      const db = await freshDatabase()
      databases.push(db)
      return db
    })
    await Promise.all(databases.map((db) => db.drop()))
  },
  // On `database`, so that databases are dropped after the processes using them are gone.
  spawn: async ({ database: _ }, use) => {
    const procs: Array<Proc> = []
    await use(async (script, args, options) => {
      const proc = await spawnNode(script, args, options)
      procs.push(proc)
      return proc
    })
    await Promise.all(procs.map((proc) => proc.kill()))
    for (const proc of procs) assertNoLeaks(proc)
  }
})

/** Log lines, from stdout (the worker, `run`) or stderr (tools whose stdout is their output). */
export const logsOf = (result: Completed): Array<LogLine> =>
  [...nonEmptyLines(result.stdout), ...nonEmptyLines(result.stderr)].flatMap((line) => {
    const parsed = parseLogLine(line)
    return parsed === undefined ? [] : [parsed]
  })

/** A tool's stderr holds only its log lines; its stdout holds none of them. */
export const expectToolStreams = (result: Completed) => {
  expect(nonEmptyLines(result.stderr).filter((line) => parseLogLine(line) === undefined), result.output).toEqual([])
  expect(nonEmptyLines(result.stdout).filter((line) => parseLogLine(line) !== undefined), result.output).toEqual([])
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolveSleep) => setTimeout(resolveSleep, Math.max(0, ms)))

/** Resolves when the wall clock reads `epochMs`. */
export const sleepUntil = (epochMs: number): Promise<void> => sleep(epochMs - Date.now())

/**
 * The first of `procs` to log a line with this `msg` (and satisfying `where`),
 * with that line. The waits of the others are dropped quietly.
 */
export const firstToLog = (
  procs: ReadonlyArray<Proc>,
  msg: string,
  where: (line: LogLine) => boolean = () => true,
  timeoutMs = WAIT_MS
): Promise<{ readonly proc: Proc; readonly line: LogLine }> => {
  const waits = procs.map((proc) => proc.waitFor(msg, where, timeoutMs).then((line) => ({ proc, line })))
  for (const wait of waits) wait.catch(() => undefined)
  return Promise.any(waits).catch((error: unknown) => {
    const reasons = error instanceof AggregateError ? error.errors.map(String).join("\n") : String(error)
    throw new Error(`no process logged "${msg}":\n${reasons}`)
  })
}
