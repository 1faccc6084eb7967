/**
 * Shared fixtures: a scheduler stack on the memory run store, log capture,
 * and helpers to read the run history.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { Clock, type Duration, Effect, Exit, Layer, Logger, Option, Redacted, Scope, TestServices } from "effect"
import * as Database from "../src/Database.js"
import * as Log from "../src/Log.js"
import * as RunStore from "../src/RunStore.js"
import * as PgRunStore from "../src/RunStore/Pg.js"
import * as Worker from "../src/Worker.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { createDatabase, type TestDatabase } from "./services.js"

/** 2026-01-01T00:00:00Z: where the tests' TestClock starts. */
export const T0 = Date.parse("2026-01-01T00:00:00Z")

/** Log entries written during a test, in order. */
export interface CapturedLogs {
  readonly entries: Array<Log.Entry>
  readonly layer: Layer.Layer<never>
  /** Entries whose message is `msg`. */
  readonly withMessage: (msg: string) => Array<Log.Entry>
}

export const captureLogs = (): CapturedLogs => {
  const entries: Array<Log.Entry> = []
  return {
    entries,
    layer: Logger.add(Logger.make((options) => entries.push(Log.toEntry("test", options)))),
    withMessage: (msg) => entries.filter((entry) => entry.msg === msg)
  }
}

/** The scheduler on the memory run store, with `overrides` of the default config (no shutdown grace unless given). */
export const schedulerLayer = Worker.layerTest

/**
 * Builds `layer` in a scope of its own, so that a test can close it (the
 * shutdown) while the clock moves.
 */
export const buildScoped = <ROut, E>(layer: Layer.Layer<ROut, E>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    return { context, close: Scope.close(scope, Exit.void) }
  })

/** The run history, oldest first, of one job or of all. */
export const history = (job?: string) =>
  Effect.flatMap(RunStore.RunStore, (store) => store.history({ job })).pipe(
    Effect.map((records) => [...records].reverse())
  )

/**
 * Polls `check` (every 100 ms of real time, also under `TestClock`) until it holds; dies naming `what` after
 * `timeoutMs`. For what a test awaits on real time (an HTTP exchange, a database write): it waits as long as a slow
 * machine needs, and no longer than the event takes, instead of a fixed sleep.
 */
export const waitUntil = (
  what: string,
  check: Effect.Effect<boolean> | (() => boolean),
  timeoutMs = 15_000
) =>
  Effect.gen(function*() {
    const holds = typeof check === "function" ? Effect.sync(check) : check
    const deadline = Date.now() + timeoutMs
    while (!(yield* holds)) {
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`timed out after ${timeoutMs} ms waiting until ${what}`)
      }
      yield* TestServices.provideLive(Effect.sleep("100 millis"))
    }
  })

/** `2026-01-01T00:00:10.000Z` for `T0 + 10 s`. */
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString()

/**
 * A clock that always reads `millis` (sleeps still take real time): runs started under it have that nominal instant.
 */
export const frozenAt = (millis: number): Clock.Clock => {
  const live = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => millis,
    currentTimeMillis: Effect.succeed(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
    currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
    sleep: (duration: Duration.Duration) => live.sleep(duration)
  }
}

/**
 * Runs `f` with the PostgreSQL run store on `db` (a pool of 4, the worker's logs off). `db.url` is read when `f` is
 * given (inside a test), so a suite's database (`suiteDatabase`) may be passed before its `beforeAll`.
 */
export const withPgStore =
  (db: TestDatabase) => <A, E>(f: (store: RunStore.RunStoreShape) => Effect.Effect<A, E>): Effect.Effect<A, unknown> =>
    Effect.flatMap(RunStore.RunStore, f).pipe(
      Effect.provide(
        PgRunStore.layer.pipe(
          Layer.provide(Database.layer),
          Layer.provide(
            Layer.suspend(() =>
              WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 4 })
            )
          ),
          Layer.provide(Logger.remove(Logger.defaultLogger))
        )
      )
    )

/**
 * A database of the current suite's own: created before its tests, dropped after them. Its `url` and `name`
 * are read inside the tests (before the suite's `beforeAll` has run there is no database yet).
 */
export const suiteDatabase = (prefix?: string): TestDatabase => {
  let current: TestDatabase | undefined
  beforeAll(async () => {
    current = await createDatabase(prefix)
  })
  afterAll(async () => {
    await current?.drop()
  })
  const get = (): TestDatabase => {
    if (current === undefined) throw new Error("the suite's database exists only once its beforeAll has run")
    return current
  }
  return {
    get name() {
      return get().name
    },
    get url() {
      return get().url
    },
    drop: () => get().drop()
  }
}
