/**
 * The alerts as they were recorded (`cron_worker.alerts`, migration `14_alerts`, written by `Alerts/Evaluator.ts`):
 * what the admin API's `GET /api/alerts` and the `alerts` command read. A port, as `RunStore.ts` is: the adapter on
 * PostgreSQL (embedded or not) is `AlertHistory/Pg.ts`, which this module does not import; `layerMemory` reads the
 * rows of a store in memory, for tests.
 */
import { Context, Effect, Layer } from "effect"

/** Which alerts: `active` (firing, not resolved), `resolved`, or `all`. */
export type AlertState = "active" | "resolved" | "all"

/** Which alerts `list` returns. */
export interface AlertQuery {
  readonly state: AlertState
  /** Only those about this job (`""`: the worker's own rules). Default: every job. */
  readonly job?: string | undefined
  /** At most this many. */
  readonly limit: number
}

/** One alert as recorded: when it fired, and when it resolved (none while it fires). */
export interface AlertRecord {
  readonly id: number
  readonly rule: string
  /** The job it is about; `""` for the worker's own rules (`outbox_stale`, `instance_lost`). */
  readonly job: string
  readonly since: Date
  readonly resolvedAt: Date | undefined
  readonly detail: string
}

export interface AlertHistoryShape {
  /** The alerts of `query`, newest `since` first (then newest id). */
  readonly list: (query: AlertQuery) => Effect.Effect<ReadonlyArray<AlertRecord>>
}

/** The alert history port. A worker without it (none provided) has no alerts to show. */
export class AlertHistory extends Context.Tag("cron-worker/AlertHistory")<AlertHistory, AlertHistoryShape>() {}

/** A row of a store in memory (`Alerts/Evaluator.makeMemory`'s `rows`). */
export interface MemoryRow {
  readonly rule: string
  readonly job: string
  readonly since: Date
  readonly resolvedAt?: Date | undefined
  readonly detail: string
}

/** The history of `rows`, read as they are at each call; a row's id is its position, from 1. */
export const makeMemory = (rows: ReadonlyArray<MemoryRow>): AlertHistoryShape => ({
  list: (query) =>
    Effect.sync(() =>
      rows
        .map((row, index): AlertRecord => ({ ...row, id: index + 1, resolvedAt: row.resolvedAt }))
        .filter((alert) =>
          (query.state === "all" || (query.state === "active") === (alert.resolvedAt === undefined)) &&
          (query.job === undefined || alert.job === query.job)
        )
        .sort((a, b) => b.since.getTime() - a.since.getTime() || b.id - a.id)
        .slice(0, query.limit)
    )
})

/** {@link makeMemory} as a layer. */
export const layerMemory = (rows: ReadonlyArray<MemoryRow>): Layer.Layer<AlertHistory> =>
  Layer.succeed(AlertHistory, makeMemory(rows))
