import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, TestClock } from "effect"
import * as Job from "../src/Job.js"
import * as Log from "../src/Log.js"
import * as Redact from "../src/Redact.js"
import * as Worker from "../src/Worker.js"
import { history, T0 } from "./utils.js"

describe("Redact", () => {
  it.each([
    ["connect ECONNREFUSED amqp://finance:S3cr3t@rabbit:5672", "connect ECONNREFUSED amqp://finance:***@rabbit:5672"],
    ["postgres://app:p%40ss@db:5432/app?sslmode=require", "postgres://app:***@db:5432/app?sslmode=require"],
    ["host=db user=app password=hunter22 dbname=app", "host=db user=app password=*** dbname=app"],
    ["https://example.com/path?x=1", "https://example.com/path?x=1"],
    ["no secrets here", "no secrets here"]
  ])("scrubs %s", (input, output) => {
    expect(Redact.scrub(input)).toBe(output)
  })

  it("masks registered secret values wherever they appear", () => {
    Redact.register("tok-9f8e7d6c")
    expect(Redact.scrub(`Bearer tok-9f8e7d6c rejected`)).toBe("Bearer *** rejected")
  })

  it.effect("a job's failure carrying credentials reaches neither the log nor the history", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const job = Job.make({
        name: "leaky",
        schedule: "*/10 * * * * *",
        run: Effect.fail(new Error("connect ECONNREFUSED amqp://finance:S3cr3t@rabbit:5672"))
      })
      yield* TestClock.setTime(T0)
      const records = yield* Worker.start([job]).pipe(
        Effect.zipRight(TestClock.adjust("10 seconds")),
        Effect.zipRight(history("leaky")),
        Effect.provide(Worker.layerTest()),
        Effect.provide(Logger.add(Log.make("svc", "json", (line) => lines.push(line))))
      )
      expect(records[0]!.error).toBe("Error: connect ECONNREFUSED amqp://finance:***@rabbit:5672")
      expect(lines.some((line) => line.includes("job failed"))).toBe(true)
      expect(lines.filter((line) => line.includes("S3cr3t"))).toEqual([])
    }))
})
