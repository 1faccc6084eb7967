/**
 * The run store: where every slot is claimed before it runs and where its
 * outcome is recorded; the job history and the pause switches. A port with
 * one adapter per backend: `RunStore/Pg.ts` (durable, shared by every instance
 * on one PostgreSQL; the port does not import it) and `layerMemory` (one process; tests).
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import type { RunReason } from "./Job.js"

/** The state of a slot's run: `queued` or `running` until one of the final states is recorded. */
export type RunStatus =
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "timed_out"
  | "interrupted"
  | "skipped"
  | "abandoned"

/** Why a slot was skipped rather than run. */
export type SkipReason =
  /** The previous run of the same job was still running (overlap `skip`, or `queue` with one already waiting). */
  | "overlap"
  /** `WORKER_MAX_CONCURRENT_JOBS` runs were in flight. */
  | "max_concurrent"
  /** The worker was not running, or was late, at the slot's time, and `catchUp` did not run it. */
  | "missed"
  /** A schedule created at run time names a job kind this worker's code does not have (any more). */
  | "unknown_kind"
  /** A schedule created at run time that its kind's code no longer accepts (its payload does not decode). */
  | "invalid_schedule"
  /** The job is paused. */
  | "paused"
  /** Shutdown began before the slot could start. */
  | "shutdown"
  /** The run store could not be reached when the slot fell due; recorded once it answered again. */
  | "store_unavailable"

/** Why a slot passed unrun. */
export type MissedReason = Extract<SkipReason, "missed" | "store_unavailable" | "unknown_kind" | "invalid_schedule">

/** One slot of one job: its history row. */
export interface RunRecord {
  readonly runId: string
  readonly job: string
  readonly nominalAt: Date
  readonly reason: RunReason
  readonly status: RunStatus
  readonly skipReason: SkipReason | undefined
  readonly attempt: number
  readonly instance: string
  readonly startedAt: Date
  readonly finishedAt: Date | undefined
  readonly durationMs: number | undefined
  readonly error: string | undefined
  /** For a run of a schedule created at run time: the schedule's version it ran under. */
  readonly scheduleVersion?: number | undefined
  /** The failed attempts, oldest first (`get` only: the history leaves them out). */
  readonly attempts?: ReadonlyArray<Attempt> | undefined
  /** The stack of the error that ended the run, secrets masked (`get` only). */
  readonly stack?: string | undefined
  /** The trace id of the run's span (`get` only). */
  readonly traceId?: string | undefined
  /** The backfill that ran the slot (reason `backfill`). */
  readonly backfillId?: string | undefined
}

/** A run in short, as `RunStoreShape.recent` gives it: the admin API's strip of a job's newest runs. */
export type RecentRecord = Pick<RunRecord, "runId" | "job" | "status" | "nominalAt" | "reason">

/** One failed attempt of a run: which, when it ended, its error (secrets masked). */
export interface Attempt {
  readonly attempt: number
  readonly at: Date
  readonly error: string
}

/** A job as the shared history sees it (see `RunStoreShape.stats`). */
export interface JobStats {
  readonly job: string
  readonly lastSuccess: Date | undefined
  readonly lastFailure: Date | undefined
  readonly consecutiveFailures: number
}

/** A job's newest run and its failure streak, as the admin API shows them (see `RunStoreShape.latest`). */
export interface JobLatest {
  readonly job: string
  /** Its newest run (by start, then slot), live or ended; none when it never ran. */
  readonly last: RunRecord | undefined
  readonly consecutiveFailures: number
}

/**
 * A job's consecutive failures from its newest runs (newest first): the failed or timed-out runs before the first
 * ended run that neither failed nor timed out, live runs aside.
 */
export const failureStreak = (recent: ReadonlyArray<RunRecord>): number => {
  const finished = recent.filter((r) => r.status !== "running" && r.status !== "queued")
  const streak = finished.findIndex((r) => !isFailure(r.status))
  return streak === -1 ? finished.length : streak
}

/** How many of a job's newest runs `latest` looks at for its failure streak. */
export const FAILURE_WINDOW = 100

/** Failed or timed out: what counts against a job's streak. */
export const isFailure = (status: RunStatus): boolean => status === "failed" || status === "timed_out"

