// jobs/dailyDigest.ts
import { Job } from "cron-worker"
import { Context, Effect } from "effect"

export class Mailer extends Context.Tag("app/Mailer")<Mailer, {
  readonly send: (to: string, subject: string) => Effect.Effect<void>
}>() {}

export const dailyDigest = Job.make({
  name: "daily_digest",
  schedule: "0 8 * * 1-5", // 08:00 on weekdays
  timezone: "Europe/London",
  timeout: "2 minutes",
  retry: { attempts: 3, initialDelay: "10 seconds" },
  run: Effect.gen(function*() {
    const run = yield* Job.CurrentRun
    const mailer = yield* Mailer
    yield* mailer.send("team@example.com", `Digest for ${run.nominalAt.toISOString().slice(0, 10)}`)
  })
})
