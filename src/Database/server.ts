/**
 * The embedded database's thread: PGlite behind `@electric-sql/pglite-socket`,
 * off the scheduler's event loop. Started by `Database/Embedded.ts` with the
 * data directory as `workerData`; posts `{ port }` once it listens, or
 * `{ error }`; stops and closes the database on a `"stop"` message.
 */
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { parentPort, workerData } from "node:worker_threads"

const { dataDir } = workerData as { readonly dataDir: string }

const main = async () => {
  const db = await PGlite.create(dataDir)
  // PGlite serves one query at a time: one connection, and the client's pool is sized to match.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 })
  await server.start()
  const port = Number(server.getServerConn().split(":").pop())
  parentPort?.on("message", (message) => {
    if (message !== "stop") return
    void server.stop().finally(() => db.close()).finally(() => parentPort?.postMessage({ stopped: true }))
  })
  parentPort?.postMessage({ port })
}

main().catch((error: unknown) => {
  parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) })
})
