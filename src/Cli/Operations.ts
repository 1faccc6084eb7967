/** Commands on the worker's database and broker: `run`, `migrate`, `seed-demo`, `outbox`. */
import { Args, Command, Options } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { Clock, Console, Effect, Option } from "effect"
import * as Database from "../Database.js"
import * as Demo from "../Demo.js"
import type * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import * as RunStore from "../RunStore.js"
import { CliExit, readConfig, usage } from "./Common.js"

/** `run <job>`: one manual run now; exits with its outcome. */
export const runCommand = <const Jobs extends ReadonlyArray<Job.Any>, E>(
  jobs: Jobs,
  layer: Lifecycle.AppLayer<Jobs, E>
) =>
  Command.make(
    "run",
    {
      job: Args.text({ name: "job" }).pipe(Args.withDescription("name of the job")),
      noDeliver: Options.boolean("no-deliver").pipe(
        Options.withDescription("leave what is pending in the outbox for the worker (default: deliver it, up to 30 s)")
      )
    },
    ({ job, noDeliver }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const config = yield* readConfig
        const record = yield* Lifecycle.runOnce(config, jobs, layer, job, { deliver: !noDeliver })
        if (Option.isNone(record)) {
          return yield* Effect.fail(new CliExit({ code: 1, lines: [`job "${job}" left no record`] }))
        }
        const { error, status } = record.value
        if (status !== "succeeded") {
          return yield* Effect.fail(
            new CliExit({ code: 1, lines: [`job "${job}" ${status}${error === undefined ? "" : `: ${error}`}`] })
          )
        }
      })
  ).pipe(Command.withDescription("Run one job now as a manual run, deliver what it published, exit with its outcome"))

export const migrateCommand = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const config = yield* readConfig
    const applied = yield* Lifecycle.withDatabase(config, Database.migrate, Database.layerWithoutMigrations)
    yield* Console.log(
      applied.length === 0
        ? "database is up to date"
        : `applied: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`
    )
  })).pipe(Command.withDescription("Apply the database migrations and exit"))

export const seedDemoCommand = Command.make("seed-demo", {}, () =>
  Effect.gen(function*() {
    const config = yield* readConfig
    yield* Lifecycle.withDatabase(config, Demo.seed)
    yield* Console.log(
      `demo data seeded: ${Demo.expectations.deletable.length} categories for the clean-up to delete, ` +
        `${Demo.expectations.kept.length} expired but still referenced`
    )
  })).pipe(Command.withDescription("Fill the demo schema with data that exercises the example jobs"))

interface OutboxRow {
  readonly id: string
  readonly status: string
  readonly attempts: number
  readonly exchange: string
  readonly routing_key: string
  readonly created_at: Date
  readonly last_error: string | null
}

export const outboxCommand = Command.make(
  "outbox",
  {
    all: Options.boolean("all").pipe(Options.withDescription("delivered messages too")),
    json: Options.boolean("json").pipe(Options.withDescription("one JSON object per message")),
    limit: Options.integer("limit").pipe(Options.withDefault(50)),
    retryFailed: Options.boolean("retry-failed").pipe(Options.withDescription("put failed messages back to pending"))
  },
  ({ all, json, limit, retryFailed }) =>
    Effect.gen(function*() {
      const config = yield* readConfig
      yield* Lifecycle.withDatabase(
        config,
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          if (retryFailed) {
            const retried =
              yield* sql`UPDATE cron_worker.outbox SET status = 'pending' WHERE status = 'failed' RETURNING id`
            return yield* Console.log(`${retried.length} failed message(s) put back to pending`)
          }
          const rows = yield* sql<OutboxRow>`
            SELECT id, status, attempts, exchange, routing_key, created_at, last_error FROM cron_worker.outbox
            ${all ? sql`` : sql`WHERE status IN ('pending', 'failed')`}
            ORDER BY seq DESC LIMIT ${Math.max(1, limit)}`
          if (json) return yield* Console.log(rows.map((row) => JSON.stringify(row)).join("\n"))
          if (rows.length === 0) return yield* Console.log(all ? "the outbox is empty" : "nothing pending or failed")
          const table = [
            ["ID", "STATUS", "ATTEMPTS", "EXCHANGE", "ROUTING KEY", "CREATED", "LAST ERROR"],
            ...rows.map((
              r
            ) => [
              r.id,
              r.status,
              String(r.attempts),
              r.exchange,
              r.routing_key,
              r.created_at.toISOString(),
              r.last_error ?? ""
            ])
          ]
          const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
          yield* Console.log(
            table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
          )
        })
      )
    })
).pipe(Command.withDescription("List outbox messages pending or failed (--all: every one); --retry-failed"))

