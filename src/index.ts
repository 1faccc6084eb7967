/**
 * cron-worker's public API: what a team imports to write jobs, compose a
 * worker from them and test them.
 */
export { AdminApi } from "./AdminApi.js"
export * as Cli from "./Cli.js"
export * as CronSpec from "./CronSpec.js"
export * as Database from "./Database.js"
export type { Provided } from "./Infrastructure.js"
export * as Job from "./Job.js"
/**
 * The stack under a worker's jobs: `stack(layer, kinds)` is the worker's default on the app's `layer` (what
 * `Cli.main({ jobs, layer })` builds); `Cli.main({ jobs, stack })` takes one written out, as `src/main.ts` does.
 */
export { type Mode, type Stack, stack } from "./Lifecycle.js"
/** Job kinds: the code behind schedules created at run time. */
export * as Kind from "./Kind.js"
export * as Log from "./Log.js"
/** The worker's history retention job: list it among a worker's jobs. */
export { maintenance } from "./Maintenance.js"
export * as Migrations from "./Migrations.js"
export * as OutboxRelay from "./OutboxRelay.js"
export * as Publisher from "./Publisher.js"
export * as RunStore from "./RunStore.js"
export * as Schedules from "./Schedules.js"
/** Where schedules are stored: `ScheduleStore.layerPg`, `ScheduleStore.layerMemory()`. */
export * as ScheduleStore from "./Schedules/Store.js"
/** The run store on PostgreSQL: `PgRunStore.layer`. */
export * as PgRunStore from "./RunStore/Pg.js"
export { type JobInfo, JobNotFound, type RegistrationError, Scheduler, SchedulerStopped } from "./Scheduler.js"
export * as TimeZone from "./TimeZone.js"
export * as Worker from "./Worker.js"
export * as WorkerConfig from "./WorkerConfig.js"
