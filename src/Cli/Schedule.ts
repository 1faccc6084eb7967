/** Commands about schedules, which need no database: `next`, `jobs`, `check`. */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Either, Option } from "effect"
import * as CronSpec from "../CronSpec.js"
import * as Job from "../Job.js"
import * as TimeZone from "../TimeZone.js"
import * as Worker from "../Worker.js"
import * as WorkerConfig from "../WorkerConfig.js"
import { CliExit, readConfig, usage } from "./Common.js"

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
    expression: Args.text({ name: "expression" }).pipe(Args.withDescription("cron expression, quoted")),
    timezone: Options.text("timezone").pipe(
      Options.withDescription(
        "zone of the schedule when it has no CRON_TZ= prefix (default WORKER_TIMEZONE, else UTC)"
      ),
      Options.optional
    ),
    from: Options.text("from").pipe(
      Options.withDescription("ISO-8601 instant to count from (default now)"),
      Options.optional
    ),
    count: Options.text("count").pipe(
      Options.withDescription("how many instants, 1 to 100000"),
      Options.withDefault("5")
    )
  },
  ({ count, expression, from, timezone }) =>
    Effect.gen(function*() {
      yield* WorkerConfig.loadDotEnv()
      const zone = Option.getOrElse(timezone, () => process.env.WORKER_TIMEZONE?.trim() || "UTC")
      if (TimeZone.make(zone) === undefined) return yield* Effect.fail(usage(`unknown time zone "${zone}"`))
      const n = /^\d+$/.test(count.trim()) ? Number(count) : NaN
      if (!(n >= 1 && n <= 100_000)) {
        return yield* Effect.fail(usage(`--count must be a whole number from 1 to 100000, got "${count}"`))
      }
      const after = Option.isSome(from)
        ? yield* Either.mapLeft(parseInstant(from.value), usage)
        : yield* Clock.currentTimeMillis
      const spec = yield* Either.mapLeft(
        CronSpec.parse(expression, { timezone: zone }),
        (error) => usage(error.message)
      )
      const lines = CronSpec.nextN(spec, after, n, after).map((instant) =>
        `${TimeZone.formatInstant(instant)}  ${TimeZone.formatLocal(instant, spec.zone)}`
      )
      yield* Console.log(lines.join("\n"))
    })
).pipe(Command.withDescription("Print the next fire instants of a cron expression (UTC, then local time)"))

export const jobsCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "jobs",
    { json: Options.boolean("json").pipe(Options.withDescription("one JSON object per job")) },
    ({ json }) =>
      Effect.gen(function*() {
        const config = yield* readConfig
        const now = yield* Clock.currentTimeMillis
        const errors = Worker.validate(jobs, config.timezone)
        if (errors.length > 0) return yield* Effect.fail(new CliExit({ code: 1, lines: errors.map((e) => e.message) }))
        const rows = jobs.flatMap((job) =>
          Either.match(Job.validate(job, config.timezone), {
            onLeft: () => [],
            onRight: ({ spec }) => [{
              name: job.name,
              schedule: job.schedule,
              timezone: spec.timezone,
              description: job.options.description ?? "",
              next: CronSpec.nextN(spec, now, 3).map(TimeZone.formatInstant)
            }]
          })
        )
        if (json) return yield* Console.log(rows.map((row) => JSON.stringify(row)).join("\n"))
        const table = [
          ["NAME", "SCHEDULE", "ZONE", "NEXT RUNS"],
          ...rows.map((r) => [r.name, r.schedule, r.timezone, r.next.join(", ")])
        ]
        const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => row[i]!.length)))
        yield* Console.log(
          table.map((row) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join("  ")).join("\n")
        )
      })
  ).pipe(Command.withDescription("List the registered jobs with their next three runs"))

export const checkCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make("check", {}, () =>
    Effect.gen(function*() {
      const config = yield* readConfig
      const errors = Worker.validate(jobs, config.timezone)
      if (errors.length > 0) return yield* Effect.fail(new CliExit({ code: 1, lines: errors.map((e) => e.message) }))
      yield* Console.log(`configuration ok; ${jobs.length} job(s) ok`)
    })).pipe(Command.withDescription("Validate the configuration and every job's schedule; exit 0 or 1"))
