#!/usr/bin/env node
/**
 * The worker's composition root, whole: the example app (its jobs, its job kinds, its tables
 * and its demo data) and the worker's own history retention, on the stack the
 * worker provides (configuration, the database, the publisher and the outbox,
 * the run store, telemetry, `/health` and `/metrics`: `Lifecycle.ts`).
 * `node dist/main.js [worker|run|next|jobs|check|history|pause|resume|migrate|outbox|seed-demo]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Cli from "./Cli.js"
import { databaseCleanup, migrations, reportGenerator, seedDemoCommand, userDigest } from "./jobs/index.js"
import { maintenance } from "./Maintenance.js"

Cli.main({
  serviceName: "financial-worker",
  // Registration order; `maintenance` deletes history older than WORKER_HISTORY_RETENTION_DAYS.
  jobs: [databaseCleanup, reportGenerator, maintenance],
  // Job kinds: schedules of them are made at run time (admin API, `schedules create`), one per user, say.
  kinds: [userDigest],
  // The `finance` schema the example jobs read, migrated after the worker's own tables.
  migrations: [migrations],
  // `seed-demo`: data that exercises the example jobs.
  commands: [seedDemoCommand]
}).pipe(
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