/** A pause not ended by its `until` at `now`. */
export const inForce = (pause: Pause, now: number): boolean => pause.until === undefined || now < pause.until.getTime()

/** Which runs `history` returns. */
export interface HistoryQuery {
  readonly job?: string | undefined
  readonly status?: RunStatus | undefined
  /** Started at or after this instant. */
  readonly from?: Date | undefined
  /** Started before this instant. */
  readonly to?: Date | undefined
  /** The runs that come after this one in the order (the last of the previous page). */
  readonly after?: Pick<RunRecord, "runId" | "startedAt" | "nominalAt"> | undefined
  /** At most this many. Default 100. */
  readonly limit?: number | undefined
}

/** A slot about to run. */
export interface Claim {
  readonly runId: string
  readonly job: string
  readonly nominalAt: Date
  readonly reason: RunReason
  readonly instance: string
  readonly at: Date
  /**
   * The claim's lease, on the store's clock: other instances treat the run as alive this long, unless it is renewed.
   */
  readonly leaseSeconds: number
  /**
   * A slot that passed unrun: recorded at once as skipped for this reason, never
   * seen running by another instance. A pause still wins: the slot is `Paused`.
   */
  readonly missed?: MissedReason | undefined
  /** For a `rerun`: the abandoned run it runs again. */
  readonly rerunOf?: string | undefined
  /** For a slot of a schedule created at run time: the schedule's version. */
  readonly scheduleVersion?: number | undefined
  /**
   * For a `backfill`: its id. A slot runs once per backfill id (a retried request does not run it again); another
   * backfill may run it again.
   */
  readonly backfillId?: string | undefined
}

/** What a claim found. */
export type ClaimResult =
  /** Claimed and recorded as running. `others`: live runs of the job on other instances. */
  | { readonly _tag: "Claimed"; readonly others: Others }
  /** Someone (this or another instance) has the slot already: do nothing. */
  | { readonly _tag: "Taken" }
  /** The job is paused: the slot was recorded as skipped (`paused`). */
  | { readonly _tag: "Paused"; readonly reason: string | undefined }

/** Live (`running` or `queued`, lease not expired) runs of a job on other instances. */
export interface Others {
  readonly running: number
  readonly queued: number
}

/** The end of a run, or the decision to skip its slot. */
export interface Outcome {
  readonly status: Exclude<RunStatus, "running" | "queued">
  readonly skipReason?: SkipReason | undefined
  readonly attempt: number
  readonly at: Date
  readonly error?: string | undefined
  /** The failed attempts, oldest first; none when the first attempt succeeded. */
  readonly attempts?: ReadonlyArray<Attempt> | undefined
  /** The stack of the error that ended the run (a defect or an `Error`), secrets already masked. */
  readonly stack?: string | undefined
  /** The trace id of the run's span. */
  readonly traceId?: string | undefined
}

/** A job's pause switch. */
export interface Pause {
  readonly job: string
  readonly reason: string | undefined
  readonly at: Date
  /** Who paused it (`user@host` for the command line). */
  readonly by: string | undefined
  /** When the pause ends by itself: slots from this instant on run. None: until resumed. */
  readonly until?: Date | undefined
}

