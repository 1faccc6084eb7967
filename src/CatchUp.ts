/**
 * Slots missed while no worker ran: which to run, which to record as missed.
 * Decided from the durable history (the newest slot recorded for the job), so
 * a restart inside a slot never runs it twice, and several instances starting
 * together agree (their claims do the rest).
 */
import { Duration } from "effect"
import type * as CronSpec from "./CronSpec.js"
import type { CatchUp } from "./Job.js"

/** Slots looked at per stretch, at most: beyond, the count is a lower bound. */
export const SCAN_LIMIT = 1_000_000
/** Missed slots recorded one by one, at most; the rest are counted in the log. */
export const RECORD_LIMIT = 1000
/** Slots `all` runs, at most: the newest ones. */
export const RUN_LIMIT = 100

/** The decision for one job. */
export interface Plan {
  /** Slots to run now, oldest first, as catch-up runs. */
  readonly run: ReadonlyArray<number>
  /** Slots to record as skipped (`missed`), oldest first: the newest `RECORD_LIMIT` within the window. */
  readonly record: ReadonlyArray<number>
  /** All the slots missed, run or not (a lower bound past `SCAN_LIMIT`). */
  readonly missed: number
}

/**
 * The slots of `spec` in (`last`, `now`], and what `policy` does with them:
 * `latest` runs the newest if it is within `window`, `skip` runs none but the
 * newest when it is less than `late` old (late, not missed), `all` runs those
 * within `window` (the newest `RUN_LIMIT`). The others are missed; those older
 * than the window are only counted.
 */
export const plan = (
  spec: CronSpec.CronSpec,
  anchor: number,
  last: number,
  now: number,
  policy: CatchUp,
  window: Duration.Duration,
  late = 0
): Plan => {
  const windowStart = Math.max(last, now - Duration.toMillis(window))
  let older = 0
  for (let slot = spec.next(last, anchor); slot <= windowStart && older < SCAN_LIMIT; slot = spec.next(slot, anchor)) {
    older++
  }
  const recent: Array<number> = []
  for (
    let slot = spec.next(windowStart, anchor);
    slot <= now && recent.length < SCAN_LIMIT;
    slot = spec.next(slot, anchor)
  ) {
    recent.push(slot)
  }
  const newest = recent.slice(-1)
  const run = policy === "skip"
    ? newest.filter((slot) => slot > now - late)
    : policy === "latest"
    ? newest
    : recent.slice(-RUN_LIMIT)
  const ran = new Set(run)
  const record = recent.filter((slot) => !ran.has(slot)).slice(-RECORD_LIMIT)
  return { run, record, missed: older + recent.length }
}
