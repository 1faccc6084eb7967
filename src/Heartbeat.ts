/**
 * A job's heartbeat URL (`heartbeat: { url }`): a dead-man's switch kept by a monitor outside the worker
 * (Healthchecks.io, Cronitor, Uptime Kuma…), which alerts when the pings stop, even when the whole worker is down.
 * Healthchecks.io's URL convention: `<url>/start` when a run starts, `<url>` when it succeeds, `<url>/fail` when it
 * fails or times out (its error as the body); each with `?rid=<run id>`, so that the monitor pairs a start with its
 * end and measures the run. An interrupted run (shutdown, `replace`) sends no end: the monitor's grace time decides.
 *
 * Pings never fail nor delay a run: the run only offers one to a bounded queue, sent by a fiber of the scheduler's
 * scope, several at a time, each within the job's `heartbeat.timeout`; a full queue drops the ping. A ping that fails
 * for want of an answer, a 5xx or a 429 is tried again after 1 s and 2 s; each failed attempt is logged (WARN
 * `heartbeat ping failed`) with the URL's origin only: its path (the check's key) and credentials are never written.
 */
import { Duration, Effect, Queue, Schedule, type Scope } from "effect"
import * as Post from "./Post.js"

/** What a run tells the monitor. */
export type Event = "start" | "success" | "fail"

/** A job's heartbeat, checked (see `Job.HeartbeatOptions`). */
export interface Target {
  readonly url: string
  readonly timeout: Duration.Duration
}

/** One ping to send. */
interface Ping {
  readonly job: string
  readonly target: Target
  readonly event: Event
  readonly runId: string
  readonly body: string | undefined
}

/** Default `heartbeat.timeout`: a monitor that answers slower than this is not waited for. */
export const DEFAULT_TIMEOUT = Duration.seconds(5)
/** Pings waiting at most; beyond, new ones are dropped (a monitor down for long must not grow the heap). */
const CAPACITY = 1_000
/** Pings in flight at once. */
const CONCURRENCY = 8
/** Longest failure body sent (Healthchecks.io keeps 100 KB). */
const BODY_KEPT = 10_000

/** The URL of `event` for `url`, with the run's id: the suffix on the path, the query kept. */
export const urlOf = (url: string, event: Event, runId: string): string => {
  const parsed = new URL(url)
  if (event !== "success") parsed.pathname = `${parsed.pathname.replace(/\/+$/, "")}/${event}`
  parsed.searchParams.set("rid", runId)
  return parsed.toString()
}

/** What a log line may show of `url`: its origin, no credentials, no path (the check's key), no query. */
export const redact = (url: string): string => {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  return parsed === undefined ? "***" : `${parsed.protocol}//${parsed.host}/***`
}

/** Where runs offer their pings: set while a sender runs (the scheduler's), else pings go nowhere. */
let sink: ((ping: Ping) => void) | undefined

/** Offers a ping of `job`'s run; returns at once. Nothing when the job has no heartbeat or no sender runs. */
export const unsafePing = (
  job: string,
  target: Target | undefined,
  event: Event,
  runId: string,
  body?: string | undefined
): void => {
  if (target === undefined || sink === undefined) return
  sink({ job, target, event, runId, body: body?.slice(0, BODY_KEPT) })
}

/** Attempts of a ping in all: a monitor briefly unreachable (a deploy, a blip) must not raise a false alarm. */
const ATTEMPTS = 3
/** The wait before the second attempt, doubled before each next one. */
const RETRY_DELAY = Duration.seconds(1)

/** Whether another attempt may help: no answer, a 5xx or a 429; not another 4xx (a wrong or deleted check). */
const retriable = (error: string): boolean => {
  const status = /^HTTP status (\d{3})$/.exec(error)?.[1]
  return status === undefined || status === "429" || status.startsWith("5")
}

/**
 * Sends one ping, retried up to `ATTEMPTS` in all (after 1 s, then 2 s) while the failure may pass; each failed
 * attempt is logged (with `attempt` and whether it is retried), never raised.
 */
const send = (ping: Ping): Effect.Effect<void> => {
  let attempt = 0
  return Effect.suspend(() => {
    attempt++
    return Post.post(urlOf(ping.target.url, ping.event, ping.runId), ping.body ?? "", {}, ping.target.timeout).pipe(
      Effect.tapError((error) =>
        Effect.logWarning("heartbeat ping failed").pipe(
          Effect.annotateLogs({
            job: ping.job,
            run_id: ping.runId,
            event: ping.event,
            url: redact(ping.target.url),
            error,
            attempt,
            retried: attempt < ATTEMPTS && retriable(error)
          })
        )
      )
    )
  }).pipe(
    Effect.retry({
      schedule: Schedule.exponential(RETRY_DELAY),
      times: ATTEMPTS - 1,
      while: retriable
    }),
    Effect.ignore
  )
}

/**
 * The sender, on fibers of the caller's scope: takes the pings runs offer and sends them, `CONCURRENCY` at a time.
 * On close, it stops taking new pings and waits up to `DEFAULT_TIMEOUT` for those waiting or in flight (the end
 * pings of the last runs), then gives up the rest.
 */
export const start: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function*() {
  const queue = yield* Queue.dropping<Ping>(CAPACITY)
  let sending = 0
  const offer = (ping: Ping) => void Queue.unsafeOffer(queue, ping)
  sink = offer
  const worker = Effect.forever(
    Effect.flatMap(Queue.take(queue), (ping) =>
      Effect.acquireUseRelease(
        Effect.sync(() => sending++),
        () => send(ping),
        () => Effect.sync(() => sending--)
      ))
  )
  yield* Effect.forkScoped(Effect.all(Array.from({ length: CONCURRENCY }, () => worker), { concurrency: "unbounded" }))
  // Added after the fork, so it runs before the workers are interrupted.
  // A negative size counts the workers waiting to take.
  const idle = Effect.flatMap(
    Queue.size(queue),
    (waiting) => waiting <= 0 && sending === 0 ? Effect.void : Effect.fail("busy")
  )
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      if (sink === offer) sink = undefined
      // Finalizers run uninterruptibly: the wait is made interruptible, so that the timeout can end it.
      return Effect.interruptible(idle.pipe(Effect.retry(Schedule.spaced(Duration.millis(10))))).pipe(
        Effect.timeout(DEFAULT_TIMEOUT),
        Effect.ignore
      )
    })
  )
})