/** A job name this worker knows, or a usage error listing them. */
const knownJob = (jobs: ReadonlyArray<Job.Any>, job: string) =>
  jobs.some((j) => j.name === job)
    ? Effect.void
    : Effect.fail(usage(`no job named "${job}"; the jobs are: ${jobs.map((j) => j.name).join(", ")}`))

const onRunStore = <A, E>(f: (store: RunStore.RunStoreShape) => Effect.Effect<A, E>) =>
  Effect.flatMap(
    readConfig,
    (config) =>
      Lifecycle.withDatabase(config, Effect.flatMap(RunStore.RunStore, f).pipe(Effect.provide(RunStore.layerPg)))
  )

/** `pause <job> [--reason text]`: every instance records the job's slots as skipped (paused) until `resume`. */
export const pauseCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "pause",
    {
      job: Args.text({ name: "job" }),
      reason: Options.text("reason").pipe(Options.withDescription("why, shown by history"), Options.optional)
    },
    ({ job, reason }) =>
      Effect.gen(function*() {
        yield* knownJob(jobs, job)
        const at = new Date(yield* Clock.currentTimeMillis)
        yield* onRunStore((store) => store.pause(job, Option.getOrUndefined(reason), at))
        yield* Console.log(`job "${job}" paused${Option.match(reason, { onNone: () => "", onSome: (r) => `: ${r}` })}`)
      })
  ).pipe(Command.withDescription("Pause a job on every instance: its slots are recorded as skipped (paused)"))

export const resumeCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make("resume", { job: Args.text({ name: "job" }) }, ({ job }) =>
    Effect.gen(function*() {
      yield* knownJob(jobs, job)
      const resumed = yield* onRunStore((store) => store.resume(job))
      yield* Console.log(resumed ? `job "${job}" resumed` : `job "${job}" was not paused`)
    })).pipe(Command.withDescription("Resume a paused job"))

const seconds = (ms: number | undefined) => (ms === undefined ? "" : `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)}s`)

/**
 * `history [job] [--limit N] [--json]`: the run history, newest first. A job
 * this worker does not know is shown only if the history has runs of it (a
 * job since removed); otherwise it is a usage error, as for `pause`.
 */
export const historyCommand = (jobs: ReadonlyArray<Job.Any>) =>
  Command.make(
    "history",
    {
      job: Args.text({ name: "job" }).pipe(Args.optional),
      limit: Options.integer("limit").pipe(Options.withDefault(20)),
      json: Options.boolean("json").pipe(Options.withDescription("one JSON object per run"))
    },
    ({ job, json, limit }) =>
      Effect.gen(function*() {
        if (limit < 1) return yield* Effect.fail(usage(`--limit must be at least 1, got ${limit}`))
        const runs = yield* onRunStore((store) => store.history({ job: Option.getOrUndefined(job), limit }))
        if (runs.length === 0 && Option.isSome(job)) yield* knownJob(jobs, job.value)
        if (json) {
          return runs.length === 0
            ? undefined
            : yield* Console.log(runs.map((run) => JSON.stringify(run)).join("\n"))
        }
        if (runs.length === 0) return yield* Console.log("no runs recorded")
        const table = [
          ["NOMINAL", "JOB", "STATUS", "REASON", "ATTEMPT", "DURATION", "INSTANCE", "DETAIL"],
          ...runs.map((run) => [
            run.nominalAt.toISOString(),
            run.job,
            run.status,
            run.reason,
            String(run.attempt),
            seconds(run.durationMs),
            run.instance,
            run.skipReason ?? run.error ?? ""
          ])
        ]
        const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
        yield* Console.log(
          table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
        )
      })
  ).pipe(Command.withDescription("The run history, newest first: every slot run, skipped, failed or abandoned"))
