/**
 * Slots missed while no worker ran: which to run, which to record as missed.
 * Decided from the durable history (the newest slot recorded for the job), so
 * a restart inside a slot never runs it twice, and several instances starting
 * together agree (their claims do the rest).
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberSet, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import type * as CronSpec from "./CronSpec.js"
import type { Deadlines } from "./Deadlines.js"
import type { Entry } from "./Entry.js"
import { Heap, type Timer } from "./Heap.js"
import type { InFlight } from "./InFlight.js"
import type { CatchUp } from "./Job.js"
import type * as JobClock from "./JobClock.js"
import type { MissedReason, RunStoreShape } from "./RunStore.js"
import * as Slot from "./Slot.js"

/** Slots looked at per stretch, at most: beyond, the count is a lower bound. */
export const SCAN_LIMIT = 1_000_000
/** Missed slots recorded one by one, at most; the rest are counted in the log. */
export const RECORD_LIMIT = 1000
/** Slots `all` runs, at most: the newest ones. */
export const RUN_LIMIT = 100

/** A slot less than this old when the scheduler gets to it is late, not missed: it runs as scheduled. */
export const LATE_MILLIS = 1000
/**
 * Slots passed over are recorded as missed only once they are this old: an instance whose clock is behind may
 * still run them (clocks up to 10 s apart, ±5 s each, are tolerated with room to spare).
 */
export const MISSED_RECORD_DELAY = 20_000

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

/** How often the slots the store could not take are tried again. */
const MEND_INTERVAL = Duration.seconds(1)

/** A stretch of consecutive slots of one job, `first` to `last`, that the store could not take. */
export interface Hole {
  readonly entry: Entry
  first: number
  last: number
}

/**
 * Slots the run store could not take (it was unreachable when they fell due), by job, as stretches of consecutive
 * slots: a slot that was recorded between two that were not splits them, so that catching up with a stretch never
 * meets a slot of its own already recorded. Once the store answers again they are recorded, missed with the reason
 * `store_unavailable`, and the job's catch-up policy applies to them, as to slots missed while no worker ran.
 */
export class Holes {
  private readonly byJob = new Map<string, Array<Hole>>()
  /** Notes that the slot `nominal` of `entry` could not be recorded. */
  add(entry: Entry, nominal: number): void {
    const holes = this.byJob.get(entry.name)
    if (holes === undefined) {
      this.byJob.set(entry.name, [{ entry, first: nominal, last: nominal }])
      return
    }
    for (const hole of holes) {
      if (nominal >= hole.first && nominal <= hole.last) return
      if (entry.spec.next(hole.last, entry.anchor) === nominal) {
        hole.last = nominal
        return
      }
      if (entry.spec.next(nominal, entry.anchor) === hole.first) {
        hole.first = nominal
        return
      }
    }
    holes.push({ entry, first: nominal, last: nominal })
  }
  /** One job with holes, to ask the store about. */
  anyJob(): string | undefined {
    for (const job of this.byJob.keys()) return job
    return undefined
  }
  /**
   * The oldest hole of each job but those `busy` (catching up already: their holes wait), forgotten here. A job's
   * holes are caught up with one at a time, so that each gets its policy's runs.
   */
  take(busy: (job: string) => boolean): Array<Hole> {
    const taken: Array<Hole> = []
    for (const [job, holes] of this.byJob) {
      if (busy(job)) continue
      let oldest = 0
      for (let i = 1; i < holes.length; i++) if (holes[i]!.first < holes[oldest]!.first) oldest = i
      taken.push(holes[oldest]!)
      holes.splice(oldest, 1)
      if (holes.length === 0) this.byJob.delete(job)
    }
    return taken
  }
}

/** Missed slots of one job waiting to be recorded, due `at` (see `recordLater`). */
interface Waiting extends Timer {
  readonly entry: Entry
  readonly slots: ReadonlyArray<number>
  readonly reason: MissedReason
}

/** Why slots were missed: no worker ran, the process fell behind, or the store could not take them. */
export type Cause = "downtime" | "behind" | "store_unavailable"

