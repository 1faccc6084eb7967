/**
 * A worker is a list of jobs on a scheduler. `Worker.start(jobs)` requires the
 * union of the jobs' requirements, so a service left out of the layers is a
 * compile error, not a failure at 2 a.m.
 */
import { type Context, Duration, Effect, Layer, Option, Schema } from "effect"
import * as CronSpec from "./CronSpec.js"
import * as Job from "./Job.js"
import * as Kind from "./Kind.js"
import * as RunContext from "./RunContext.js"
import * as RunStore from "./RunStore.js"
import { type RegistrationError, Scheduler } from "./Scheduler.js"
import * as Schedules from "./Schedules.js"
import * as WorkerConfig from "./WorkerConfig.js"

/** One or more jobs cannot be registered; `errors` says which and why. */
export class InvalidJobs extends Schema.TaggedError<InvalidJobs>()("InvalidJobs", {
  errors: Schema.Array(Schema.Union(CronSpec.InvalidCronExpression, Job.InvalidJobOption, Job.DuplicateJobName))
}) {
  /** One line per problem. */
  get lines(): Array<string> {
    return this.errors.map((error) => error.message)
  }
  override get message(): string {
    return this.lines.join("; ")
  }
}

/**
 * Every problem with `jobs`, without registering anything: options, schedules
 * (in `timezone` unless a job names its own), duplicate names.
 */
export const validate = (jobs: ReadonlyArray<Job.Any>, timezone: string): Array<RegistrationError> => {
  const errors: Array<RegistrationError> = []
  const seen = new Set<string>()
  for (const job of jobs) {
    if (job.name.startsWith(Schedules.JOB_PREFIX)) {
      errors.push(
        new Job.InvalidJobOption({
          job: job.name,
          option: "name",
          reason: `the prefix "${Schedules.JOB_PREFIX}" is kept for schedules created at run time`
        })
      )
    }
    if (seen.has(job.name)) errors.push(new Job.DuplicateJobName({ job: job.name }))
    seen.add(job.name)
    const result = Job.validate(job, timezone)
    if (result._tag === "Left") errors.push(result.left)
  }
  return errors
}

/** The problems of a worker's kinds (a bad name, two of one name), as errors of registration. */
export const validateKinds = (kinds: ReadonlyArray<Kind.Any>): Array<RegistrationError> =>
  Kind.invalidNames(kinds).map((reason) => new Job.InvalidJobOption({ job: "kinds", option: "name", reason }))

/**
 * Registers `jobs` (all of them or, when one is invalid, none) and starts the
 * scheduler. Logs `worker started successfully`.
 */
export const start = <
  const Jobs extends ReadonlyArray<Job.Any>,
  const Kinds extends ReadonlyArray<Kind.Any> = readonly []
>(
  jobs: Jobs,
  _kinds?: Kinds
): Effect.Effect<void, InvalidJobs, Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]> | Scheduler> =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    // The jobs' requirements are the union of theirs; the array's element type has lost which job needs which part.
    const register = scheduler.registerAll(jobs) as Effect.Effect<
      void,
      ReadonlyArray<RegistrationError>,
      Job.Requirements<Jobs[number]>
    >
    yield* Effect.mapError(register, (errors) => new InvalidJobs({ errors }))
    // The schedules created at run time, with the services their kinds need (the layer's: `Schedules.layer(kinds)`),
    // registered beside the code jobs before the scheduler starts: it catches up with both alike.
    const schedules = yield* Effect.serviceOption(Schedules.Schedules)
    if (Option.isSome(schedules)) {
      const context = yield* Effect.context<Kind.Requirements<Kinds[number]>>()
      yield* schedules.value.start(context as Context.Context<never>)
    }
    yield* scheduler.start
    yield* Effect.logInfo("worker started successfully").pipe(Effect.annotateLogs({ jobs_registered: jobs.length }))
  })

/** {@link start} as a layer: for tests and for composing a worker inside a larger application. */
export const layer = <
  const Jobs extends ReadonlyArray<Job.Any>,
  const Kinds extends ReadonlyArray<Kind.Any> = readonly []
>(
  jobs: Jobs,
  kinds?: Kinds
): Layer.Layer<never, InvalidJobs, Job.Requirements<Jobs[number]> | Kind.Requirements<Kinds[number]> | Scheduler> =>
  Layer.effectDiscard(start(jobs, kinds))

/**
 * A scheduler for tests: memory run store, default config with `overrides`,
 * and no shutdown grace (a run still going when the test ends is interrupted
 * instead of waiting on a `TestClock` that nobody moves).
 */
export const layerTest = (
  overrides: Partial<WorkerConfig.WorkerConfigShape> = {}
): Layer.Layer<Scheduler | RunStore.RunStore | WorkerConfig.WorkerConfig> =>
  Scheduler.Default.pipe(
    Layer.provideMerge(RunStore.layerMemory()),
    Layer.provideMerge(WorkerConfig.layerWith({ shutdownTimeout: Duration.zero, ...overrides })),
    Layer.provideMerge(RunContext.layer)
  )
