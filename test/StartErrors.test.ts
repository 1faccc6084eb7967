/**
 * Start-up failures name what was wrong before anything starts: a
 * `PGLITE_DATA_DIR` that is not a directory, an `HTTP_PORT` in use.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Embedded from "../src/Database/Embedded.js"
import * as Http from "../src/Http.js"

const aFile = () => {
  const file = join(mkdtempSync(join(tmpdir(), "cron-worker-datadir-")), "data")
  writeFileSync(file, "")
  return file
}

describe("PGLITE_DATA_DIR", () => {
  it.scoped("a file: a named error, before the lock or the database thread", () =>
    Effect.gen(function*() {
      const file = aFile()
      const error = yield* Effect.flip(Embedded.start(file))
      expect(error.message).toBe(`PGLITE_DATA_DIR=${file}: not a directory (it is a file)`)
    }))

  it.scoped("under a file: the error names the file", () =>
    Effect.gen(function*() {
      const file = aFile()
      const error = yield* Effect.flip(Embedded.start(join(file, "pglite")))
      expect(error.message).toBe(`PGLITE_DATA_DIR=${join(file, "pglite")}: not a directory (${file} is a file)`)
    }))
})

/** A port held by a server of the test, for the scope. */
const heldPort = Effect.acquireRelease(
  Effect.async<Server>((resume) => {
    const server = createServer()
    server.listen({ port: 0 }, () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}))

describe("HTTP_PORT", () => {
  it.scoped("in use: the pre-flight fails with the port and the cause; a free port passes", () =>
    Effect.gen(function*() {
      const port = yield* heldPort
      const error = yield* Effect.flip(Http.checkPort(port))
      expect(error).toBeInstanceOf(Http.HttpPortUnavailable)
      expect(error.message).toBe(`HTTP_PORT=${port}: address already in use`)
      expect(Exit.isSuccess(yield* Effect.exit(Http.checkPort(0)))).toBe(true)
    }))
})
