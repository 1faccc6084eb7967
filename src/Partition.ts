/**
 * Instances sharing a run store split the jobs between them: each job has an owner among the live instances (those
 * beating, see `InstanceBeat.ts`), chosen by rendezvous hashing of the job's name and the instances' ids, so that
 * an instance joining or leaving moves only its own share. The owner claims the job's slots as they fall due; the
 * others do not claim them, they note them, and `GRACE_MILLIS` after a slot's instant they ask the store, in one
 * statement for all the slots they noted, which no run has claimed: those they claim and run (a dead owner, one
 * that does not have the job, one too far behind). The unique claim keeps each slot once whoever claims it.
 *
 * What this saves: without it every instance claimed every slot, and for each it lost (two of three, with three
 * instances) it spent a fiber, a claim in the batch and its answer: at 3 instances × 3,000 every-second jobs that
 * was most of each process's CPU, and two instances running consecutive slots of one job skipped each other
 * (`overlap`) whenever an outcome was not yet recorded. A noted slot costs an entry in an array.
 *
 * An instance that shuts down leaves the live ones as it closes (`RunStore.leave`), so its share moves at the next
 * read of the live instances, not once it has been silent for `INSTANCE_STALE_SECONDS`.
 *
 * A job one of whose slots had to be taken over is claimed directly by the instance that took it over (as without
 * partition) until the live instances change or `ADOPT_MILLIS` pass: a job the owner does not have costs one grace
 * a minute, not one per slot.
 */
import { type Clock, Deferred, Effect, Exit, type Scope } from "effect"
import type { RunStoreShape } from "./RunStore.js"

/**
 * How long after its instant a slot is left to its owner before the others look whether it was claimed: a second and
 * a half, so that the look falls between seconds, not in the burst of claims and run starts that every instance has
 * at each whole second (most schedules fire on whole seconds). Measured at 3 instances x 3,000 every-second jobs
 * (bench D), against a look at 1 s: fire lag p50 235-249 ms against 271-307 ms, three runs each way, alternated.
 */
export const GRACE_MILLIS = 1500
/** How often the live instances are read. */
export const MEMBERS_MILLIS = 1000
/** How long a job taken over from its owner is claimed directly. */
const ADOPT_MILLIS = 60_000
/** A slot noted this long after the grace is not run by a non-owner: it is left to the catch-up of missed slots. */
const STALE_MILLIS = 1000

/**
 * How long after its instant a slot whose owner is alive but behind is looked at once more: past the time an instance
 * that stopped beating takes to leave the live ones (`INSTANCE_STALE_SECONDS`, 3 s, and a refresh).
 */
const HOLD_MILLIS = 5000

/** How soon the store is asked again about slots it could not answer for. */
const RETRY_MILLIS = 1000

/** A slot of another instance's job, to look at `at`; `held` once its owner was found behind. */
interface Noted<A> {
  readonly job: A
  readonly nominal: number
  readonly at: number
  readonly held: boolean
}

/** What the partition needs of a job. */
export interface Job {
  readonly name: string
}

interface Owned {
  /** The members' version this was computed for. */
  epoch: number
  owner: string
  mine: boolean
  /** Claimed directly until then (taken over from its owner). */
  adoptedUntil: number
}

export interface Partition<A extends Job> {
  /** Whether this instance claims `job`'s slots as they fall due. */
  readonly mine: (job: A) => boolean
  /** Notes a slot of a job owned by another instance: claimed here only if still unclaimed after the grace. */
  readonly defer: (job: A, nominal: number) => void
}

/** FNV-1a of `a`, `b`, then a final mix: the rendezvous score of a job (`a`) on an instance (`b`). */
export const score = (a: string, b: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < a.length; i++) h = Math.imul(h ^ a.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ 0x0a, 0x01000193)
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The owner of `job` among `members` (highest score; ties to the smaller id). */
export const owner = (job: string, members: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestScore = -1
  for (const member of members) {
    const s = score(job, member)
    if (s > bestScore || (s === bestScore && best !== undefined && member < best)) {
      best = member
      bestScore = s
    }
  }
  return best
}

/** Everything is this instance's: a store of one process, or one that cannot tell the live instances. */
export const whole: Partition<Job> = { mine: () => true, defer: () => {} }

/**
 * The partition of `instance`, on a fiber of the current scope. `takeOver(job, nominal)` claims and runs a slot
 * found unclaimed after the grace; `missed(job, nominal)` gets one found unclaimed too late to run it (this
 * instance was behind): it is recorded as missed.
 */
