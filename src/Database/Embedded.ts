/**
 * The embedded database: PGlite served over the PostgreSQL protocol from a
 * worker thread, with its data in a directory that survives restarts. A lock
 * file beside the directory refuses a second worker on the same data.
 */
import { Effect, Schema, type Scope } from "effect"
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Worker } from "node:worker_threads"

/** The embedded database cannot start: its directory is locked by another worker, or PGlite failed. */
export class EmbeddedDatabaseError extends Schema.TaggedError<EmbeddedDatabaseError>()("EmbeddedDatabaseError", {
  dataDir: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `embedded database at ${this.dataDir}: ${this.reason}`
  }
}

/** How long the thread may take to stop and flush its data at shutdown. */
const STOP_TIMEOUT = "10 seconds"

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Takes `<dataDir>.lock` for the scope, or fails naming the worker that holds it. */
const lock = (dataDir: string) => {
  const path = `${dataDir}.lock`
  const fail = (reason: string) => new EmbeddedDatabaseError({ dataDir, reason })
  return Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dirname(path), { recursive: true })
        for (;;) {
          try {
            const fd = openSync(path, "wx")
            writeSync(fd, String(process.pid))
            closeSync(fd)
            return undefined
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
            const holder = Number(readFileSync(path, "utf8").trim())
            if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
              return `another worker (pid ${holder}) is using it; stop that worker or set PGLITE_DATA_DIR to another directory`
            }
            unlinkSync(path) // left by a worker that died: take it over
          }
        }
      },
      catch: (error) => fail(`cannot lock ${path}: ${error instanceof Error ? error.message : String(error)}`)
    }).pipe(Effect.flatMap((refusal) => (refusal === undefined ? Effect.void : Effect.fail(fail(refusal))))),
    () =>
      Effect.sync(() => {
        try {
          if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path)
        } catch {
          // Already gone: nothing to release.
        }
      })
  )
}

/**
 * The thread's entry point. Under vitest this module runs from `src/`, where
 * there is no compiled `server.js`: use the build's.
 */
const serverScript = import.meta.url.endsWith(".ts")
  ? new URL("../../dist/Database/server.js", import.meta.url)
  : new URL("./server.js", import.meta.url)

type FromServer = { readonly port: number } | { readonly error: string } | { readonly stopped: true }

/**
 * Starts PGlite in a worker thread for the scope, on `dataDir` (created when
 * missing; `memory://` for a database that lives only as long as the scope),
 * and returns the local port it serves. Closing the scope stops the
 * server and closes the database cleanly.
 */
export const start = (dataDir: string): Effect.Effect<{ readonly port: number; readonly dataDir: string }, EmbeddedDatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    // `memory://`: a throw-away database (tests); nothing to lock.
    const inMemory = dataDir.startsWith("memory://")
    const dir = inMemory ? dataDir : resolve(dataDir)
    if (!inMemory) yield* lock(dir)
    const fail = (reason: string) => new EmbeddedDatabaseError({ dataDir: dir, reason })
    const { port, worker } = yield* Effect.acquireRelease(
      Effect.async<{ readonly port: number; readonly worker: Worker }, EmbeddedDatabaseError>((resume) => {
        const worker = new Worker(serverScript, { workerData: { dataDir: dir } })
        worker.once("message", (message: FromServer) => {
          if ("port" in message) resume(Effect.succeed({ port: message.port, worker }))
          else if ("error" in message) resume(Effect.fail(fail(message.error)))
        })
        worker.once("error", (error) => resume(Effect.fail(fail(error.message))))
        worker.once("exit", (code) => resume(Effect.fail(fail(`the database thread exited with code ${code}`))))
        return Effect.promise(() => worker.terminate())
      }),
      ({ worker }) =>
        Effect.async<void>((resume) => {
          worker.once("message", () => resume(Effect.void))
          worker.once("exit", () => resume(Effect.void))
          worker.postMessage("stop")
        }).pipe(
          Effect.timeout(STOP_TIMEOUT),
          Effect.catchAll(() => Effect.logWarning("embedded database did not stop in time; terminating it")),
          Effect.ensuring(Effect.promise(() => worker.terminate()))
        )
    )
    worker.unref()
    return { port, dataDir: dir }
  })
