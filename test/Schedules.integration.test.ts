/**
 * Schedules created at run time on two instances of one PostgreSQL database: a change made on one takes effect on
 * the other within a second (LISTEN/NOTIFY), a change whose announcement was lost is found by the reconcile, a
 * schedule runs once per slot across both, and creating with one key on both at once makes one schedule.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Logger, Option, Redacted, Schema, type Scope } from "effect"
import * as Database from "../src/Database.js"
import * as Job from "../src/Job.js"
import * as Kind from "../src/Kind.js"
import * as RunStore from "../src/RunStore.js"
import * as PgRunStore from "../src/RunStore/Pg.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Schedules from "../src/Schedules.js"
import * as ScheduleStore from "../src/Schedules/Store.js"
import * as Worker from "../src/Worker.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { createDatabase, servicesAvailable, type TestDatabase } from "./services.js"
import { buildScoped, type CapturedLogs, captureLogs } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const databases: Array<TestDatabase> = []
afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()))
})

const freshDatabase = Effect.promise(async () => {
  const db = await createDatabase("cw_sched")
  databases.push(db)
  return db
})

/** What ran, on which instance: `instance label nominal`. */
const ran: Array<string> = []

const note = Kind.make({
  name: "note",
  payload: Schema.Struct({ label: Schema.String }),
  run: ({ label }) =>
    Effect.flatMap(Job.CurrentRun, (run) =>
      Effect.sync(() => {
        ran.push(`${label} ${run.nominalAt.toISOString()}`)
      }))
})

interface Instance {
  readonly schedules: Schedules.SchedulesShape
  readonly scheduler: Scheduler
  readonly store: RunStore.RunStoreShape
  readonly logs: CapturedLogs
}

const startInstance = (db: TestDatabase, id: string): Effect.Effect<Instance, never, Scope.Scope> =>
  Effect.gen(function*() {
    const logs = captureLogs()
    const stack = Worker.layer([], [note]).pipe(
      Layer.provideMerge(Schedules.layer([note])),
      Layer.provideMerge(ScheduleStore.layerPg),
      Layer.provideMerge(Scheduler.Default),
      Layer.provideMerge(PgRunStore.layer),
      Layer.provideMerge(Database.layer),
      Layer.provideMerge(WorkerConfig.layerWith({
        databaseUrl: Option.some(Redacted.make(db.url)),
        databasePoolSize: 3,
        instanceId: Option.some(id),
        serviceName: id,
        shutdownTimeout: Duration.seconds(2)
      })),
      Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
    )
    const { close, context } = yield* buildScoped(stack).pipe(Effect.orDie)
    yield* Effect.addFinalizer(() => close)
    return {
      schedules: Context.get(context, Schedules.Schedules),
      scheduler: Context.get(context, Scheduler),
      store: Context.get(context, RunStore.RunStore),
      logs
    }
  })

/** Milliseconds until `check` holds (polled every 10 ms), failing after `within`. */
const elapsedUntil = (what: string, check: Effect.Effect<boolean>, within = 5_000) =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!(yield* check)) {
      if (Date.now() - start > within) return yield* Effect.dieMessage(`not within ${within} ms: ${what}`)
      yield* Effect.sleep(10)
    }
    return Date.now() - start
  })

const hasJob = (instance: Instance, name: string) =>
  Effect.map(instance.scheduler.jobs, (jobs) => jobs.some((job) => job.name === name))

const changedTo = (instance: Instance, version: number) =>
  Effect.sync(() =>
    instance.logs.withMessage("schedule changed: next slot from now").some((e) => e.fields.version === version)
  )

