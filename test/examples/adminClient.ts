// adminClient.ts
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { AdminApi } from "cron-worker"
import { Effect } from "effect"

export const program = Effect.gen(function*() {
  const api = yield* HttpApiClient.make(AdminApi, {
    baseUrl: "http://localhost:8080",
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(process.env.ADMIN_TOKEN!))
  })
  yield* api.jobs.pause({ path: { name: "report_generator" }, payload: { reason: "bank holiday" } })
  const failed = yield* api.runs.list({ urlParams: { status: "failed", limit: 20 } })
  return failed.runs
}).pipe(Effect.provide(FetchHttpClient.layer))
