// main.ts
import { NodeRuntime } from "@effect/platform-node"
import { Cli, maintenance } from "cron-worker"
import { Effect, Layer } from "effect"
import { dailyDigest, Mailer } from "./jobs/dailyDigest.js"
import { sendReminder } from "./jobs/sendReminder.js"

const MailerLive = Layer.succeed(Mailer, {
  send: (to, subject) => Effect.logInfo("mail sent").pipe(Effect.annotateLogs({ to, subject }))
})

NodeRuntime.runMain(Cli.main({ jobs: [dailyDigest, maintenance], kinds: [sendReminder], layer: MailerLive }), {
  disableErrorReporting: true,
  disablePrettyLogger: true
})
