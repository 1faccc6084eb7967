/**
 * This instance's heartbeat on PostgreSQL, from a thread of its own with a connection of its own. Beating from the
 * event loop, an instance busy for a few seconds (a burst of a thousand slots falling due in the same second, a
 * long garbage collection) went silent, the others took it for dead and marked its runs abandoned, all of them,
 * while they were running (the benchmark of 100,000 schedules lost a minute's thousand slots so). The thread says
 * the process is alive; whether its runs progress is what their leases say, renewed from the event loop: a process
 * whose loop stays blocked keeps beating, and its runs are abandoned when their leases expire.
 */
import { Effect, Redacted, type Scope } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** How often the thread beats. */
const BEAT_MILLIS = 1000

/**
 * The thread: beats every second (one beat at a time), opening its connection again after a failure; stops and
 * closes it when told. What it says of failures is nothing: the main thread's reapers and logs say enough, and
 * its text could hold the URL.
 */
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads")
const pg = require(workerData.pg)
let client
let busy = false
const beat = async () => {
  if (busy) return
  busy = true
  try {
    if (client === undefined) {
      const opened = new pg.Client({
        connectionString: workerData.url,
        application_name: workerData.applicationName,
        connectionTimeoutMillis: 2000,
        query_timeout: 2000
      })
      opened.on("error", () => {})
      await opened.connect()
      client = opened
    }
    await client.query(
      "INSERT INTO cron_worker.instances (instance) VALUES ($1) ON CONFLICT (instance) DO UPDATE SET beat_at = now()",
      [workerData.instance]
    )
  } catch {
    const broken = client
    client = undefined
    if (broken !== undefined) broken.end().catch(() => {})
  } finally {
    busy = false
  }
}
const timer = setInterval(beat, workerData.every)
beat()
parentPort.on("message", () => {
  clearInterval(timer)
  Promise.resolve(client === undefined ? undefined : client.end()).catch(() => {}).finally(() => process.exit(0))
})
`

/**
 * Beats for `instance` on the database at `url` from a thread, for the scope's lifetime (stopped and its connection
 * closed when the scope closes).
 */
export const start = (
  url: Redacted.Redacted<string>,
  instance: string,
  applicationName: string
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      const thread = new Worker(THREAD, {
        eval: true,
        workerData: {
          pg: createRequire(import.meta.url).resolve("pg"),
          url: Redacted.value(url),
          instance,
          applicationName: `${applicationName} heartbeat`,
          every: BEAT_MILLIS
        }
      })
      // A thread that fails is the process's business, not a crash: the reapers of the others will tell.
      thread.on("error", () => {})
      thread.unref()
      const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()))
      return { thread, exited }
    }),
    ({ exited, thread }) =>
      Effect.promise(() => {
        thread.postMessage("stop")
        const timer = setTimeout(() => void thread.terminate(), 2000)
        timer.unref()
        return exited
      })
  ))