export interface RunStoreShape {
  /** True when other instances may share the store: leases must then be renewed and expired ones reaped. */
  readonly shared: boolean
  /**
   * Claims the slot `(job, nominalAt)`; see {@link ClaimResult}. Manual runs are
   * never `Taken`. Claims made at the same moment may share one statement.
   */
  readonly claim: (claim: Claim) => Effect.Effect<ClaimResult>
  /**
   * Records the outcome of a claimed run. Only the first outcome counts: a run
   * that already ended (or was marked abandoned) keeps it, and `false` says so.
   */
  readonly finish: (runId: string, outcome: Outcome) => Effect.Effect<boolean>
  /**
   * Marks a claimed run `queued` behind a run of another instance. `false` when
   * another run of the job is already queued (a queue holds one).
   */
  readonly enqueue: (runId: string, job: string) => Effect.Effect<boolean>
  /** Marks a queued run `running` again. */
  readonly dequeue: (runId: string) => Effect.Effect<void>
  /** Live runs of `job` on instances other than `instance`. */
  readonly others: (job: string, instance: string) => Effect.Effect<Others>
  /** Asks the instances running `job` (other than `instance`) to interrupt those runs; `error` says why. */
  readonly requestCancel: (job: string, instance: string, error: string) => Effect.Effect<number>
  /**
   * Asks the instance running `runId`, whichever it is, to interrupt it (it sees the request when it renews the
   * run's lease); `error` says why. `false` when the run is not live. A store of one process has no other instance:
   * the scheduler interrupts its own runs itself.
   */
  readonly cancelRun: (runId: string, error: string) => Effect.Effect<boolean>
  /**
   * Extends the leases of this instance's live runs by `leaseSeconds`; returns
   * those to interrupt, with the reason: another instance asked to cancel
   * them, or they are no longer live (another instance marked them abandoned).
   */
  readonly renew: (
    runIds: ReadonlyArray<string>,
    leaseSeconds: number
  ) => Effect.Effect<ReadonlyArray<{ readonly runId: string; readonly error: string }>>
  /** Marks live runs whose lease expired (their worker stopped renewing it) as `abandoned`; returns them. */
  readonly reap: Effect.Effect<ReadonlyArray<RunRecord>>
  /** Marks the live runs of instances that stopped beating (see `beat`) as `abandoned`; returns them. */
  readonly reapDead: Effect.Effect<ReadonlyArray<RunRecord>>
  /**
   * The runs of `jobs` marked abandoned since `since` on an instance other than `instance`, that have not been
   * re-run yet (`onAbandoned: "rerun"`): whoever reaped them, a survivor that runs the job re-runs each once.
   */
  readonly unrerun: (
    jobs: ReadonlyArray<string>,
    instance: string,
    since: Date
  ) => Effect.Effect<ReadonlyArray<RunRecord>>
  /**
   * What the history says of each of `jobs`, the same for every instance: when its last success and its last failure
   * (failed or timed out) ended, and its failures since the last success (among its newest 100 finished runs).
   */
  readonly stats: (jobs: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<JobStats>>
  /** How many instances are beating (alive). */
  readonly instancesAlive: Effect.Effect<number>
  /**
   * For a store shared by instances that split the slots between them (see `Partition.ts`): the instances beating
   * (alive), and which of some slots no run has claimed yet. Absent: every instance claims every slot.
   */
  readonly partition?: {
    /** The ids of the instances beating, in any order. */
    readonly live: Effect.Effect<ReadonlyArray<string>>
    /** The indexes (from 0) of the slots `(jobs[i], nominals[i])` (epoch milliseconds) that no run claims. */
    readonly unclaimed: (
      jobs: ReadonlyArray<string>,
      nominals: ReadonlyArray<number>
    ) => Effect.Effect<ReadonlyArray<number>>
  } | undefined
  /** Says that `instance` is alive (every second): an instance that stops beating for a few seconds is dead. */
  readonly beat: (instance: string) => Effect.Effect<void>
  /**
   * Says that `instance` stops (a worker shutting down, its runs ended): at once not among the live instances, so
   * that the others take its jobs' slots without waiting for it to fall silent.
   */
  readonly leave: (instance: string) => Effect.Effect<void>
  /**
   * The anchor of an `@every` job: the first `proposed` ever stored for it, so
   * that restarts and other instances keep to one grid of slots.
   */
  readonly anchor: (job: string, proposed: Date) => Effect.Effect<Date>
  /**
   * The newest slot recorded for each of `jobs`, manual runs and backfills aside (they are not the schedule's), and
   * leaving out catch-up runs still live (on another instance): a catch-up sequence going elsewhere is not started
   * after its current slot, where the first run would overlap it, but at that slot, which is taken, so the sequence
   * is left to the instance running it.
   */
  readonly lastSlots: (jobs: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Date>>
  /**
   * The newest run of each of `jobs` and its consecutive failures ({@link failureStreak} of its newest
   * {@link FAILURE_WINDOW} runs), in the order of `jobs`: what the admin API's job list shows, in one round trip
   * however many jobs there are.
   */
  readonly latest: (jobs: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<JobLatest>>
  /** One run's record. */
  readonly get: (runId: string) => Effect.Effect<Option.Option<RunRecord>>
  /** History, newest first (by start, then slot), filtered; a page of `limit` (default 100) after `after`. */
  readonly history: (query?: HistoryQuery) => Effect.Effect<ReadonlyArray<RunRecord>>
  /**
   * The newest `limit` runs of each of `jobs`, newest first (by start, then slot), in one read for all of them (the
   * admin API's `recent`), in short ({@link RecentRecord}: a store may read no more); a job without runs has none in
   * the map.
   */
  readonly recent: (
    jobs: ReadonlyArray<string>,
    limit: number
  ) => Effect.Effect<ReadonlyMap<string, ReadonlyArray<RecentRecord>>>
  /**
   * Pauses a job for every instance. A job already paused stays as it was:
   * its pause is returned (none when this call paused it).
   */
  readonly pause: (
    job: string,
    reason: string | undefined,
    at: Date,
    by?: string | undefined,
    until?: Date | undefined
  ) => Effect.Effect<Option.Option<Pause>>
  /** Resumes a paused job; `false` if it was not paused. */
  readonly resume: (job: string) => Effect.Effect<boolean>
  /** The paused jobs. */
  readonly pauses: Effect.Effect<ReadonlyArray<Pause>>
  /** Deletes finished runs that started before `before`, a bounded batch per call; returns how many. */
  readonly prune: (before: Date) => Effect.Effect<number>
  /** Records a change made through the admin API. */
  readonly audit: (change: Change) => Effect.Effect<void>
  /** The changes recorded, newest first, `limit` at most. */
  readonly changes: (limit: number) => Effect.Effect<ReadonlyArray<AuditRecord>>
}

/** A change made through the admin API, for the audit trail. */
export interface Change {
  /** Which token made it: `admin`. */
  readonly token: string
  /** `pause`, `resume`, `trigger`, … */
  readonly action: string
  /** What it acted on: `job:<name>`. */
  readonly target: string
  readonly before?: unknown
  readonly after?: unknown
  readonly at: Date
}

/** A recorded {@link Change}. */
export interface AuditRecord extends Change {
  readonly id: number
}

/** The run store port. */
export class RunStore extends Context.Tag("cron-worker/RunStore")<RunStore, RunStoreShape>() {}

/** Options of {@link makeMemory}. */
export interface MemoryOptions {
  /** Finished records kept, oldest dropped first; live ones are always kept. Default 10,000. */
  readonly capacity?: number | undefined
}

const isLive = (status: RunStatus) => status === "running" || status === "queued"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** A record as it is now, for a reader: the memory store changes its own in place. */
const copy = (record: RunRecord): RunRecord => ({ ...record })

/** A record as the history lists it: without the detail only `get` gives (as on PostgreSQL). */
const summary = ({ attempts: _attempts, stack: _stack, traceId: _traceId, ...record }: RunRecord): RunRecord => record

/**
 * Runs an operator asked for (`manual`, `backfill`): they run even when the job is paused, and are not the
 * schedule's own slots (catch-up after downtime counts from the newest of those).
 */
export const isOperators = (reason: RunReason): boolean => reason === "manual" || reason === "backfill"

/**
 * A store in this process's memory: history is lost at exit, and there are no
 * other instances (nothing runs elsewhere, nothing is abandoned). Bounded by
 * `capacity`.
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<RunStoreShape> =>
  Effect.sync(() => {
    const capacity = options.capacity ?? 10_000
    const byId = new Map<string, Mutable<RunRecord>>()
    const changes: Array<AuditRecord> = []
    let changeCount = 0
    /** Per job, its claimed slots (epoch ms → run id); a re-run of a slot has its own (one re-run per slot). */
    const bySlot = new Map<string, Map<number, string>>()
    const reruns = new Map<string, Map<number, string>>()
    /** Per backfill id and job, the slots it claimed. */
    const backfills = new Map<string, Map<number, string>>()
    const paused = new Map<string, Pause>()
    const anchors = new Map<string, Date>()
    /** Finished runs, oldest first: what is evicted first. Live runs are never evicted. */
    const finished: Array<string> = []
    let evictFrom = 0
    /** Finished records held (pruned ones leave stale ids in `finished`). */
    let held = 0
    /** The claimed slots of `job` (of its re-runs for a `rerun`, of one backfill's), created when `create`. */
    const slotsOf = (job: string, reason: RunReason, backfillId: string | undefined, create: boolean) => {
      const all = reason === "rerun" ? reruns : reason === "backfill" ? backfills : bySlot
      const key = reason === "backfill" ? `${backfillId}\u0000${job}` : job
      let slots = all.get(key)
      if (slots === undefined && create) all.set(key, slots = new Map())
      return slots
    }
    const evict = () => {
      while (held > capacity && evictFrom < finished.length) {
        const runId = finished[evictFrom++]!
        const record = byId.get(runId)
        if (record === undefined || isLive(record.status)) continue
        byId.delete(runId)
        held--
        const slots = slotsOf(record.job, record.reason, record.backfillId, false)
        const at = record.nominalAt.getTime()
        if (slots?.get(at) === runId) slots.delete(at)
      }
      // The queue's head is compacted once it is as long as what is left.
      if (evictFrom > 1024 && evictFrom * 2 > finished.length) {
        finished.splice(0, evictFrom)
        evictFrom = 0
      }
    }
    const ended = (runId: string) => {
      finished.push(runId)
      held++
      evict()
    }
    const none: Others = { running: 0, queued: 0 }
    const setStatus = (runId: string, status: RunStatus) => {
      const record = byId.get(runId)
      if (record !== undefined) record.status = status
    }
    const store: RunStoreShape = RunStore.of({
      shared: false,
      claim: (claim) =>
        Effect.sync((): ClaimResult => {
          if (claim.reason !== "manual") {
            const slots = slotsOf(claim.job, claim.reason, claim.backfillId, true)!
            const at = claim.nominalAt.getTime()
            if (slots.has(at)) return { _tag: "Taken" }
            slots.set(at, claim.runId)
          }
          // A manual run or a backfill is an operator's explicit act: it runs even when the job is paused.
          const found = isOperators(claim.reason) ? undefined : paused.get(claim.job)
          const pause = found?.until !== undefined && claim.nominalAt >= found.until ? undefined : found
          const skipReason = pause !== undefined ? "paused" : claim.missed
          byId.set(claim.runId, {
            runId: claim.runId,
            job: claim.job,
            nominalAt: claim.nominalAt,
            reason: claim.reason,
            status: skipReason === undefined ? "running" : "skipped",
            skipReason,
            attempt: 0,
            instance: claim.instance,
            startedAt: claim.at,
            finishedAt: skipReason === undefined ? undefined : claim.at,
            durationMs: skipReason === undefined ? undefined : 0,
            error: undefined,
            scheduleVersion: claim.scheduleVersion,
            backfillId: claim.backfillId
          })
          if (skipReason !== undefined) ended(claim.runId)
          return pause === undefined ? { _tag: "Claimed", others: none } : { _tag: "Paused", reason: pause.reason }
        }),
      finish: (runId, outcome) =>
        Effect.sync(() => {
          const record = byId.get(runId)
          if (record === undefined || !isLive(record.status)) return false
          // Changed in place: what `get` and `history` return are copies.
          record.status = outcome.status
          record.skipReason = outcome.skipReason
          record.attempt = outcome.attempt
          record.finishedAt = outcome.at
          record.durationMs = outcome.at.getTime() - record.startedAt.getTime()
          record.error = outcome.error
          record.attempts = outcome.attempts
          record.stack = outcome.stack
          record.traceId = outcome.traceId
          ended(runId)
          return true
        }),
      enqueue: (runId) => Effect.sync(() => (setStatus(runId, "queued"), true)),
      dequeue: (runId) => Effect.sync(() => setStatus(runId, "running")),
      others: () => Effect.succeed(none),
      requestCancel: () => Effect.succeed(0),
      cancelRun: (runId) => Effect.sync(() => byId.get(runId) !== undefined && isLive(byId.get(runId)!.status)),
      renew: () => Effect.succeed([]),
      reap: Effect.succeed([]),
      reapDead: Effect.succeed([]),
      unrerun: () => Effect.succeed([]),
      beat: () => Effect.void,
      leave: () => Effect.void,
      instancesAlive: Effect.succeed(1),
      stats: (jobs) =>
        Effect.sync(() => {
          const wanted = new Set(jobs)
          const byJob = new Map<string, Array<RunRecord>>()
          for (const record of byId.values()) {
            if (!wanted.has(record.job) || record.status === "running" || record.status === "queued") continue
            const list = byJob.get(record.job) ?? []
            list.push(record)
            byJob.set(record.job, list)
          }
          return jobs.map((job): JobStats => {
            const newest = (byJob.get(job) ?? []).sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
            const streak = newest.slice(0, 100).findIndex((r) => !isFailure(r.status))
            return {
              job,
              lastSuccess: newest.find((r) => r.status === "succeeded")?.finishedAt,
              lastFailure: newest.find((r) => isFailure(r.status))?.finishedAt,
              consecutiveFailures: streak === -1 ? Math.min(newest.length, 100) : streak
            }
          })
        }),
      anchor: (job, proposed) =>
        Effect.sync(() => {
          if (!anchors.has(job)) anchors.set(job, proposed)
          return anchors.get(job)!
        }),
      lastSlots: (jobs) =>
        Effect.sync(() => {
          const last = new Map<string, Date>()
          const wanted = new Set(jobs)
          for (const record of byId.values()) {
            if (!wanted.has(record.job) || isOperators(record.reason)) continue
            const seen = last.get(record.job)
            if (seen === undefined || seen < record.nominalAt) last.set(record.job, record.nominalAt)
          }
          return last
        }),
      get: (runId) => Effect.sync(() => Option.map(Option.fromNullable(byId.get(runId)), copy)),
      history: (query = {}) =>
        Effect.sync(() => {
          // Newest claimed first; `after` continues past that run.
          const records = [...byId.values()].reverse()
          const start = query.after === undefined ? 0 : records.findIndex((r) => r.runId === query.after!.runId) + 1
          const page: Array<RunRecord> = []
          const limit = query.limit ?? 100
          for (let i = start; i < records.length && page.length < limit; i++) {
            const r = records[i]!
            if (query.job !== undefined && r.job !== query.job) continue
            if (query.status !== undefined && r.status !== query.status) continue
            if (query.from !== undefined && r.startedAt < query.from) continue
            if (query.to !== undefined && r.startedAt >= query.to) continue
            page.push(summary(r))
          }
          return page
        }),
      recent: (jobs, limit) =>
        Effect.sync(() => {
          const wanted = new Set(jobs)
          const byJob = new Map<string, Array<RunRecord>>()
          for (const record of byId.values()) {
            if (!wanted.has(record.job)) continue
            const list = byJob.get(record.job) ?? []
            list.push(summary(record))
            byJob.set(record.job, list)
          }
          for (const [job, list] of byJob) {
            list.sort((a, b) =>
              b.startedAt.getTime() - a.startedAt.getTime() || b.nominalAt.getTime() - a.nominalAt.getTime()
            )
            byJob.set(job, list.slice(0, limit))
          }
          return byJob
        }),
      pause: (job, reason, at, by, until) =>
        Effect.sync(() => {
          const existing = Option.filter(Option.fromNullable(paused.get(job)), (p) => inForce(p, at.getTime()))
          if (Option.isNone(existing)) paused.set(job, { job, reason, at, by, until })
          return existing
        }),
      resume: (job) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const pause = paused.get(job)
          paused.delete(job)
          return pause !== undefined && inForce(pause, now)
        }),
      pauses: Effect.map(Clock.currentTimeMillis, (now) => [...paused.values()].filter((p) => inForce(p, now))),
      prune: (before) =>
        Effect.sync(() => {
          let deleted = 0
          for (const [runId, record] of byId) {
            if (!isLive(record.status) && record.startedAt < before) {
              byId.delete(runId)
              held--
              deleted++
            }
          }
          return deleted
        }),
      audit: (change) =>
        Effect.sync(() => {
          changes.push({ ...change, id: ++changeCount })
          if (changes.length > capacity) changes.shift()
        }),
      changes: (limit) => Effect.sync(() => changes.slice(-limit).reverse()),
      latest: (jobs) =>
        Effect.forEach(jobs, (job) =>
          Effect.map(store.history({ job, limit: FAILURE_WINDOW }), (recent): JobLatest => ({
            job,
            last: recent[0],
            consecutiveFailures: failureStreak(recent)
          })))
    })
    return store
  })

/** {@link makeMemory} as a layer. */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<RunStore> =>
  Layer.effect(RunStore, makeMemory(options))
