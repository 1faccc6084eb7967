/**
 * One HTTP POST to a URL an operator configured (the alert webhook, a job's heartbeat), within a timeout. Credentials
 * in the URL go as Basic authentication (`fetch` refuses them in the URL; curl sends them so). Its failure is a line
 * of text with no secret: never the URL (its path or query may be a key), the network cause included.
 */
import { Duration, Effect } from "effect"
import * as Redact from "./Redact.js"

/** POSTs `body` to `url`; fails with what went wrong (no answer within `timeout`, or a status other than 2xx). */
export const post = (
  url: string,
  body: string,
  headers: Record<string, string>,
  timeout: Duration.Duration
): Effect.Effect<void, string> =>
  Effect.tryPromise({
    try: async (signal) => {
      const target = new URL(url)
      const all = { ...headers }
      if (target.username !== "" || target.password !== "") {
        const user = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`
        all.authorization = `Basic ${Buffer.from(user).toString("base64")}`
        target.username = ""
        target.password = ""
      }
      const response = await fetch(target, {
        method: "POST",
        headers: all,
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))])
      })
      await response.body?.cancel()
      return response.status
    },
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ""
      return Redact.scrub(`${message}${cause}`.split(url).join("<url>"))
    }
  }).pipe(
    Effect.flatMap((status) => status >= 200 && status < 300 ? Effect.void : Effect.fail(`HTTP status ${status}`))
  )