export const make = <A extends Job>(options: {
  readonly store: RunStoreShape
  readonly instance: string
  /** `WORKER_CLAIM_PARTITION`: false, every instance claims every slot. */
  readonly enabled: boolean
  readonly clock: Clock.Clock
  readonly closed: () => boolean
  readonly takeOver: (job: A, nominal: number) => void
  readonly missed: (job: A, nominal: number) => void
}): Effect.Effect<Partition<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { clock, instance, store } = options
    const partition = store.partition
    if (!options.enabled || !store.shared || partition === undefined) return whole as Partition<A>
    let members: ReadonlyArray<string> = [instance]
    let epoch = 0
    const owned = new WeakMap<A, Owned>()
    const refresh = Effect.map(partition.live, (live) => {
      const next = [...new Set([...live, instance])].sort()
      if (next.length === members.length && next.every((member, i) => member === members[i])) return
      members = next
      epoch++
    })
    // Before the first slot: who is alive now (this instance has beaten already).
    yield* Effect.catchAllDefect(refresh, () => Effect.void)
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(
      Effect.sleep(MEMBERS_MILLIS),
      Effect.catchAllDefect(refresh, () => Effect.void)
    )))

    const ownedOf = (job: A): Owned => {
      let o = owned.get(job)
      if (o === undefined) {
        o = { epoch: -1, owner: instance, mine: true, adoptedUntil: 0 }
        owned.set(job, o)
      }
      if (o.epoch !== epoch) {
        o.epoch = epoch
        o.owner = owner(job.name, members) ?? instance
        o.mine = o.owner === instance
        o.adoptedUntil = 0
      }
      return o
    }

    /**
     * Slots of others' jobs, in about the order of their instants, each looked at once its `at` has come: after the
     * grace, and a slot whose owner is alive but behind once more after `HOLD_MILLIS`.
     */
    let noted: Array<Noted<A>> = []
    let wake: Deferred.Deferred<void> | undefined
    let sleeping = false
    const check = Effect.gen(function*() {
      for (;;) {
        if (noted.length === 0) {
          const woken = yield* Deferred.make<void>()
          wake = woken
          sleeping = true
          yield* Deferred.await(woken)
          continue
        }
        let first = Infinity
        for (const { at } of noted) if (at < first) first = at
        const wait = first - clock.unsafeCurrentTimeMillis()
        if (wait > 0) yield* Effect.sleep(wait)
        const now = clock.unsafeCurrentTimeMillis()
        const due: Array<Noted<A>> = []
        const later: Array<Noted<A>> = []
        for (const slot of noted) (slot.at <= now ? due : later).push(slot)
        noted = later
        if (due.length === 0 || options.closed()) continue
        const answer = yield* Effect.exit(
          partition.unclaimed(due.map(({ job }) => job.name), due.map(({ nominal }) => nominal))
        )
        if (Exit.isFailure(answer)) {
          // The store failed. An owner that claims its slots records them once it answers (its claims failed too);
          // the slots of one that left (the job is this instance's now) or that claimed none (held: dead, maybe)
          // are asked about again in a moment, or none would record them. Those by then too old to run are recorded
          // missed (see below). Not every slot again: a store failing under load would get the slots of every owner
          // recorded twice over, by the owner and by the other instances, and fail the more.
          const retry = clock.unsafeCurrentTimeMillis() + RETRY_MILLIS
          for (const slot of due) {
            if (slot.held || ownedOf(slot.job).owner === instance) noted.push({ ...slot, at: retry })
          }
          continue
        }
        const free = answer.value
        // Per owner, the slots looked at and those found unclaimed: an owner that claimed most of its slots but not
        // some does not have those jobs; one that claimed few is behind (or just died).
        const looked = new Map<string, number>()
        const unclaimed = new Map<string, number>()
        for (const { job } of due) looked.set(ownedOf(job).owner, (looked.get(ownedOf(job).owner) ?? 0) + 1)
        for (const i of free) {
          const o = ownedOf(due[i]!.job).owner
          unclaimed.set(o, (unclaimed.get(o) ?? 0) + 1)
        }
        const at = clock.unsafeCurrentTimeMillis()
        for (const i of free) {
          const slot = due[i]!
          const { job, nominal } = slot
          const o = ownedOf(job)
          const alive = members.includes(o.owner)
          if (alive && o.owner !== instance) {
            const behind = 2 * unclaimed.get(o.owner)! > looked.get(o.owner)!
            if (behind && !slot.held) {
              // Its owner is alive and behind, or died a moment ago (it is still among the live instances): looked
              // at once more after the hold.
              noted.push({ job, nominal, at: nominal + HOLD_MILLIS, held: true })
              continue
            }
            // Its owner claims its other slots but not this job's (it does not have the job), or is still behind
            // after the hold: this instance claims the job's slots itself for a while.
            o.adoptedUntil = at + ADOPT_MILLIS
          }
          // Run when found in time: after the grace, or after the hold when its owner died meanwhile.
          if (at - nominal <= (slot.held ? HOLD_MILLIS : GRACE_MILLIS) + STALE_MILLIS) options.takeOver(job, nominal)
          else options.missed(job, nominal)
        }
      }
    })
    yield* Effect.forkScoped(check)

    return {
      mine: (job) => {
        const o = ownedOf(job)
        return o.mine || o.adoptedUntil > clock.unsafeCurrentTimeMillis()
      },
      defer: (job, nominal) => {
        noted.push({ job, nominal, at: nominal + GRACE_MILLIS, held: false })
        if (sleeping && wake !== undefined) {
          sleeping = false
          Deferred.unsafeDone(wake, Effect.void)
        }
      }
    }
  })

/** Slots of another instance's job noted at most when this process woke past several. */
const BEHIND_NOTED = 10

/**
 * Notes the slots of another instance's job that this process woke past, those after `after` up to `now` (`next`
 * gives the job's slot after an instant): the newest few; the owner has the rest.
 */
export const deferBehind = <A extends Job>(
  partition: Partition<A>,
  job: A,
  next: (at: number) => number,
  after: number,
  now: number
): void => {
  const slots: Array<number> = []
  for (let at = next(after); at <= now; at = next(at)) {
    slots.push(at)
    if (slots.length > BEHIND_NOTED) slots.shift()
  }
  for (const at of slots) partition.defer(job, at)
}
