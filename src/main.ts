#!/usr/bin/env node
/**
 * The worker's composition root, whole: the example app (its jobs, its job kinds, its tables and its demo data) and
 * the worker's own history retention, on the stack under them, layer by layer in start-up order (read from the
 * bottom; shutdown closes them from the top). `run <job>` builds it without HTTP and with a flush-only relay (its
 * `mode`); `check`, `next` and `jobs` build none of it.
 * `node dist/main.js [worker|run|next|jobs|check|history|pause|resume|migrate|outbox|seed-demo]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as Admin from "./Admin.js"
import * as PgAlertHistory from "./AlertHistory/Pg.js"
import * as AlertEvaluator from "./Alerts/Evaluator.js"
import * as Cli from "./Cli.js"
import { Control } from "./Control.js"
import * as Database from "./Database.js"
import * as Health from "./Health.js"
import * as Http from "./Http.js"
import * as Infrastructure from "./Infrastructure.js"
import { databaseCleanup, migrations, reportGenerator, seedDemoCommand, userDigest } from "./jobs/index.js"
import type * as Lifecycle from "./Lifecycle.js"
import { maintenance } from "./Maintenance.js"
import * as SharedMetrics from "./Metrics/Shared.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as Publisher from "./Publisher.js"
import * as RunContext from "./RunContext.js"
import * as PgRunStore from "./RunStore/Pg.js"
import { Scheduler } from "./Scheduler.js"
import * as Schedules from "./Schedules.js"
import * as ScheduleStore from "./Schedules/Store.js"
import * as Telemetry from "./Telemetry.js"
import { WorkerConfig, type WorkerConfigShape } from "./WorkerConfig.js"

// Registration order; `maintenance` deletes history older than WORKER_HISTORY_RETENTION_DAYS.
const jobs = [databaseCleanup, reportGenerator, maintenance] as const
// Job kinds: schedules of them are made at run time (admin API, `schedules create`), one per user, say.
const kinds = [userDigest] as const
// The app's own services: the example jobs need none beyond the worker's.
const AppLive = Layer.empty

/** The same graph as the library's default, `Lifecycle.stack(AppLive, kinds)`, written out. */
const WorkerLive = (config: WorkerConfigShape, { http = true, relay = "background" }: Lifecycle.Mode) =>
  // On the HTTP server: the admin API, `/metrics`, the alerts, the scheduler in the health probes (closes first).
  (http ? Layer.mergeAll(Admin.layer, SharedMetrics.layer, AlertEvaluator.layer, Health.attach) : Layer.empty).pipe(
    Layer.provideMerge(Control.Default),
    Layer.provideMerge(PgAlertHistory.layer),
    Layer.provideMerge(Schedules.layer(kinds)),
    Layer.provideMerge(ScheduleStore.layerPg),
    Layer.provideMerge(Scheduler.Default),
    Layer.provideMerge(AppLive),
    Layer.provideMerge(Layer.mergeAll(
      PgRunStore.layer,
      Publisher.layerOutbox,
      http ? Http.layer : Infrastructure.layerNoHttp
    )),
    Layer.provideMerge(relay === "flush" ? OutboxRelay.layerFlush : OutboxRelay.layer),
    Layer.provideMerge(Database.layer),
    Layer.provideMerge(Telemetry.layer),
    Layer.provideMerge(Layer.succeed(WorkerConfig, config)),
    // Every fiber resumes in its own run's context (or none): see RunContext.
    Layer.provideMerge(RunContext.layer)
  )

Cli.main({
  serviceName: "financial-worker",
  jobs,
  kinds,
  stack: WorkerLive,
  // The `finance` schema the example jobs read, migrated after the worker's own tables.
  migrations: [migrations],
  // `seed-demo`: data that exercises the example jobs.
  commands: [seedDemoCommand]
}).pipe(
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
