// The schedulers under test, behind one shape: `start(n, expression, onFire)`
// registers n jobs on `expression` (UTC); job i calls `onFire(i, nominal)`
// when it fires, with the nominal instant (ms) of the slot when the library
// says which it is (cron-worker, node-cron), else `undefined`; the returned
// function stops them all.
import { CronJob } from "cron"
import { Cron as Croner } from "croner"
import { Duration, Effect, Exit, Fiber, Layer, LogLevel, Schedule, Scope } from "effect"
import nodeCron from "node-cron"
import { CronJob as ToadCronJob, Task, ToadScheduler } from "toad-scheduler"
import { Job, Log, RunStore, Scheduler, Worker, WorkerConfig } from "../dist/index.js"

/**
 * cron-worker with its real bookkeeping: memory run store (every slot claimed
 * and its outcome recorded), the global semaphore (as large as n, so that it
 * never skips), overlap `skip`, a timeout on every run, JSON logs at `level`
 * written to stdout (the orchestrator sends them to /dev/null).
 */
const cronWorker = (level) => async (n, expression, onFire) => {
  const jobs = Array.from(
    { length: n },
    (_, i) =>
      Job.make({
        name: `job-${i}`,
        schedule: expression,
        timeout: "30 seconds",
        run: Effect.map(Job.CurrentRun, (run) => onFire(i, run.nominalAt.getTime()))
      })
  )
  const layer = Worker.layer(jobs).pipe(
    Layer.provideMerge(Scheduler.Default),
    Layer.provideMerge(RunStore.layerMemory()),
    Layer.provideMerge(
      WorkerConfig.layerWith({
        serviceName: "bench",
        maxConcurrentJobs: n,
        logLevel: level,
        shutdownTimeout: Duration.seconds(1)
      })
    ),
    Layer.provide(Log.layer({ service: "bench", format: "json", level }))
  )
  const scope = Effect.runSync(Scope.make())
  await Effect.runPromise(Layer.buildWithScope(layer, scope))
  return () => Effect.runPromise(Scope.close(scope, Exit.void))
}

/** effect's own `Schedule.cron`, one fiber per job: `Effect.schedule(run, Schedule.cron(expression))`. */
const effectSchedule = async (n, expression, onFire) => {
  const schedule = Schedule.cron(expression, "UTC")
  const fibers = Array.from(
    { length: n },
    (_, i) => Effect.runFork(Effect.schedule(Effect.sync(() => onFire(i)), schedule))
  )
  return () => Effect.runPromise(Fiber.interruptAll(fibers))
}

/** croner with an explicit `timezone: "UTC"`, or (`zone` undefined) in its default: the process's zone (TZ=UTC). */
const croner = (zone) => async (n, expression, onFire) => {
  const options = zone === undefined ? {} : { timezone: zone }
  const jobs = Array.from({ length: n }, (_, i) => new Croner(expression, options, () => onFire(i)))
  return async () => jobs.forEach((job) => job.stop())
}

/** toad-scheduler's cron jobs (croner underneath), in the process's zone (TZ=UTC). */
const toad = async (n, expression, onFire) => {
  const scheduler = new ToadScheduler()
  for (let i = 0; i < n; i++) {
    scheduler.addCronJob(new ToadCronJob({ cronExpression: expression }, new Task(`job-${i}`, () => onFire(i))))
  }
  return async () => scheduler.stop()
}

const nodeCronScheduler = async (n, expression, onFire) => {
  const tasks = Array.from(
    { length: n },
    (_, i) => nodeCron.schedule(expression, (context) => onFire(i, context.date.getTime()), { timezone: "UTC" })
  )
  return async () => {
    for (const task of tasks) await task.destroy()
  }
}

const kelektivCron = (zone) => async (n, expression, onFire) => {
  const jobs = Array.from(
    { length: n },
    (_, i) =>
      CronJob.from({
        cronTime: expression,
        onTick: () => onFire(i),
        start: true,
        ...(zone === undefined ? {} : { timeZone: zone })
      })
  )
  return async () => jobs.forEach((job) => job.stop())
}

/** Name → adapter. `cron-worker` logs at `warn`; `cron-worker (info logs)` at the default level. */
export const schedulers = {
  "cron-worker": cronWorker(LogLevel.Warning),
  "cron-worker (info logs)": cronWorker(LogLevel.Info),
  croner: croner("UTC"),
  "croner (process zone)": croner(undefined),
  "node-cron": nodeCronScheduler,
  "cron (kelektiv)": kelektivCron("UTC"),
  "cron (kelektiv, process zone)": kelektivCron(undefined),
  "toad-scheduler": toad,
  "effect Schedule.cron": effectSchedule
}
