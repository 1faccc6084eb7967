/**
 * `alerts [--all] [--job name] [--limit N] [--json]`: the built-in alerts as recorded (`cron_worker.alerts`), newest
 * first; through the running worker's admin API when one runs on this database (`Remote.ts`), else on the database.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { AlertHistory, type AlertQuery, type AlertRecord } from "../AlertHistory.js"
import * as PgAlertHistory from "../AlertHistory/Pg.js"
import { escapeControl, jsonArray, readConfig, table, usage, withDatabase } from "./Common.js"
import * as Remote from "./Remote.js"

/** The API's page limit: what `--limit` may ask for. */
const MAX_LIMIT = 500

/** An alert as `alerts --json` prints it: every field present, `resolvedAt` `null` while it fires. */
export const alertJson = (alert: AlertRecord) => ({
  id: alert.id,
  rule: alert.rule,
  job: alert.job,
  state: alert.resolvedAt === undefined ? "firing" : "resolved",
  since: alert.since.toISOString(),
  resolvedAt: alert.resolvedAt?.toISOString() ?? null,
  detail: alert.detail
})

/** The table's rows: since, state (`firing`, or `resolved <instant>`), rule, job (`-` for the worker's), detail. */
export const alertRows = (alerts: ReadonlyArray<AlertRecord>): Array<Array<string>> =>
  alerts.map((alert) => [
    alert.since.toISOString(),
    alert.resolvedAt === undefined ? "firing" : `resolved ${alert.resolvedAt.toISOString()}`,
    alert.rule,
    alert.job === "" ? "-" : escapeControl(alert.job),
    escapeControl(alert.detail)
  ])

const onDatabase = (query: AlertQuery) =>
  withDatabase(
    "alerts",
    Effect.flatMap(AlertHistory, (history) => history.list(query)).pipe(Effect.provide(PgAlertHistory.layer))
  )

export const alertsCommand = Command.make(
  "alerts",
  {
    all: Options.boolean("all").pipe(
      Options.withDescription("resolved alerts too (default: only those firing)")
    ),
    job: Options.text("job").pipe(
      Options.withDescription("only the alerts about this job (default every job and the worker's own)"),
      Options.optional
    ),
    limit: Options.integer("limit").pipe(
      Options.withDescription(`how many alerts to show, newest first, 1 to ${MAX_LIMIT} (default 50)`),
      Options.withDefault(50)
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription("print one JSON array of alerts instead of a table (default off)")
    )
  },
  ({ all, job, json, limit }) =>
    Effect.gen(function*() {
      if (limit < 1 || limit > MAX_LIMIT) {
        return yield* Effect.fail(usage(`--limit must be from 1 to ${MAX_LIMIT}, got ${limit}`))
      }
      const query: AlertQuery = { state: all ? "all" : "active", job: Option.getOrUndefined(job), limit }
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      const alerts = Option.isSome(remote)
        ? yield* Remote.call(
          "alerts",
          Effect.map(
            remote.value.alerts.list({ urlParams: query }),
            (listed) => listed.map((alert): AlertRecord => ({ ...alert, resolvedAt: alert.resolvedAt }))
          )
        )
        : yield* onDatabase(query)
      if (json) return yield* Console.log(jsonArray(alerts.map(alertJson)))
      if (alerts.length === 0) return yield* Console.log(all ? "no alerts recorded" : "no alerts firing")
      yield* Console.log(table(["SINCE", "STATE", "RULE", "JOB", "DETAIL"], alertRows(alerts)))
    })
).pipe(
  Command.withDescription(
    "The built-in alerts, newest first: those firing, or with --all those resolved too (kept 30 days)"
  )
)
