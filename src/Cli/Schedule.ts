/** Commands about schedules, which need no database: `next`, `jobs`, `check`. */
import { Args, Command, Options } from "@effect/cli"
import { Cause, Clock, Console, Effect, Either, Exit, Option } from "effect"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import * as CronSpec from "../CronSpec.js"
import * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import * as RunStore from "../RunStore.js"
import * as PgRunStore from "../RunStore/Pg.js"
import * as TimeZone from "../TimeZone.js"
import * as Worker from "../Worker.js"
import * as WorkerConfig from "../WorkerConfig.js"
import { CliExit, jsonArray, quote, readConfig, table, usage } from "./Common.js"
import { describePause } from "./History.js"
import * as Remote from "./Remote.js"

/** An ISO-8601 instant; without `Z` or an offset it is read as UTC. */
export const parseInstant = (text: string): Either.Either<number, string> => {
  const iso = text.trim().replace(" ", "T")
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
    iso
  )
  if (match === null) return Either.left(`--from "${text}" is not an ISO-8601 instant (example: 2026-03-08T06:00:00Z)`)
  const [, year, month, day, hour = "0", minute = "0", second = "0", zone] = match
  const calendar = new Date(Date.UTC(2000, Number(month) - 1, Number(day)))
  calendar.setUTCFullYear(Number(year))
  const valid = calendar.getUTCMonth() === Number(month) - 1 && calendar.getUTCDate() === Number(day) &&
    Number(hour) < 24 && Number(minute) < 60 && Number(second) < 60
  const millis = Date.parse(zone === undefined ? `${iso.includes("T") ? iso : `${iso}T00:00:00`}Z` : iso)
  return !valid || Number.isNaN(millis)
    ? Either.left(`--from "${text}" is not a valid date and time`)
    : Either.right(millis)
}

export const nextCommand = Command.make(
  "next",
  {
    expression: Args.text({ name: "expression" }).pipe(
      Args.withDescription(
        "a cron expression, quoted: \"30 2 * * *\", \"@every 1h\", \"CRON_TZ=Europe/Paris 0 9 * * 1\""
      )
    ),
    timezone: Options.text("timezone").pipe(
      Options.withDescription(
        "IANA zone of the schedule when it has no CRON_TZ= prefix (default WORKER_TIMEZONE, else UTC)"
      ),
      Options.optional
    ),
    from: Options.text("from").pipe(
      Options.withDescription("ISO-8601 instant to count from, UTC without Z or an offset (default now)"),
      Options.optional
    ),
    count: Options.integer("count").pipe(
      Options.withDescription("how many instants to print, 1 to 100000 (default 5)"),
      Options.withDefault(5)
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription("print one JSON array of { instant, local } instead of lines (default off)")
    )
  },
  ({ count, expression, from, json, timezone }) =>
    Effect.gen(function*() {
      yield* WorkerConfig.loadDotEnv()
      const zone = Option.getOrElse(timezone, () => process.env.WORKER_TIMEZONE?.trim() || "UTC")
      if (TimeZone.make(zone) === undefined) return yield* Effect.fail(usage(`unknown time zone ${quote(zone)}`))
      if (!(count >= 1 && count <= 100_000)) {
        return yield* Effect.fail(usage(`--count must be a whole number from 1 to 100000, got ${count}`))
      }
      const after = Option.isSome(from)
        ? yield* Either.mapLeft(parseInstant(from.value), usage)
        : yield* Clock.currentTimeMillis
      const spec = yield* Either.mapLeft(
        CronSpec.parse(expression, { timezone: zone }),
        (error) => usage(error.message)
      )
      const instants = CronSpec.nextN(spec, after, count, after).map((instant) => ({
        instant: TimeZone.formatInstant(instant),
        local: TimeZone.formatLocal(instant, spec.zone)
      }))
      yield* Console.log(
        json ? jsonArray(instants) : instants.map(({ instant, local }) => `${instant}  ${local}`).join("\n")
      )
    })
).pipe(Command.withDescription("Print the next fire instants of a cron expression (UTC, then local time)"))