/** What the catch-up runs with: how a slot runs and how a missed one is recorded (see `Slot`). */
export interface Dependencies {
  readonly store: RunStoreShape
  readonly holes: Holes
  readonly inFlight: InFlight
  readonly deadlines: Deadlines
  readonly slot: (
    entry: Entry,
    nominal: number,
    reason: "scheduled" | "catch-up",
    runId: string,
    options?: { readonly decided?: Deferred.Deferred<void> | undefined }
  ) => Effect.Effect<Slot.Claimed>
  readonly recordMissed: (entry: Entry, nominal: number, reason: MissedReason) => Effect.Effect<void>
  readonly newRunId: () => string
}

export interface Runner {
  /**
   * The slots of `entry` in (`after`, `now`] that no run took: the process was down (`downtime`), it woke past
   * more than one slot (`behind`: suspended, overloaded, or the wall clock stepped forward), or the store could not
   * take them (`store_unavailable`). The job's `catchUp` policy decides which run (see `plan`): a slot less than
   * `LATE_MILLIS` old as scheduled, older ones one after another as catch-up runs. The others are recorded as
   * missed, those younger than `MISSED_RECORD_DELAY` once they reach it. At start-up (`downtime`), returns once the
   * first catch-up run has been decided, so that it takes its place before the job's next slot can.
   */
  readonly catchUp: (entry: Entry, after: number, now: number, cause: Cause) => Effect.Effect<void>
  /** Records at once the missed slots still waiting to be recorded (shutdown, while the store is open). */
  readonly flush: Effect.Effect<void>
  /**
   * Records `slots` as skipped for `reason` once they are `MISSED_RECORD_DELAY` old, unless an instance claims them
   * meanwhile: the slots of a schedule whose kind this worker does not have, which another instance may have.
   */
  readonly recordLater: (entry: Entry, slots: ReadonlyArray<number>, reason: MissedReason) => Effect.Effect<void>
  /** Tries, from a moment from now, to record the slots the store could not take (see `Holes`). */
  readonly mendLater: () => void
}

