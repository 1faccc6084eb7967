// jobs/sendReminder.ts
import { Job, Kind } from "cron-worker"
import { Effect, Schema } from "effect"
import { Mailer } from "./dailyDigest.js"

// A job kind: the code; the schedules of it (one per customer, say) are data made at run time.
export const sendReminder = Kind.make({
  name: "send_reminder",
  payload: Schema.Struct({
    email: Schema.String.pipe(Schema.pattern(/^[^@\s]+@[^@\s]+$/)),
    subject: Schema.optionalWith(Schema.String, { default: () => "Your reminder" })
  }),
  defaults: { timeout: "30 seconds", retry: { attempts: 3 } },
  run: ({ email, subject }) =>
    Effect.gen(function*() {
      const run = yield* Job.CurrentRun
      const mailer = yield* Mailer
      yield* mailer.send(email, `${subject} (${run.nominalAt.toISOString().slice(0, 10)})`)
    })
})
