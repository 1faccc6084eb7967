/**
 * The runs an operator asks for, beside the schedule's: a manual run now (with an overlap policy of its own, waited
 * for or not), the cancellation of a live run, and backfills (`Backfill.ts`). They go through the same slots as
 * scheduled runs (`Slot`: claim, overlap, limit, run, record), on the scheduler's runs in flight, so a shutdown
 * treats them alike.
 */
import { Clock, Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { randomUUID } from "node:crypto"
import * as Backfill from "./Backfill.js"
import type { Entry } from "./Entry.js"
import type { InFlight } from "./InFlight.js"
import type { Overlap } from "./Job.js"
import type { RunRecord, RunStoreShape } from "./RunStore.js"
import type { Claimed, SlotOptions } from "./Slot.js"

/** No job of that name is registered. */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", { job: Schema.String }) {
  override get message(): string {
    return `no job named "${this.job}" is registered`
  }
}

/** The scheduler is shutting down: it starts no run. */
export class SchedulerStopped extends Schema.TaggedError<SchedulerStopped>()("SchedulerStopped", {}) {
  override get message(): string {
    return "the scheduler is shutting down"
  }
}

/** How a manual run goes. */
export interface TriggerOptions {
  /** The overlap policy of this run only. Default: the job's. */
  readonly overlap?: Overlap | undefined
  /**
   * Wait for the run's outcome (default). `false`: return once this instance has decided whether it runs (claimed
   * and past the local overlap check: `running`, or `skipped`), or once it waits in the queue (`queued`).
   */
  readonly wait?: boolean | undefined
}

/** A backfill's range and policy. */
export interface BackfillRequest {
  readonly from: Date
  readonly to: Date
  /** The policy of its runs. Default: the job's. */
  readonly overlap?: Overlap | undefined
  /** Its id: a retried request passes the id it was given, and runs no slot twice. Default: a new one. */
  readonly id?: string | undefined
}

/** A backfill accepted: it runs in the background. */
export interface BackfillStarted {
  readonly id: string
  readonly slots: ReadonlyArray<Date>
}

/** What the operator's runs use of the scheduler. */
export interface Dependencies {
  /** The registered job of that name. */
  readonly entry: (name: string) => Entry | undefined
  readonly inFlight: InFlight
  readonly slot: (
    entry: Entry,
    nominal: number,
    reason: "manual" | "backfill",
    runId: string,
    options?: SlotOptions
  ) => Effect.Effect<Claimed>
  readonly store: RunStoreShape
}

/**
 * The job as one run sees it under `overlap`: the same entry with another policy. The copy shares the job's overlap
 * state (the object, not a copy of it), so the run still sees, and is seen by, the job's other runs.
 */
const withOverlap = (entry: Entry, overlap: Overlap | undefined): Entry =>
  overlap === undefined || overlap === entry.overlap ? entry : { ...entry, overlap }

export const make = ({ entry: entryOf, inFlight, slot, store }: Dependencies) => {
  const find = (name: string): Effect.Effect<Entry, JobNotFound | SchedulerStopped> =>
    Effect.suspend((): Effect.Effect<Entry, JobNotFound | SchedulerStopped> => {
      const entry = entryOf(name)
      if (entry === undefined) return Effect.fail(new JobNotFound({ job: name }))
      if (inFlight.closed()) return Effect.fail(new SchedulerStopped())
      return Effect.succeed(entry)
    })

  /** A backfill's slots, one after another, each on a fiber of its own; none starts once shutdown began. */
  const runBackfill = (entry: Entry, id: string, slots: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      yield* Effect.logInfo("backfill started")
      let claimed = 0
      for (const nominal of slots) {
        if (inFlight.closed()) break
        // Awaited, not joined: joining would take the slot fiber's log annotations (its run id) into this one.
        const exit = yield* Fiber.await(
          inFlight.start(slot(entry, nominal, "backfill", randomUUID(), { backfillId: id }))
        )
        if (Exit.isSuccess(exit) && exit.value === "claimed") claimed++
      }
      // `claimed` below `slots`: a retried backfill found slots it had run already, or shutdown stopped it.
      yield* Effect.logInfo("backfill finished").pipe(Effect.annotateLogs({ claimed }))
    }).pipe(Effect.annotateLogs({ job: entry.name, backfill_id: id, slots: slots.length }))

  return {
    /** Runs a job now, as a manual run; its history record, once it ended or (`wait: false`) started. */
    trigger: (name: string, options: TriggerOptions = {}) =>
      Effect.gen(function*() {
        const entry = withOverlap(yield* find(name), options.overlap)
        const runId = randomUUID()
        const now = yield* Clock.currentTimeMillis
        if (options.wait === false) {
          const decided = yield* Deferred.make<void>()
          inFlight.start(slot(entry, now, "manual", runId, { decided, answerWhenQueued: true }))
          yield* Deferred.await(decided)
        } else {
          yield* Fiber.await(inFlight.start(slot(entry, now, "manual", runId)))
        }
        return yield* store.get(runId)
      }),
    /**
     * Interrupts the live run `record`, recorded `interrupted` with `error`: at once when it runs here (returns once
     * it is recorded), else by asking the instance that runs it, which sees the request when it next renews the
     * run's lease (a third of a lease at most). `false` when it is not live (it ended meanwhile).
     */
    cancel: (record: RunRecord, error: string) =>
      Effect.gen(function*() {
        const state = entryOf(record.job)?.state
        const live = state === undefined
          ? []
          : [...state.active, ...(state.queued === undefined ? [] : [state.queued.run])]
        const here = live.find((run) => run.runId === record.runId)
        if (here === undefined) return yield* store.cancelRun(record.runId, error)
        inFlight.interruptWith(record.runId, error)
        yield* Fiber.interrupt(here.fiber)
        return true
      }),
    /**
     * Starts a backfill of `name` over `[from, to)` in the background, on this instance (see `Backfill.ts`); its id
     * and its slots, or why the range is refused.
     */
    backfill: (name: string, request: BackfillRequest) =>
      Effect.gen(function*() {
        const entry = withOverlap(yield* find(name), request.overlap)
        const now = yield* Clock.currentTimeMillis
        const slots = yield* Backfill.plan(name, entry.spec, entry.anchor, request.from, request.to, now)
        const id = request.id ?? randomUUID()
        inFlight.start(runBackfill(entry, id, slots))
        return { id, slots: slots.map((t) => new Date(t)) } satisfies BackfillStarted
      })
  }
}
