/**
 * A harmless job: proves the scheduler is alive once a minute. The real
 * example jobs (database clean-up, weekly report) need PostgreSQL and RabbitMQ.
 */
import { Effect } from "effect"
import * as Job from "../Job.js"

export const heartbeat = Job.make({
  name: "heartbeat",
  schedule: "* * * * *",
  description: "Logs once a minute that the worker is alive",
  timeout: "10 seconds",
  run: Effect.gen(function*() {
    const run = yield* Job.CurrentRun
    yield* Effect.logDebug("heartbeat").pipe(Effect.annotateLogs({ nominal_at: run.nominalAt.toISOString() }))
  })
})
