/**
 * The example jobs' stack for unit tests: the embedded database in memory
 * (real PostgreSQL semantics, no server needed), migrated, with the memory
 * publisher and the memory run store, under `TestClock`.
 */
import { Effect, Layer } from "effect"
import * as Database from "../../src/Database.js"
import { migrations } from "../../src/jobs/schema.js"
import * as Migrations from "../../src/Migrations.js"
import * as Publisher from "../../src/Publisher.js"
import * as Worker from "../../src/Worker.js"
import * as WorkerConfig from "../../src/WorkerConfig.js"
import type { CapturedLogs } from "../utils.js"

/** The example app's tables (`finance`), migrated after the worker's own, as `main.ts` asks. */
export const financeSchema = Layer.succeed(Migrations.AppMigrations, [migrations])

/**
 * Shared by the tests of a file (`it.layer`): one in-memory database, migrated
 * once, and `logs`, which captures what the jobs log.
 */
export const jobsLayer = (logs: CapturedLogs, overrides: Partial<WorkerConfig.WorkerConfigShape> = {}) => {
  const config = WorkerConfig.layerWith({ embeddedDataDir: "memory://", ...overrides })
  return Layer.mergeAll(Database.layer, Publisher.layerMemory, Worker.layerTest(overrides)).pipe(
    Layer.provideMerge(config),
    Layer.provideMerge(financeSchema),
    Layer.provideMerge(logs.layer),
    Layer.orDie
  )
}

/** Waits (on the real clock) until `check` holds: database work is real I/O that TestClock does not drive. */
export const eventually = <A, E, R>(check: Effect.Effect<A | undefined, E, R>, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const result = yield* check
      if (result !== undefined) return result
      if (Date.now() > deadline) return yield* Effect.dieMessage("condition not met in time")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
  })
