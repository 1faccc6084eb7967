/**
 * The alert webhook (`ALERT_WEBHOOK_URL`): each firing and resolution is queued as a JSON body in
 * `cron_worker.webhooks`, in the transaction that records the transition, and POSTed by the evaluator, oldest
 * first, with `X-Cron-Worker-Signature: sha256=<hex HMAC-SHA256 of the body>` when `ALERT_WEBHOOK_SECRET` is set.
 * A delivery that fails (no answer within `TIMEOUT`, or a status other than 2xx) is retried with exponential
 * backoff, with no end: a receiver's outage delays the alerts, it loses none. Delivery is at least once (an
 * evaluator that dies between the receiver's answer and the row's update sends it again from its successor).
 */
import { Duration, Effect, Option, Redacted } from "effect"
import { createHmac } from "node:crypto"
import type * as Alerts from "../Alerts.js"
import * as Post from "../Post.js"

/** The signature's header. */
export const HEADER = "X-Cron-Worker-Signature"

/** How long the receiver has to answer one delivery. */
export const TIMEOUT = Duration.seconds(10)

/** Deliveries tried per evaluation, at most. */
export const BATCH = 20

/** The JSON body of one transition. */
export interface Payload {
  readonly rule: Alerts.Rule
  readonly job: string
  readonly state: "firing" | "resolved"
  /** When the alert began to fire, ISO 8601. */
  readonly since: string
  /** When it resolved (`resolved` only), ISO 8601. */
  readonly resolvedAt?: string | undefined
  readonly detail: string
  /** The worker's `service` (`SERVICE_NAME_WORKER`). */
  readonly service: string
}

/** A queued delivery. */
export interface Pending {
  readonly id: string
  readonly body: string
  readonly attempts: number
}

/** The value of {@link HEADER} for `body`. */
export const signature = (body: string, secret: string): string =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

/** Delay before the next attempt after `attempts` failed ones: 5 s, doubled each time, at most 1 hour. */
export const backoff = (attempts: number): Duration.Duration =>
  Duration.millis(Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 3_600_000))

/** POSTs `body` once; fails with what went wrong. */
export const send = (
  url: Redacted.Redacted<string>,
  secret: Option.Option<Redacted.Redacted<string>>,
  body: string
): Effect.Effect<void, string> => {
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (Option.isSome(secret)) headers[HEADER] = signature(body, Redacted.value(secret.value))
  return Post.post(Redacted.value(url), body, headers, TIMEOUT)
}
