/**
 * Backfills, as Temporal's: an operator runs the slots a job's schedule had in a past range `[from, to)`, now,
 * recorded with the reason `backfill`. They run on the instance asked, one after another, whatever the overlap
 * policy: the policy (the job's own, or the backfill's) decides only what a backfill slot does when another run of
 * the job (a scheduled one, a manual one) is running at that moment. One after another keeps a backfill of 1000
 * slots from taking every permit of `WORKER_MAX_CONCURRENT_JOBS` at once and from hammering what the job talks to.
 *
 * A backfill has an id (the caller's, or one made for it): a slot runs at most once per id, so a request retried
 * with its id (a timeout, a lost answer) runs nothing twice, and one stopped by a shutdown is continued by posting
 * it again with its id. A new backfill (a new id) runs its slots again, even those an earlier one ran.
 */
import { Either, Schema } from "effect"
import type * as CronSpec from "./CronSpec.js"

/** Slots one backfill runs at most: a larger range is refused, not cut short. */
export const MAX_SLOTS = 1000

/** The range has more than {@link MAX_SLOTS} slots: nothing is run. */
export class BackfillTooLarge extends Schema.TaggedError<BackfillTooLarge>()("BackfillTooLarge", {
  job: Schema.String,
  from: Schema.Date,
  to: Schema.Date
}) {
  override get message(): string {
    return `the backfill of job ${JSON.stringify(this.job)} from ${this.from.toISOString()} to ` +
      `${this.to.toISOString()} has more than ${MAX_SLOTS} slots; backfill a shorter range`
  }
}

/** The range ends after now: the slots to come are the schedule's, not a backfill's. Nothing is run. */
export class BackfillInFuture extends Schema.TaggedError<BackfillInFuture>()("BackfillInFuture", {
  job: Schema.String,
  to: Schema.Date
}) {
  override get message(): string {
    return `the backfill of job ${JSON.stringify(this.job)} would end at ${this.to.toISOString()}, ` +
      "which is after now; a backfill covers the past"
  }
}

/** The range is empty or reversed (`from` not before `to`). Nothing is run. */
export class BackfillEmptyRange extends Schema.TaggedError<BackfillEmptyRange>()("BackfillEmptyRange", {
  job: Schema.String,
  from: Schema.Date,
  to: Schema.Date
}) {
  override get message(): string {
    return `the backfill of job ${JSON.stringify(this.job)} from ${this.from.toISOString()} to ` +
      `${this.to.toISOString()} is empty: 'from' must be before 'to'`
  }
}

/** Why a backfill was refused. */
export type BackfillError = BackfillTooLarge | BackfillInFuture | BackfillEmptyRange

/**
 * The slots of `spec` (anchored at `anchor` for `@every`) in `[from, to)`, oldest first, or why the range is
 * refused at `now`. A range with no slot is no error: the answer says so.
 */
export const plan = (
  job: string,
  spec: CronSpec.CronSpec,
  anchor: number,
  from: Date,
  to: Date,
  now: number
): Either.Either<ReadonlyArray<number>, BackfillError> => {
  if (to.getTime() > now) return Either.left(new BackfillInFuture({ job, to }))
  if (from.getTime() >= to.getTime()) return Either.left(new BackfillEmptyRange({ job, from, to }))
  const slots: Array<number> = []
  // `next` is strictly after its argument: from a millisecond before `from`, a slot at `from` is the first.
  for (let slot = spec.next(from.getTime() - 1, anchor); slot < to.getTime(); slot = spec.next(slot, anchor)) {
    if (slots.length === MAX_SLOTS) return Either.left(new BackfillTooLarge({ job, from, to }))
    slots.push(slot)
  }
  return Either.right(slots)
}
