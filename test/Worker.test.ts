import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema, TestClock } from "effect"
import * as Cli from "../src/Cli.js"
import * as Job from "../src/Job.js"
import * as Kind from "../src/Kind.js"
import type { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"
import { T0 } from "./utils.js"

class Database extends Context.Tag("test/Database")<Database, { readonly rows: Array<string> }>() {}
class Mailer extends Context.Tag("test/Mailer")<Mailer, { readonly sent: Array<string> }>() {}

const cleanup = Job.make({
  name: "cleanup",
  schedule: "*/10 * * * * *",
  run: Effect.flatMap(Database, (db) => Effect.sync(() => db.rows.pop()))
})
const report = Job.make({
  name: "report",
  schedule: "*/10 * * * * *",
  run: Effect.gen(function*() {
    const run = yield* Job.CurrentRun
    const mailer = yield* Mailer
    mailer.sent.push(`report ${run.nominalAt.toISOString()}`)
  })
})

describe("Worker", () => {
  it("requires exactly the union of its jobs' services (CurrentRun is the scheduler's)", () => {
    expectTypeOf(cleanup).toEqualTypeOf<Job.Job<never, Database>>()
    expectTypeOf(report).toEqualTypeOf<Job.Job<never, Job.CurrentRun | Mailer>>()
    const worker = Worker.start([cleanup, report])
    expectTypeOf(worker).toEqualTypeOf<Effect.Effect<void, Worker.InvalidJobs, Database | Mailer | Scheduler>>()
    const partial = worker.pipe(
      Effect.provide(Layer.succeed(Database, { rows: [] })),
      Effect.provide(Worker.layerTest())
    )
    // @ts-expect-error Mailer is left out: the worker does not compile into a runnable effect
    const runnable: Effect.Effect<void, Worker.InvalidJobs, never> = partial
    expect(runnable).toBeDefined()
  })

  it("the CLI entry point demands a layer with every service its jobs use", () => {
    const database = Layer.succeed(Database, { rows: [] })
    const both = Layer.merge(database, Layer.succeed(Mailer, { sent: [] }))
    expect(Cli.main({ jobs: [cleanup, report], layer: both })).toBeDefined()
    // @ts-expect-error Mailer is missing from the layer
    expect(Cli.main({ jobs: [cleanup, report], layer: database })).toBeDefined()
    // Jobs that need nothing need no layer.
    expect(Cli.main({ jobs: [Job.make({ name: "noop", schedule: "@daily", run: Effect.void })] })).toBeDefined()
  })

  it("the CLI entry point demands a layer with every service its job kinds use too", () => {
    const mailing = Kind.make({
      name: "mailing",
      payload: Schema.Struct({ to: Schema.String }),
      run: ({ to }) => Effect.flatMap(Mailer, (mailer) => Effect.sync(() => mailer.sent.push(to)))
    })
    const noop = Job.make({ name: "noop", schedule: "@daily", run: Effect.void })
    expect(Cli.main({ jobs: [noop], kinds: [mailing], layer: Layer.succeed(Mailer, { sent: [] }) })).toBeDefined()
    // @ts-expect-error the kind's Mailer is missing: a layer is required
    expect(Cli.main({ jobs: [noop], kinds: [mailing] })).toBeDefined()
    // @ts-expect-error the kind's Mailer is missing from the layer
    expect(Cli.main({ jobs: [noop], kinds: [mailing], layer: Layer.succeed(Database, { rows: [] }) })).toBeDefined()
  })

  it.effect("runs jobs with the services of the layer it is given", () =>
    Effect.gen(function*() {
      const db = { rows: ["a", "b", "c"] }
      const mailer = { sent: new Array<string>() }
      yield* TestClock.setTime(T0)
      yield* Worker.start([cleanup, report]).pipe(
        Effect.zipRight(TestClock.adjust("20 seconds")),
        Effect.provide(Worker.layerTest()),
        Effect.provide(Layer.succeed(Database, db)),
        Effect.provide(Layer.succeed(Mailer, mailer))
      )
      expect(db.rows).toEqual(["a"])
      expect(mailer.sent).toEqual(["report 2026-01-01T00:00:10.000Z", "report 2026-01-01T00:00:20.000Z"])
    }))
})
