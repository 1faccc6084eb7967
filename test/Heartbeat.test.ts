/**
 * Heartbeat URLs against a receiver the test owns: a run pings `/start` then its end (`<url>` on success, `/fail`
 * with the error on failure), with `rid` its run id; a slow or down receiver neither delays nor fails the run, and
 * no log line shows the URL's path or credentials. Real time: the pings are real HTTP.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option } from "effect"
import { createServer, type IncomingMessage, type Server } from "node:http"
import * as Heartbeat from "../src/Heartbeat.js"
import * as Job from "../src/Job.js"
import { Scheduler } from "../src/Scheduler.js"
import { captureLogs, schedulerLayer, waitUntil } from "./utils.js"

interface Received {
  readonly path: string
  readonly rid: string | null
  readonly body: string
  readonly authorization: string | undefined
}

/**
 * A receiver on a free port: records each request, answers after `delay` ms (never, for `Infinity`), with the
 * statuses of `statuses` in turn, then 200.
 */
const receiver = (delay = 0, statuses: ReadonlyArray<number> = []) =>
  Effect.acquireRelease(
    Effect.async<{ server: Server; port: number; received: Array<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = createServer((request: IncomingMessage, response) => {
        let body = ""
        request.on("data", (chunk) => (body += chunk))
        request.on("end", () => {
          const url = new URL(request.url ?? "/", "http://localhost")
          received.push({
            path: url.pathname,
            rid: url.searchParams.get("rid"),
            body,
            authorization: request.headers.authorization
          })
          const status = statuses[received.length - 1] ?? 200
          if (Number.isFinite(delay)) setTimeout(() => response.writeHead(status).end("OK"), delay)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, port: typeof address === "object" && address ? address.port : 0, received }))
      })
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((done) => {
          server.closeAllConnections()
          server.close(() => done())
        })
      )
  )

/** Runs `jobs` by hand on a scheduler of their own, then shuts it down; returns the records. */
const trigger = (jobs: ReadonlyArray<Job.Any>) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    // Their requirements are none: the checker has lost that in the list's type.
    yield* scheduler.registerAll(jobs as ReadonlyArray<Job.Job<unknown, never>>)
    const records = []
    for (const job of jobs) records.push(Option.getOrThrow(yield* scheduler.trigger(job.name)))
    return records
  }).pipe(Effect.provide(schedulerLayer({ shutdownTimeout: Duration.zero })))

