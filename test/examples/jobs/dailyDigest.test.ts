// jobs/dailyDigest.test.ts
import { expect, it } from "@effect/vitest"
import { Worker } from "cron-worker"
import { Effect, Layer, TestClock } from "effect"
import { dailyDigest, Mailer } from "./dailyDigest.js"

it.effect("sends the digest at 08:00 London time on weekdays only", () =>
  Effect.gen(function*() {
    const sent: Array<string> = []
    const MailerTest = Layer.succeed(Mailer, {
      send: (_to, subject) => Effect.sync(() => sent.push(subject))
    })
    yield* TestClock.setTime(new Date("2026-07-03T00:00:00Z")) // a Friday

    yield* Worker.start([dailyDigest]).pipe(
      Effect.zipRight(TestClock.adjust("4 days")), // Friday, the weekend, Monday
      Effect.provide(Worker.layerTest()),
      Effect.provide(MailerTest)
    )

    expect(sent).toEqual(["Digest for 2026-07-03", "Digest for 2026-07-06"])
  }))
