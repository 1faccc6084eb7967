/**
 * The built-in alerts on a memory store, driven by the TestClock: each rule fires once when its condition starts
 * (however many evaluations see it) and resolves once when it ends; a job's overrides and `false` win over the
 * worker's defaults; the gauge renders what was recorded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Option, Redacted, Scope, TestClock } from "effect"
import { createHmac } from "node:crypto"
import { createServer, type Server } from "node:http"
import * as Alerts from "../src/Alerts.js"
import * as Evaluator from "../src/Alerts/Evaluator.js"
import * as Webhook from "../src/Alerts/Webhook.js"
import * as Job from "../src/Job.js"
import * as Metrics from "../src/Metrics.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { at, captureLogs, T0, waitUntil } from "./utils.js"

const config = WorkerConfig.defaults
const MINUTE = 60_000

const plan = (alerts: Job.AlertOptions) => {
  const validated = Job.validate(Job.make({ name: "j", schedule: "* * * * *", run: Effect.void, alerts }), "UTC")
  if (Either.isLeft(validated)) throw new Error(validated.left.message)
  return validated.right.alerts
}

const job = (overrides: Partial<Alerts.JobInput> = {}): Alerts.JobInput => ({
  name: "report",
  interval: MINUTE,
  alerts: undefined,
  lastSuccess: new Date(T0),
  consecutiveFailures: 0,
  missed: 0,
  longestRun: undefined,
  ...overrides
})

const input = (overrides: Partial<Alerts.Input> = {}): Alerts.Input => ({
  now: T0,
  startedAt: T0,
  jobs: [job()],
  outboxOldestPendingAgeSeconds: 0,
  instancesAlive: 1,
  instancesBefore: 1,
  ...overrides
})

const rules = (alerts: ReadonlyArray<Alerts.Alert>) => alerts.map((a) => `${a.rule}:${a.job}`)

describe("Alerts.conditions", () => {
  it("nothing holds for a healthy worker", () => {
    expect(Alerts.conditions(config, input())).toEqual([])
  })

  it("each rule by the worker's defaults", () => {
    const now = T0 + 11 * MINUTE
    const held = Alerts.conditions({ ...config, alertRunMax: Option.some(Duration.minutes(5)) }, {
      ...input({ now, outboxOldestPendingAgeSeconds: 601, instancesAlive: 1, instancesBefore: 2 }),
      jobs: [job({ consecutiveFailures: 3, missed: 1, longestRun: 5 * MINUTE + 1 })]
    })
    expect(rules(held)).toEqual([
      "consecutive_failures:report",
      // 2 × 1 minute, raised to the 10-minute floor: 11 minutes without a success.
      "overdue:report",
      "missed_slots:report",
      "run_too_long:report",
      "outbox_stale:",
      "instance_lost:"
    ])
    expect(held[0]!.detail).toBe("3 failed runs in a row (limit 3)")
  })

  it("below each limit nothing holds", () => {
    const held = Alerts.conditions({ ...config, alertRunMax: Option.some(Duration.minutes(5)) }, {
      ...input({ now: T0 + 10 * MINUTE, outboxOldestPendingAgeSeconds: 600 }),
      jobs: [job({ consecutiveFailures: 2, longestRun: 5 * MINUTE })]
    })
    expect(held).toEqual([])
  })

  it("a job's overrides win over the defaults, and false turns a rule off", () => {
    const now = T0 + 11 * MINUTE
    const lenient = plan({ consecutiveFailures: 5, overdue: { factor: 20 }, maxRunDuration: "1 hour" })
    const strict = plan({ consecutiveFailures: 1, overdue: "2 minutes", maxRunDuration: "1 minute" })
    const off = plan({ consecutiveFailures: false, overdue: false, maxRunDuration: false, missedSlots: false })
    const state = { consecutiveFailures: 3, missed: 2, longestRun: 2 * MINUTE }
    const held = Alerts.conditions({ ...config, alertRunMax: Option.some(Duration.seconds(30)) }, {
      ...input({ now }),
      jobs: [
        job({ name: "lenient", alerts: lenient, ...state }),
        job({ name: "strict", alerts: strict, ...state, consecutiveFailures: 1 }),
        job({ name: "off", alerts: off, ...state })
      ]
    })
    expect(rules(held)).toEqual([
      "missed_slots:lenient",
      "consecutive_failures:strict",
      "overdue:strict",
      "missed_slots:strict",
      "run_too_long:strict"
    ])
  })

  it("worker-wide rules off by config: ALERT_CONSECUTIVE_FAILURES=0, ALERT_OVERDUE_FACTOR=0, no outbox limit", () => {
    const held = Alerts.conditions(
      { ...config, alertConsecutiveFailures: 0, alertOverdueFactor: 0, alertOutboxMaxAge: Option.none() },
      {
        ...input({ now: T0 + 60 * MINUTE, outboxOldestPendingAgeSeconds: 10_000 }),
        jobs: [job({ consecutiveFailures: 9 })]
      }
    )
    expect(held).toEqual([])
  })

  it("overdue for a job that never succeeded counts from the evaluator's start", () => {
    const never = job({ lastSuccess: undefined })
    expect(Alerts.conditions(config, { ...input({ now: T0 + 10 * MINUTE }), jobs: [never] })).toEqual([])
    expect(rules(Alerts.conditions(config, { ...input({ now: T0 + 11 * MINUTE }), jobs: [never] }))).toEqual([
      "overdue:report"
    ])
  })
})

describe("Job.validate alerts", () => {
  const invalid = (alerts: unknown) => {
    const result = Job.validate(
      Job.make({ name: "j", schedule: "* * * * *", run: Effect.void, alerts: alerts as Job.AlertOptions }),
      "UTC"
    )
    return Either.isLeft(result) ? result.left.message : "valid"
  }
  it.each([
    [{ consecutiveFailures: 0 }, "alerts.consecutiveFailures"],
    [{ consecutiveFailures: 1.5 }, "alerts.consecutiveFailures"],
    [{ overdue: { factor: 0.5 } }, "alerts.overdue.factor"],
    [{ overdue: "soon" }, "alerts.overdue"],
    [{ overdue: 0 }, "alerts.overdue"],
    [{ maxRunDuration: -1 }, "alerts.maxRunDuration"],
    [{ missedSlots: "yes" }, "alerts.missedSlots"],
    [null, "alerts"]
  ])("%j is rejected naming %s", (alerts, option) => {
    expect(invalid(alerts)).toContain(`invalid option ${option}:`)
  })

  it("valid options decode", () => {
    expect(plan({ overdue: "2 hours", maxRunDuration: 90_000 })).toEqual({
      consecutiveFailures: undefined,
      overdue: Duration.hours(2),
      maxRunDuration: Duration.seconds(90),
      missedSlots: true
    })
  })
})

describe("Alerts evaluator", () => {
  it.effect("each alert fires once while it holds and resolves once when it ends, with one log line each", () => {
    const logs = captureLogs()
    const store = Evaluator.makeMemory()
    let reading: Evaluator.Reading = {
      jobs: [job({ lastSuccess: new Date(T0) })],
      outboxOldestPendingAgeSeconds: 0,
      instancesAlive: 2
    }
    return Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const scope = yield* Scope.make()
      yield* Evaluator.run({
        store,
        config,
        instance: "a",
        read: Effect.sync(() => reading),
        interval: Duration.seconds(15)
      }).pipe(Scope.extend(scope))
      yield* TestClock.adjust("15 seconds")
      expect(store.rows).toEqual([])

      reading = {
        jobs: [job({ lastSuccess: new Date(T0), consecutiveFailures: 3, missed: 1 })],
        outboxOldestPendingAgeSeconds: 700,
        instancesAlive: 1
      }
      // Four evaluations see the same conditions: each alert fires once.
      yield* TestClock.adjust("60 seconds")
      const fired = logs.withMessage("alert firing")
      expect(fired.map((e) => `${e.fields.rule}:${e.fields.job}`).sort()).toEqual([
        "consecutive_failures:report",
        "instance_lost:",
        "missed_slots:report",
        "outbox_stale:"
      ].sort())
      expect(fired.every((e) => e.level === "ERROR")).toBe(true)
      expect(fired.find((e) => e.fields.rule === "outbox_stale")?.fields.detail).toBe(
        "oldest pending message is 700 s old (limit 600 s)"
      )
      expect(store.rows.filter((r) => r.resolvedAt === undefined)).toHaveLength(4)

      reading = {
        jobs: [job({ lastSuccess: new Date(T0 + 75_000) })],
        outboxOldestPendingAgeSeconds: 0,
        instancesAlive: 2
      }
      yield* TestClock.adjust("45 seconds")
      const resolved = logs.withMessage("alert resolved")
      expect(resolved.map((e) => `${e.fields.rule}:${e.fields.job}`).sort()).toEqual(
        ["consecutive_failures:report", "instance_lost:", "missed_slots:report", "outbox_stale:"].sort()
      )
      expect(resolved.every((e) => e.level === "INFO")).toBe(true)
      expect(logs.withMessage("alert firing")).toHaveLength(4)
      expect(store.rows.every((r) => r.resolvedAt !== undefined)).toBe(true)

      // Fires again on a new occurrence: a second row, a second log line.
      reading = { ...reading, outboxOldestPendingAgeSeconds: 900 }
      yield* TestClock.adjust("15 seconds")
      expect(logs.withMessage("alert firing").filter((e) => e.fields.rule === "outbox_stale")).toHaveLength(2)
      expect(store.rows.filter((r) => r.rule === "outbox_stale")).toHaveLength(2)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("instance_lost resolves by itself once the lost instance is out of the 15-minute window", () => {
    const logs = captureLogs()
    const store = Evaluator.makeMemory()
    let alive = 3
    return Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const scope = yield* Scope.make()
      const read = Effect.sync((): Evaluator.Reading => ({
        jobs: [],
        outboxOldestPendingAgeSeconds: 0,
        instancesAlive: alive
      }))
      yield* Evaluator.run({ store, config, instance: "a", read }).pipe(Scope.extend(scope))
      // The first evaluation (at once) sees 3 alive.
      yield* TestClock.adjust(0)
      alive = 2
      yield* TestClock.adjust("15 seconds")
      expect(logs.withMessage("alert firing").map((e) => e.fields.detail)).toEqual([
        "2 instances alive, 3 in the last 15m"
      ])
      yield* TestClock.adjust("14 minutes")
      expect(logs.withMessage("alert resolved")).toHaveLength(0)
      yield* TestClock.adjust("1 minute")
      expect(logs.withMessage("alert resolved").map((e) => e.fields.rule)).toEqual(["instance_lost"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("cron_worker_alert_active", () => {
  it("renders each recorded alert as 1 (firing) or 0 (resolved)", () => {
    const text = Metrics.render([], [
      { rule: "consecutive_failures", job: "report", active: true },
      { rule: "outbox_stale", job: "", active: false }
    ])
    expect(text).toContain("cron_worker_alert_active{rule=\"consecutive_failures\",job=\"report\"} 1")
    expect(text).toContain("cron_worker_alert_active{rule=\"outbox_stale\",job=\"\"} 0")
  })
})

describe("alert webhook", () => {
  const SECRET = "s3cret-webhook-key-0123"

  /** A receiver the test owns: answers 500 to the first `failures` requests, then 204. */
  const receiver = (failures: number) =>
    Effect.acquireRelease(
      Effect.async<{ port: number; requests: Array<{ body: string; signature: string | undefined; status: number }> }>(
        (resume) => {
          const requests: Array<{ body: string; signature: string | undefined; status: number }> = []
          const server = createServer((request, response) => {
            let body = ""
            request.on("data", (chunk) => (body += chunk))
            request.on("end", () => {
              const status = requests.length < failures ? 500 : 204
              const header = request.headers["x-cron-worker-signature"]
              requests.push({ body, signature: typeof header === "string" ? header : undefined, status })
              response.writeHead(status).end()
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            resume(Effect.succeed({ port: typeof address === "object" && address ? address.port : 0, requests }))
          })
          servers.push(server)
        }
      ),
      () => Effect.promise(() => new Promise<void>((done) => servers.pop()?.close(() => done())))
    )
  const servers: Array<Server> = []

  it.scoped("signed, retried with backoff while the receiver fails, each transition delivered once, in order", () => {
    const logs = captureLogs()
    const store = Evaluator.makeMemory()
    let stale = 700
    return Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const { port, requests } = yield* receiver(2)
      const withHook: WorkerConfig.WorkerConfigShape = {
        ...config,
        serviceName: "billing-worker",
        alertWebhookUrl: Option.some(Redacted.make(`http://127.0.0.1:${port}/hook`)),
        alertWebhookSecret: Option.some(Redacted.make(SECRET))
      }
      const read = Effect.sync((): Evaluator.Reading => ({
        jobs: [],
        outboxOldestPendingAgeSeconds: stale,
        instancesAlive: 1
      }))
      yield* Evaluator.run({ store, config: withHook, instance: "a", read })
      // Fires at once; the receiver fails: retried 5 s later, at the next evaluation (15 s), then 10 s after that.
      yield* waitUntil("the first delivery is tried once", () => store.webhooks[0]?.attempts === 1, 10_000)
      yield* TestClock.adjust("15 seconds")
      yield* waitUntil("the first delivery is tried twice", () => store.webhooks[0]?.attempts === 2, 10_000)
      expect(store.webhooks[0]?.next.getTime()).toBe(T0 + 15_000 + 10_000)
      yield* TestClock.adjust("15 seconds")
      yield* waitUntil("the first delivery is delivered", () => store.webhooks[0]?.delivered !== undefined, 10_000)
      stale = 0
      yield* TestClock.adjust("15 seconds")
      yield* waitUntil("the second delivery is delivered", () => store.webhooks[1]?.delivered !== undefined, 10_000)
      yield* TestClock.adjust("60 seconds")

      expect(requests.map((r) => r.status)).toEqual([500, 500, 204, 204])
      for (const request of requests) {
        expect(request.signature).toBe(`sha256=${createHmac("sha256", SECRET).update(request.body).digest("hex")}`)
      }
      const accepted = requests.filter((r) => r.status === 204).map((r) => JSON.parse(r.body))
      expect(accepted).toEqual([
        {
          rule: "outbox_stale",
          job: "",
          state: "firing",
          since: at(0),
          detail: "oldest pending message is 700 s old (limit 600 s)",
          service: "billing-worker"
        },
        {
          rule: "outbox_stale",
          job: "",
          state: "resolved",
          since: at(0),
          resolvedAt: at(45),
          detail: "oldest pending message is 700 s old (limit 600 s)",
          service: "billing-worker"
        }
      ])
      const warnings = logs.withMessage("alert webhook not delivered: retried later")
      expect(warnings.map((e) => [e.level, e.fields.attempt, e.fields.error])).toEqual([
        ["WARN", 1, "HTTP status 500"],
        ["WARN", 2, "HTTP status 500"]
      ])
      expect(JSON.stringify(logs.entries)).not.toContain(SECRET)
    }).pipe(Effect.provide(logs.layer))
  })

  it("the signature is the hex HMAC-SHA256 of the body", () => {
    expect(Webhook.signature("{\"a\":1}", "key")).toBe(
      `sha256=${createHmac("sha256", "key").update("{\"a\":1}").digest("hex")}`
    )
    expect(Webhook.backoff(1)).toEqual(Duration.seconds(5))
    expect(Webhook.backoff(3)).toEqual(Duration.seconds(20))
    expect(Webhook.backoff(30)).toEqual(Duration.hours(1))
  })
})