describe.skipIf(!available)("schedules on two instances of one PostgreSQL", () => {
  it.scopedLive("a change on one instance takes effect on the other within a second; each slot runs once", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const a = yield* startInstance(db, "sched-a")
      const b = yield* startInstance(db, "sched-b")
      const created = yield* a.schedules.create({
        id: "everysecond",
        kind: "note",
        expression: "* * * * * *",
        payload: { label: "v1" }
      })
      const firstAt = Date.now()
      expect(yield* elapsedUntil("B runs the new schedule", hasJob(b, "schedule:everysecond"))).toBeLessThan(1_000)
      yield* Effect.sleep(Duration.seconds(3))
      yield* a.schedules.update("everysecond", {
        kind: "note",
        expression: "* * * * * *",
        payload: { label: "v2" },
        version: created.schedule.version
      })
      expect(yield* elapsedUntil("B applies version 2", changedTo(b, 2))).toBeLessThan(1_000)
      yield* Effect.sleep(Duration.seconds(3))
      yield* b.schedules.remove("everysecond")
      const deletedAt = Date.now()
      const gone = yield* elapsedUntil(
        "A takes the deleted schedule out",
        Effect.map(hasJob(a, "schedule:everysecond"), (has) => !has)
      )
      expect(gone).toBeLessThan(1_000)
      yield* Effect.sleep(Duration.seconds(2))

      const runs = [...(yield* a.store.history({ job: "schedule:everysecond", limit: 1000 }))].reverse()
      // Every second from its creation to its deletion: once each, on one instance or the other.
      const slots = runs.map((r) => r.nominalAt.getTime())
      expect(new Set(slots).size).toBe(slots.length)
      const inRange = slots.filter((t) => t > firstAt + 1_000 && t < deletedAt - 1_000)
      for (let t = inRange[0]!; t <= inRange[inRange.length - 1]!; t += 1_000) expect(slots).toContain(t)
      expect(runs.every((r) => r.status === "succeeded")).toBe(true)
      expect(new Set(runs.map((r) => r.scheduleVersion))).toEqual(new Set([1, 2]))
      expect(runs.filter((r) => r.nominalAt.getTime() > deletedAt + 1_000)).toEqual([])
      const labels = ran.filter((line) => slots.some((t) => line.endsWith(new Date(t).toISOString())))
      expect(labels.length).toBe(slots.length)
    }))

  it.scopedLive("a change whose announcement was lost is applied by the reconcile", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const a = yield* startInstance(db, "recon-a")
      // Written to the store with no announcement, as if the notification were lost.
      const silent = yield* Layer.build(
        ScheduleStore.layerPg.pipe(
          Layer.provideMerge(Database.layer),
          Layer.provideMerge(WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)) })),
          Layer.provide(Logger.remove(Logger.defaultLogger))
        )
      ).pipe(Effect.orDie)
      const store = Context.get(silent, ScheduleStore.ScheduleStore)
      yield* store.create(
        {
          id: "quiet",
          key: undefined,
          kind: "note",
          definition: { kind: "note", expression: "0 0 1 1 *", payload: { label: "q" } },
          remainingRuns: undefined
        },
        new Date()
      )
      yield* Effect.sleep(Duration.millis(500))
      expect(yield* hasJob(a, "schedule:quiet")).toBe(false)
      yield* a.schedules.reconcile
      expect(yield* hasJob(a, "schedule:quiet")).toBe(true)
      yield* store.remove("quiet")
      yield* a.schedules.reconcile
      expect(yield* hasJob(a, "schedule:quiet")).toBe(false)
    }))

  it.scopedLive("created with one key on both instances at once: one schedule", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const a = yield* startInstance(db, "key-a")
      const b = yield* startInstance(db, "key-b")
      const input = { kind: "note", expression: "0 8 * * *", payload: { label: "k" }, key: "customer-7" }
      const results = yield* Effect.all(
        [a.schedules.create(input), b.schedules.create(input), a.schedules.create(input)],
        { concurrency: "unbounded" }
      )
      expect(results.filter((r) => r.created).length).toBe(1)
      expect(new Set(results.map((r) => r.schedule.id)).size).toBe(1)
      expect((yield* a.schedules.list()).length).toBe(1)
    }))
})
