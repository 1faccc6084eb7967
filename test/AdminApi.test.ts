/**
 * The admin API's OpenAPI document, as `/api/openapi.json` serves it, is a valid OpenAPI 3.1 document (checked
 * against the specification's JSON Schema), and names every route with its errors.
 */
import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Validator } from "@seriousme/openapi-schema-validator"
import { AdminApi } from "../src/AdminApi.js"

describe("the admin API's OpenAPI document", () => {
  it("is valid OpenAPI 3.1, with every route and its error statuses", async () => {
    const document = OpenApi.fromApi(AdminApi)
    const validator = new Validator()
    const result = await validator.validate(document as unknown as Parameters<Validator["validate"]>[0])
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe("3.1")
    const paths = document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>
    expect(Object.keys(paths).sort()).toEqual([
      "/api/alerts",
      "/api/audit",
      "/api/jobs",
      "/api/jobs/{name}",
      "/api/jobs/{name}/backfill",
      "/api/jobs/{name}/pause",
      "/api/jobs/{name}/resume",
      "/api/jobs/{name}/trigger",
      "/api/kinds",
      "/api/preview",
      "/api/runs",
      "/api/runs/{runId}",
      "/api/runs/{runId}/cancel",
      "/api/schedules",
      "/api/schedules/{id}",
      "/api/worker"
    ])
    expect(Object.keys(paths["/api/schedules"]!.post!.responses).sort()).toEqual(["200", "400", "401", "403", "409"])
    expect(Object.keys(paths["/api/schedules/{id}"]!.put!.responses).sort()).toEqual([
      "200",
      "400",
      "401",
      "403",
      "404",
      "409"
    ])
  })
})
