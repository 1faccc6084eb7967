/**
 * Spans leave the worker over OTLP/HTTP and are flushed when it exits: a
 * collector of the test's own receives `run report_generator`'s spans, the
 * run's span with the SQL and publish work as its children.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import { join } from "node:path"
import { createDatabase, servicesAvailable, type TestDatabase } from "./services.js"

const available = await servicesAvailable(["postgres"])

interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

describe.skipIf(!available)("telemetry", () => {
  let database: TestDatabase
  let collector: Server
  let port = 0
  const spans: Array<OtlpSpan> = []

  beforeAll(async () => {
    database = await createDatabase()
    collector = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        if (request.url === "/v1/traces") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }>
          }
          for (const resource of body.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans)
        }
        response.writeHead(200, { "content-type": "application/json" })
        response.end("{}")
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
    const address = collector.address()
    port = typeof address === "object" && address !== null ? address.port : 0
  })

  afterAll(async () => {
    await new Promise((resolve) => collector.close(resolve))
    await database.drop()
  })

  it("exports the run's span, with its SQL and publish as children, before the process exits", async () => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      let output = ""
      const child = spawn(process.execPath, [join(import.meta.dirname, "../dist/main.js"), "run", "report_generator"], {
        env: {
          PATH: process.env.PATH ?? "",
          DATABASE_URL: database.url,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          SERVICE_NAME_WORKER: "telemetry-test"
        }
      })
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
      // "close", not "exit": at exit the last of its output may still be in the pipes.
      child.on("close", (code) => resolve({ code, output }))
    })
    expect(code, output).toBe(0)
    const run = spans.find((span) => span.name === "job report_generator")
    expect(run, `spans: ${spans.map((s) => s.name).join(", ")}`).toBeDefined()
    expect(run!.parentSpanId ?? "").toBe("")
    const attribute = (key: string) => run!.attributes.find((a) => a.key === key)?.value
    expect(attribute("run.reason")).toEqual({ stringValue: "manual" })
    expect(attribute("run.outcome")).toEqual({ stringValue: "succeeded" })
    const children = spans.filter((span) => span.traceId === run!.traceId && span.spanId !== run!.spanId)
    expect(children.some((span) => span.name === "Publisher.publish")).toBe(true)
    expect(children.some((span) => span.name.startsWith("sql.") || span.name.includes("sql"))).toBe(true)
    // The run's log lines carry the same trace.
    const started = output.split("\n").find((line) => line.includes(`"msg":"job started"`))
    expect(started).toContain(`"trace_id":"${run!.traceId}"`)
  }, 60_000)
})