describe("heartbeat URL", () => {
  it("urlOf follows Healthchecks.io: /start, the URL itself, /fail; rid in the query; the query kept", () => {
    expect(Heartbeat.urlOf("https://hc-ping.com/abc", "start", "r1")).toBe("https://hc-ping.com/abc/start?rid=r1")
    expect(Heartbeat.urlOf("https://hc-ping.com/abc/", "success", "r1")).toBe("https://hc-ping.com/abc/?rid=r1")
    expect(Heartbeat.urlOf("https://hc-ping.com/abc?create=1", "fail", "r1")).toBe(
      "https://hc-ping.com/abc/fail?create=1&rid=r1"
    )
    expect(Heartbeat.redact("https://user:pw@hc-ping.com/abc?k=1")).toBe("https://hc-ping.com/***")
  })

  it.live("start and success, start and fail with the error, each with the run's id", () =>
    Effect.gen(function*() {
      const { port, received } = yield* receiver()
      const url = `http://hb-user:hb%20pass@127.0.0.1:${port}/ping/key-123`
      const [ok, failed] = yield* trigger([
        Job.make({ name: "ok", schedule: "@yearly", run: Effect.void, heartbeat: { url } }),
        Job.make({
          name: "broken",
          schedule: "@yearly",
          run: Effect.fail("disk full"),
          heartbeat: { url: `http://127.0.0.1:${port}/ping/key-456` }
        })
      ])
      yield* waitUntil("the four pings are received", () => received.length === 4)
      const of = (rid: string) => received.filter((r) => r.rid === rid).map((r) => [r.path, r.body])
      expect(of(ok!.runId)).toEqual([["/ping/key-123/start", ""], ["/ping/key-123", ""]])
      expect(of(failed!.runId)).toEqual([["/ping/key-456/start", ""], ["/ping/key-456/fail", "disk full"]])
      expect(failed!.status).toBe("failed")
      // Credentials in the URL go as Basic authentication.
      expect(received.filter((r) => r.path.includes("key-123")).map((r) => r.authorization)).toEqual([
        `Basic ${Buffer.from("hb-user:hb pass").toString("base64")}`,
        `Basic ${Buffer.from("hb-user:hb pass").toString("base64")}`
      ])
      expect(received.filter((r) => r.path.includes("key-456")).map((r) => r.authorization)).toEqual([
        undefined,
        undefined
      ])
    }).pipe(Effect.scoped))

  it.live("a receiver that never answers neither delays nor fails the run; the ping gives up, logged redacted", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { port } = yield* receiver(Infinity)
      const url = `http://hb-user:hb-pass@127.0.0.1:${port}/ping/secret-key`
      const started = Date.now()
      const [record] = yield* trigger([
        Job.make({ name: "slow", schedule: "@yearly", run: Effect.void, heartbeat: { url, timeout: "300 millis" } })
      ])
      expect(record!.status).toBe("succeeded")
      expect(record!.durationMs).toBeLessThan(200)
      // The scheduler's shutdown gave the pings still waiting or retried their last chance (5 s at most); the run was
      // long over.
      expect(Date.now() - started).toBeLessThan(Duration.toMillis(Heartbeat.DEFAULT_TIMEOUT) + 2000)
      yield* waitUntil("a failed ping is logged", () => logs.withMessage("heartbeat ping failed").length > 0)
      const [failed] = logs.withMessage("heartbeat ping failed")
      expect(failed!.fields).toMatchObject({ job: "slow", event: "start", url: `http://127.0.0.1:${port}/***` })
      expect(failed!.fields.error).toMatch(/timeout/i)
      const written = JSON.stringify(logs.entries)
      expect(written).not.toContain("secret-key")
      expect(written).not.toContain("hb-pass")
    }).pipe(Effect.scoped, Effect.provide(logs.layer))
  })

  it.live("a receiver that is down: the run succeeds, the failure is logged", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { port, server } = yield* receiver()
      yield* Effect.promise(() => new Promise<void>((done) => server.close(() => done())))
      const [record] = yield* trigger([
        Job.make({
          name: "down",
          schedule: "@yearly",
          run: Effect.void,
          heartbeat: { url: `http://127.0.0.1:${port}/ping/k` }
        })
      ])
      expect(record!.status).toBe("succeeded")
      yield* waitUntil("a failed ping is logged", () => logs.withMessage("heartbeat ping failed").length >= 1)
      expect(logs.withMessage("heartbeat ping failed")[0]!.fields.error).toMatch(/fetch failed/)
    }).pipe(Effect.scoped, Effect.provide(logs.layer))
  })

  it.live("a 503 or no answer is tried again (after 1 s, 2 s; 3 attempts in all), another 4xx is not", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      // The start ping gets 503 then 200; the success ping 200.
      const flaky = yield* receiver(0, [503])
      const gone = yield* receiver(0, [404, 404])
      const [record] = yield* trigger([
        Job.make({
          name: "flaky",
          schedule: "@yearly",
          run: Effect.void,
          heartbeat: { url: `http://127.0.0.1:${flaky.port}/ping/k1` }
        })
      ])
      yield* waitUntil("three attempts are received", () => flaky.received.length === 3)
      expect(flaky.received.map((r) => [r.path, r.rid])).toEqual(
        expect.arrayContaining([["/ping/k1/start", record!.runId], ["/ping/k1", record!.runId]])
      )
      expect(flaky.received.filter((r) => r.path === "/ping/k1/start")).toHaveLength(2)
      const failed = logs.withMessage("heartbeat ping failed")
      expect(failed.map((l) => l.fields)).toEqual([
        expect.objectContaining({ job: "flaky", event: "start", attempt: 1, retried: true, error: "HTTP status 503" })
      ])
      yield* trigger([
        Job.make({
          name: "gone",
          schedule: "@yearly",
          run: Effect.void,
          heartbeat: { url: `http://127.0.0.1:${gone.port}/ping/k2` }
        })
      ])
      yield* waitUntil("two pings are received", () => gone.received.length === 2)
      yield* Effect.sleep("1200 millis")
      // Each 404 tried once: the start's and the success's.
      expect(gone.received.map((r) => r.path).sort()).toEqual(["/ping/k2", "/ping/k2/start"])
      expect(logs.withMessage("heartbeat ping failed").filter((l) => l.fields.job === "gone").map((l) => l.fields))
        .toEqual([
          expect.objectContaining({ attempt: 1, retried: false, error: "HTTP status 404" }),
          expect.objectContaining({ attempt: 1, retried: false, error: "HTTP status 404" })
        ])
    }).pipe(Effect.scoped, Effect.provide(logs.layer))
  })

  it("invalid heartbeat options are named, the URL not shown", () => {
    const invalid = (heartbeat: Job.HeartbeatOptions) => {
      const result = Job.validate(Job.make({ name: "j", schedule: "@daily", run: Effect.void, heartbeat }), "UTC")
      return Either.isLeft(result) ? result.left.message : "valid"
    }
    expect(invalid({ url: "ftp://user:pw@host/key" })).toBe(
      "job \"j\": invalid option heartbeat.url: must be an http or https URL such as https://hc-ping.com/<uuid>"
    )
    expect(invalid({ url: "https://hc-ping.com/k", timeout: "2 minutes" })).toContain(
      "invalid option heartbeat.timeout: must be at most 1 minute"
    )
    expect(invalid({ url: "https://hc-ping.com/k", timeout: 0 })).toContain("invalid option heartbeat.timeout")
    expect(invalid(null as unknown as Job.HeartbeatOptions)).toContain("invalid option heartbeat: must be an object")
    expect(invalid({ url: "https://hc-ping.com/k" })).toBe("valid")
  })
})
