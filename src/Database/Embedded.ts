/**
 * The embedded database: PGlite served over the PostgreSQL protocol from a
 * worker thread, with its data in a directory that survives restarts. A lock
 * beside the directory (`Lock.ts`) refuses a second worker on the same data.
 */
import { Deferred, Effect, Exit, Schema, type Scope } from "effect"
import { type Stats, statSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Worker } from "node:worker_threads"
import * as Lock from "./Lock.js"

/**
 * The embedded database cannot start: `PGLITE_DATA_DIR` names no usable
 * directory (`setting`: the value as configured), its directory is locked by
 * another worker, or PGlite failed.
 */
export class EmbeddedDatabaseError extends Schema.TaggedError<EmbeddedDatabaseError>()("EmbeddedDatabaseError", {
  dataDir: Schema.String,
  reason: Schema.String,
  setting: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.setting === undefined
      ? `cannot open the embedded database at ${this.dataDir}: ${this.reason}`
      : `PGLITE_DATA_DIR=${this.setting}: ${this.reason}`
  }
}

/** `path`'s kind, or `undefined` when it does not exist (or a parent of it is not a directory). */
const kindOf = (path: string): "directory" | "a file" | "not a directory" | undefined => {
  let stats: Stats | undefined
  try {
    stats = statSync(path, { throwIfNoEntry: false })
  } catch (error) {
    // ENOTDIR: a parent is a file; the walk up finds it. Anything else (EACCES) is left to the lock to report.
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined
    return "directory"
  }
  return stats === undefined
    ? undefined
    : stats.isDirectory()
    ? "directory"
    : stats.isFile()
    ? "a file"
    : "not a directory"
}

/**
 * Why `dir` cannot hold the data, checked before anything is created: it, or
 * the nearest of its parents that exists, is not a directory.
 */
const dataDirProblem = (dir: string): string | undefined => {
  for (let path = dir;; path = dirname(path)) {
    const kind = kindOf(path)
    if (kind === "directory") return undefined
    if (kind !== undefined) return `not a directory (${path === dir ? "it" : path} is ${kind})`
    if (dirname(path) === path) return undefined
  }
}

/** How long the thread may take to stop and flush its data at shutdown. */
const STOP_TIMEOUT = "5 seconds"

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
export const start = (
  dataDir: string
): Effect.Effect<{ readonly port: number; readonly dataDir: string }, EmbeddedDatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    // `memory://`: a throw-away database (tests); nothing to lock.
    const inMemory = dataDir.startsWith("memory://")
    const dir = inMemory ? dataDir : resolve(dataDir)
    const problem = inMemory ? undefined : dataDirProblem(dir)
    if (problem !== undefined) {
      return yield* Effect.fail(new EmbeddedDatabaseError({ dataDir: dir, reason: problem, setting: dataDir }))
    }
    if (!inMemory) {
      yield* Effect.mapError(Lock.hold(`${dir}.lock`), (reason) => new EmbeddedDatabaseError({ dataDir: dir, reason }))
    }
    const fail = (reason: string) => new EmbeddedDatabaseError({ dataDir: dir, reason })
    const died = yield* Deferred.make<string>()
    let stopping = false
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
          stopping = true
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
    // After start-up, the thread only ends when told to: anything else is a crash, and every query fails from then on.
    worker.on("exit", (code) => {
      if (!stopping) Deferred.unsafeDone(died, Exit.succeed(`the database thread exited with code ${code}`))
    })
    worker.on("error", (error) => Deferred.unsafeDone(died, Exit.succeed(error.message)))
    yield* Effect.forkScoped(
      Effect.flatMap(
        Deferred.await(died),
        (reason) =>
          Effect.logError("embedded database stopped unexpectedly: queries fail until the worker restarts").pipe(
            Effect.annotateLogs({ data_dir: dir, error: reason })
          )
      )
    )
    return { port, dataDir: dir }
  })
