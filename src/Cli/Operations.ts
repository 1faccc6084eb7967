/** Commands on the worker's database and broker: `run`, `migrate`, `seed-demo`, `outbox`. */
import { Args, Command, Options } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import { Console, Effect, Option } from "effect"
import * as Database from "../Database.js"
import * as Demo from "../Demo.js"
import type * as Job from "../Job.js"
import * as Lifecycle from "../Lifecycle.js"
import { CliExit, readConfig, usage } from "./Common.js"

/** `run <job>`: one manual run now; exits with its outcome. */
export const runCommand = <const Jobs extends ReadonlyArray<Job.Any>, E>(jobs: Jobs, layer: Lifecycle.AppLayer<Jobs, E>) =>
  Command.make("run", { job: Args.text({ name: "job" }).pipe(Args.withDescription("name of the job")) }, ({ job }) =>
    Effect.gen(function*() {
      if (!jobs.some((j) => j.name === job)) {
        return yield* Effect.fail(usage(`no job named "${job}"; the jobs are: ${jobs.map((j) => j.name).join(", ")}`))
      }
      const config = yield* readConfig
      const record = yield* Lifecycle.runOnce(config, jobs, layer, job)
      if (Option.isNone(record)) return yield* Effect.fail(new CliExit({ code: 1, lines: [`job "${job}" left no record`] }))
      const { error, status } = record.value
      if (status !== "succeeded") {
        return yield* Effect.fail(new CliExit({ code: 1, lines: [`job "${job}" ${status}${error === undefined ? "" : `: ${error}`}`] }))
      }
    })).pipe(Command.withDescription("Run one job now as a manual run, deliver what it published, exit with its outcome"))

export const migrateCommand = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const config = yield* readConfig
    const applied = yield* Lifecycle.withDatabase(config, Database.migrate, Database.layerWithoutMigrations)
    yield* Console.log(
      applied.length === 0 ? "database is up to date" : `applied: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`
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
            const retried = yield* sql`UPDATE cron_worker.outbox SET status = 'pending' WHERE status = 'failed' RETURNING id`
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
            ...rows.map((r) => [r.id, r.status, String(r.attempts), r.exchange, r.routing_key, r.created_at.toISOString(), r.last_error ?? ""])
          ]
          const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
          yield* Console.log(table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n"))
        })
      )
    })
).pipe(Command.withDescription("List outbox messages pending or failed (--all: every one); --retry-failed"))