export const makeRunner = ({ deadlines, holes, inFlight, newRunId, recordMissed, slot, store }: Dependencies) =>
  Effect.gen(function*() {
    /** The fiber recording missed slots once they are `MISSED_RECORD_DELAY` old (see `recordLater`). */
    const recorders = yield* FiberSet.make()
    /** Jobs whose catch-up sequence is going: one at a time per job. */
    const chains = new Set<string>()

    /** Records `slots` as missed (those already claimed keep their record). */
    const recordAll = (entry: Entry, slots: ReadonlyArray<number>, reason: MissedReason = "missed") =>
      Effect.forEach(slots, (slot) => recordMissed(entry, slot, reason), { concurrency: "unbounded", discard: true })

    /**
     * Missed slots waiting until they are `MISSED_RECORD_DELAY` old, by when they may be recorded: one fiber records
     * them all (a process far behind passes over slots of thousands of jobs every second; a fiber and a timer each
     * would pile up). Recorded at that time or, when an earlier one joins while the fiber sleeps, a little later.
     */
    const waiting = new Heap<Waiting>()
    let recording = false
    /** Records the waiting slots due by `upTo`. */
    const recordDue = (upTo: number) =>
      Effect.suspend(() => {
        const due: Array<Waiting> = []
        for (let next = waiting.popDue(upTo); next !== undefined; next = waiting.popDue(upTo)) due.push(next)
        return Effect.forEach(due, ({ entry, reason, slots }) => recordAll(entry, slots, reason), { discard: true })
      })
    const recordWaiting: Effect.Effect<void> = Effect.gen(function*() {
      for (let next = waiting.peek(); next !== undefined; next = waiting.peek()) {
        const wait = next.at - (yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.raceFirst(Effect.sleep(wait), Deferred.await(inFlight.closing))
        // Shutdown records them all, old enough or not.
        yield* recordDue(inFlight.closed() ? Infinity : yield* Clock.currentTimeMillis)
      }
    }).pipe(Effect.ensuring(Effect.sync(() => (recording = false))))

    /** Records `slots` as missed once they are `MISSED_RECORD_DELAY` old (or when shutdown begins). */
    const recordLater = (entry: Entry, slots: ReadonlyArray<number>, reason: MissedReason) =>
      Effect.suspend(() => {
        waiting.push({ entry, slots, reason, at: slots[slots.length - 1]! + MISSED_RECORD_DELAY, index: -1 })
        if (recording) return Effect.void
        recording = true
        return Effect.asVoid(FiberSet.run(recorders, recordWaiting))
      })

    /** One missed slot, run now; `taken` when it was not this instance's (taken, or shutdown began). */
    const catchUpRun = (entry: Entry, nominal: number, decided: Deferred.Deferred<void> | undefined) =>
      Effect.suspend(() =>
        inFlight.closed()
          ? Effect.succeed<Slot.Claimed>("taken")
          : slot(entry, nominal, "catch-up", newRunId(), { decided })
      )

    /**
     * Runs `slots` one after another as catch-up runs, on a fiber of its own; with `wait`, returns once the first
     * has been decided (claimed and past the local overlap check). Each slot on a fiber of its own, which its
     * timeout interrupts: after a timeout the sequence goes on. Stopped at a slot another instance has claimed
     * (that instance runs the rest); stopped by shutdown or an interruption (replaced, cancelled), the slots not
     * run are recorded as missed; stopped by a store that failed to take a slot, that slot and the rest are holes,
     * caught up with once the store answers again.
     */
    const runSerially = (entry: Entry, slots: ReadonlyArray<number>, wait: boolean) =>
      Effect.gen(function*() {
        const decided = yield* Deferred.make<void>()
        const runFrom = (i: number): Effect.Effect<void> =>
          i >= slots.length ?
            Effect.void :
            Fiber.await(inFlight.start(catchUpRun(entry, slots[i]!, i === 0 ? decided : undefined))).pipe(
              Effect.flatMap((exit) => {
                if (Exit.isSuccess(exit) ? exit.value === "claimed" : deadlines.isTimeout(exit.cause)) {
                  return runFrom(i + 1)
                }
                if (Exit.isSuccess(exit) && exit.value === "unrecorded") {
                  // The slot is a hole already (`onStoreFailure`); the rest join it.
                  for (let j = i + 1; j < slots.length; j++) holes.add(entry, slots[j]!)
                  return Effect.void
                }
                return Exit.isSuccess(exit) && !inFlight.closed() ? Effect.void : recordAll(entry, slots.slice(i))
              })
            )
        chains.add(entry.name)
        inFlight.start(
          runFrom(0).pipe(
            Effect.ensuring(Effect.sync(() => chains.delete(entry.name))),
            Effect.ensuring(Deferred.succeed(decided, undefined))
          )
        )
        if (wait) yield* Deferred.await(decided)
      })

    const catchUp = (entry: Entry, after: number, now: number, cause: Cause) =>
      Effect.gen(function*() {
        const { catchUp: policy, catchUpWindow: window } = entry
        const unavailable = cause === "store_unavailable"
        // Slots the store missed are all past: none of them is merely late.
        const decision = plan(entry.spec, entry.anchor, after, now, policy, window, unavailable ? 0 : LATE_MILLIS)
        const reason: MissedReason = unavailable ? "store_unavailable" : "missed"
        // One slot to run, and young: a late run of the schedule, neither missed nor a catch-up.
        const late = !unavailable && decision.run.length === 1 && decision.run[0]! > now - LATE_MILLIS
        if (late && !inFlight.closed()) inFlight.start(slot(entry, decision.run[0]!, "scheduled", newRunId()))
        const missed = decision.missed - (late ? 1 : 0)
        if (missed === 0) return
        // A catch-up sequence of this job still going (the process fell behind again) is not joined by another.
        const chained = !late && decision.run.length > 0 && chains.has(entry.name)
        const run = late || chained ? [] : decision.run
        const record = chained ? [...decision.record, ...decision.run].sort((a, b) => a - b) : decision.record
        const fields = { job: entry.name, missed, catch_up: policy, running: run.length }
        yield* (cause === "downtime"
          ? Effect.logWarning("job missed slots while no worker ran").pipe(Effect.annotateLogs(fields))
          : unavailable
          ? Effect.logWarning("job missed slots while the run store was unavailable").pipe(Effect.annotateLogs(fields))
          : Effect.logWarning("job missed slots").pipe(
            Effect.annotateLogs({ ...fields, resumed_at: new Date(now).toISOString() })
          ))
        // The store's own misses are recorded at once: no other instance can still be running them.
        const young = unavailable ? -1 : record.findIndex((slot) => slot > now - MISSED_RECORD_DELAY)
        yield* recordAll(entry, young === -1 ? record : record.slice(0, young), reason)
        if (young !== -1) yield* FiberSet.run(recorders, recordLater(entry, record.slice(young), reason))
        if (run.length > 0) yield* runSerially(entry, run, cause === "downtime")
      })

    /**
     * Once the store answers again, the slots it could not take are caught up with (see `Holes`): tried every
     * `MEND_INTERVAL` while there are holes, on a fiber that ends with them.
     */
    const mend: Effect.Effect<void> = Effect.suspend(() => {
      const probe = holes.anyJob()
      if (probe === undefined || inFlight.closed()) return Effect.sync(() => (mending = false))
      // A question to the store, to learn whether it answers.
      return store.lastSlots([probe]).pipe(
        Effect.zipRight(Effect.suspend(() =>
          Effect.forEach(
            holes.take((job) => chains.has(job)),
            ({ entry, first, last }) => catchUp(entry, first - 1, last, "store_unavailable"),
            { discard: true }
          )
        )),
        // Still unreachable: the holes wait for the next try.
        Effect.catchAllDefect(() => Effect.void),
        Effect.zipRight(Effect.sleep(MEND_INTERVAL)),
        Effect.zipRight(mend)
      )
    })
    let mending = false
    const menders = yield* FiberSet.make()
    const forkMender = yield* FiberSet.runtime(menders)()

    const runner: Runner = {
      catchUp,
      recordLater,
      flush: Effect.zipRight(recordDue(Infinity), FiberSet.awaitEmpty(recorders)),
      mendLater: () => {
        if (mending) return
        mending = true
        forkMender(Effect.zipRight(Effect.sleep(MEND_INTERVAL), mend))
      }
    }
    return runner
  }) satisfies Effect.Effect<Runner, never, Scope.Scope>

/**
 * The scheduler's slots (see `Slot`) and their catch-up: a slot the store could not take is a hole, recorded once
 * the store answers again (`mendLater`); the runner runs or records what was missed.
 */
export const make = (dependencies: Omit<Slot.Dependencies, "onStoreFailure">) =>
  Effect.gen(function*() {
    const { deadlines, inFlight, store } = dependencies
    const holes = new Holes()
    const onStoreFailure = (entry: Entry, nominal: number) => {
      holes.add(entry, nominal)
      runner.mendLater()
    }
    const { recordMissed, slot } = Slot.make({ ...dependencies, onStoreFailure })
    const runner = yield* makeRunner({ store, holes, inFlight, deadlines, slot, recordMissed, newRunId: randomUUID })
    return { slot, runner }
  })

/**
 * Starts jobs: for each, first what its `catchUp` policy does with the slots missed since `lasts` (the newest slot
 * in the history) while no worker ran, then `arm` puts it in the clock, from `now` as it was before the catch-up
 * work (a slot falling due meanwhile is not lost). A job with no history costs no effect of its own.
 */
export const launch = (
  runner: Runner,
  clock: Clock.Clock,
  waitings: Iterable<JobClock.Waiting<Entry>>,
  lasts: ReadonlyMap<string, Date>,
  arm: (waiting: JobClock.Waiting<Entry>, now: number) => void
): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (const waiting of waitings) {
      const last = lasts.get(waiting.entry.name)
      const now = clock.unsafeCurrentTimeMillis()
      if (last !== undefined) yield* runner.catchUp(waiting.entry, last.getTime(), now, "downtime")
      arm(waiting, now)
    }
  })
