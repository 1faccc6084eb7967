/**
 * The running worker, for the command line: when a worker answers on
 * `HTTP_PORT` of this host, with a token the command line has, and uses the
 * database the command line would open, `history`, `pause`, `resume`, `run`
 * and `jobs` go through its admin API. So they work beside a running worker
 * on the embedded database, which one process at a time may open; without
 * such a worker they work on the database as before.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { AdminApi } from "../AdminApi.js"
import * as Database from "../Database.js"
import type { RunRecord } from "../RunStore.js"
import type { WorkerConfigShape } from "../WorkerConfig.js"
import { CliExit } from "./Common.js"

/** How long the command line waits for a worker to say who it is before it opens the database itself. */
const PROBE_TIMEOUT = Duration.seconds(2)

/** The typed client of the worker's admin API. */
export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

const makeClient = (baseUrl: string, token: string) =>
  HttpApiClient.make(AdminApi, {
    baseUrl,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })

/** The token the command line has: `ADMIN_TOKEN`, else the one the worker made, else `VIEWER_TOKEN`. */
const tokenOf = (config: WorkerConfigShape): string | undefined => {
  if (Option.isSome(config.adminToken)) return Redacted.value(config.adminToken.value)
  if (Option.isNone(config.viewerToken)) {
    try {
      const kept = readFileSync(config.adminTokenFile, "utf8").trim()
      if (kept !== "") return kept
    } catch {
      // No file: no worker made one here.
    }
    return undefined
  }
  return Redacted.value(config.viewerToken.value)
}

/**
 * The admin API of the worker running on this configuration's database, if
 * one answers on `127.0.0.1:HTTP_PORT`; none otherwise (no `HTTP_PORT`, no
 * token, nothing listening, another database, a token it refuses).
 */
export const connect = (config: WorkerConfigShape): Effect.Effect<Option.Option<Client>> =>
  Effect.gen(function*() {
    if (Option.isNone(config.httpPort)) return Option.none()
    const token = tokenOf(config)
    if (token === undefined) return Option.none()
    const client = yield* makeClient(`http://127.0.0.1:${config.httpPort.value}`, token)
    const info = yield* client.worker.info().pipe(Effect.timeout(PROBE_TIMEOUT), Effect.option)
    return Option.isSome(info) && info.value.database === Database.identity(config)
      ? Option.some(client)
      : Option.none()
  }).pipe(Effect.provide(FetchHttpClient.layer))

/**
 * A call to the worker's API, for `command`: its failure ends the command
 * with code 1 and the worker's message (a viewer token on a change: "pausing
 * a job needs the admin token").
 */
export const call = <A, E extends { readonly _tag: string }>(
  command: string,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, CliExit> =>
  effect.pipe(
    Effect.mapError((error) => {
      const message = "message" in error && typeof error.message === "string" ? error.message : error._tag
      return new CliExit({ code: 1, lines: [`${command}: the running worker answered: ${message}`] })
    })
  )

/** A run as the API gives it, as the store would. */
export const toRecord = (run: {
  readonly runId: string
  readonly job: string
  readonly nominalAt: Date
  readonly reason: RunRecord["reason"]
  readonly status: RunRecord["status"]
  readonly skipReason?: string | undefined
  readonly attempt: number
  readonly instance: string
  readonly startedAt: Date
  readonly finishedAt?: Date | undefined
  readonly durationMs?: number | undefined
  readonly error?: string | undefined
  readonly scheduleVersion?: number | undefined
}): RunRecord => ({
  runId: run.runId,
  job: run.job,
  nominalAt: run.nominalAt,
  reason: run.reason,
  status: run.status,
  skipReason: run.skipReason as RunRecord["skipReason"],
  attempt: run.attempt,
  instance: run.instance,
  startedAt: run.startedAt,
  finishedAt: run.finishedAt,
  durationMs: run.durationMs,
  error: run.error,
  scheduleVersion: run.scheduleVersion
})

/** Up to `limit` runs, newest first, a page of at most 500 at a time. */
export const history = (client: Client, job: string | undefined, limit: number) =>
  Effect.gen(function*() {
    const runs: Array<RunRecord> = []
    let cursor: string | undefined
    while (runs.length < limit) {
      const page = yield* client.runs.list({
        urlParams: { job, cursor, limit: Math.min(500, limit - runs.length) }
      })
      runs.push(...page.runs.map(toRecord))
      if (page.next === undefined) break
      cursor = page.next
    }
    return runs
  })