/**
 * The pause switches, or why they cannot be read. With the embedded database
 * and no data directory yet, nothing can be paused: the directory is not
 * created just to say so.
 */
const readPauses = (config: WorkerConfig.WorkerConfigShape) =>
  Effect.flatMap(Remote.connect(config), (remote) =>
    Option.isSome(remote)
      ? remote.value.jobs.list({ urlParams: {} }).pipe(
        Effect.map((listed) =>
          Either.right<ReadonlyArray<RunStore.Pause>>(
            listed.flatMap(({ name, paused }) =>
              paused === undefined
                ? []
                : [{ job: name, at: paused.at, by: paused.by, reason: paused.reason, until: paused.until }]
            )
          )
        ),
        Effect.catchAll((error) => Effect.succeed(Either.left(`the running worker answered: ${error._tag}`)))
      )
      : readPausesFromDatabase(config))

const readPausesFromDatabase = (config: WorkerConfig.WorkerConfigShape) =>
  Option.isNone(config.databaseUrl) && !config.embeddedDataDir.startsWith("memory://") &&
    !existsSync(resolve(config.embeddedDataDir))
    ? Effect.succeed(Either.right<ReadonlyArray<RunStore.Pause>>([]))
    : Lifecycle.withDatabase(
      config,
      Effect.flatMap(RunStore.RunStore, (store) => store.pauses).pipe(Effect.provide(PgRunStore.layer))
    ).pipe(
      Effect.exit,
      Effect.map(Exit.match({
        onFailure: (cause) => Either.left(Lifecycle.describeStartError(Cause.squash(cause))),
        onSuccess: Either.right
      }))
    )

export const jobsCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "jobs",
    {
      json: Options.boolean("json").pipe(
        Options.withDescription("print one JSON array of jobs instead of a table (default off)")
      )
    },
    ({ json }) =>
      Effect.gen(function*() {
        const config = yield* readConfig
        const now = yield* Clock.currentTimeMillis
        const errors = Worker.validate(jobs, config.timezone)
        if (errors.length > 0) return yield* Effect.fail(new CliExit({ code: 1, lines: errors.map((e) => e.message) }))
        const pauses = yield* readPauses(config)
        if (Either.isLeft(pauses)) yield* Console.error(`jobs: pause state unknown: ${pauses.left}`)
        const rows = jobs.flatMap((job) =>
          Either.match(Job.validate(job, config.timezone), {
            onLeft: () => [],
            onRight: ({ spec }) => {
              const pause = Either.map(pauses, (all) => all.find((p) => p.job === job.name))
              const paused = Either.getOrUndefined(pause)
              return [{
                name: job.name,
                schedule: job.schedule,
                timezone: spec.timezone,
                description: job.options.description ?? "",
                next: CronSpec.nextN(spec, now, 3).map(TimeZone.formatInstant),
                paused: Either.isLeft(pause) ? null : paused !== undefined,
                pausedAt: paused?.at.toISOString() ?? null,
                pausedBy: paused?.by ?? null,
                pauseReason: paused?.reason ?? null,
                pausedUntil: paused?.until?.toISOString() ?? null,
                pauseText: Either.isLeft(pause) ? "unknown" : paused === undefined ? "no" : describePause(paused)
              }]
            }
          })
        )
        if (json) return yield* Console.log(jsonArray(rows.map(({ pauseText: _, ...row }) => row)))
        yield* Console.log(table(
          ["NAME", "SCHEDULE", "ZONE", "NEXT RUNS", "PAUSED"],
          rows.map((r) => [r.name, r.schedule, r.timezone, r.next.join(", "), r.pauseText])
        ))
      })
  ).pipe(Command.withDescription("List the registered jobs: schedule, zone, next three runs, paused or not"))

export const checkCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make("check", {}, () =>
    Effect.gen(function*() {
      const config = yield* readConfig
      const errors = Worker.validate(jobs, config.timezone)
      if (errors.length > 0) return yield* Effect.fail(new CliExit({ code: 1, lines: errors.map((e) => e.message) }))
      yield* Console.log(`configuration ok; ${jobs.length} job(s) ok`)
    })).pipe(Command.withDescription("Validate the configuration and every job's schedule; exit 0 or 1"))
