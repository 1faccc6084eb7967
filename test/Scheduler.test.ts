import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { Control } from "../src/Control.js"
import * as Job from "../src/Job.js"
import * as RunStore from "../src/RunStore.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { at, buildScoped, type CapturedLogs, captureLogs, history, schedulerLayer, T0 } from "./utils.js"

/** Runs `f` with log capture around the whole of it (finalizers included). */
const withLogs = <A, E, R>(f: (logs: CapturedLogs) => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const logs = captureLogs()
    return f(logs).pipe(Effect.provide(logs.layer))
  })

/** Runs `body` with a started worker of `jobs`; shutdown interrupts at once unless `config` says otherwise. */
const withWorker = <A, E, R>(
  jobs: ReadonlyArray<Job.Job<unknown, Job.CurrentRun>>,
  body: Effect.Effect<A, E, R>,
  config: Parameters<typeof schedulerLayer>[0] = {}
) => {
  const logs = captureLogs()
  return Effect.gen(function*() {
    yield* TestClock.setTime(T0)
    yield* Worker.start(jobs)
    return yield* body
  }).pipe(
    Effect.provide(schedulerLayer({ shutdownTimeout: Duration.zero, ...config })),
    Effect.provide(logs.layer),
    Effect.map((result) => ({ result, logs }))
  )
}

const sleepJob = (
  name: string,
  schedule: string,
  seconds: number,
  options: Partial<Job.JobOptions<never, never>> = {}
) => Job.make({ name, schedule, run: Effect.sleep(Duration.seconds(seconds)), ...options })

describe("Scheduler", () => {
  it.effect("runs a job at each slot and records it as succeeded, with its run context", () =>
    Effect.gen(function*() {
      const seen: Array<Job.RunInfo> = []
      const job = Job.make({
        name: "tick",
        schedule: "*/10 * * * * *",
        run: Effect.flatMap(Job.CurrentRun, (run) => Effect.sync(() => seen.push(run)))
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("25 seconds"), history("tick"))
      )
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status])).toEqual([
        [at(10), "succeeded"],
        [at(20), "succeeded"]
      ])
      expect(seen.map((run) => [run.job, run.nominalAt.toISOString(), run.attempt, run.reason])).toEqual([
        ["tick", at(10), 1, "scheduled"],
        ["tick", at(20), 1, "scheduled"]
      ])
      expect(seen[0]!.runId).toBe(records[0]!.runId)
    }))

  it.effect("global limit: a third job is skipped and logged while two others run", () =>
    Effect.gen(function*() {
      const jobs = [
        sleepJob("a", "0 * * * * *", 30),
        sleepJob("b", "0 * * * * *", 30),
        sleepJob("c", "10 * * * * *", 5)
      ]
      const { logs, result: records } = yield* withWorker(
        jobs,
        Effect.zipRight(TestClock.adjust("100 seconds"), history()),
        { maxConcurrentJobs: 2 }
      )
      const c = records.filter((r) => r.job === "c")
      // a and b run from 00:01:00 to 00:01:30: c's slot of 00:00:10 runs, its slot of 00:01:10 is skipped.
      expect(c.map((r) => [r.nominalAt.toISOString(), r.status, r.skipReason])).toEqual([
        [at(10), "succeeded", undefined],
        [at(70), "skipped", "max_concurrent"]
      ])
      const warnings = logs.withMessage("job skipped (max concurrent executions reached)")
      expect(warnings).toHaveLength(1)
      expect(warnings[0]!.level).toBe("WARN")
      expect(warnings[0]!.fields).toMatchObject({ job: "c", max_concurrent: 2 })
      expect(records.filter((r) => r.job !== "c").every((r) => r.status === "succeeded")).toBe(true)
    }))

  it.effect("overlap skip: slots during a run are recorded as skipped", () =>
    Effect.gen(function*() {
      const { result: records } = yield* withWorker(
        [sleepJob("slow", "*/10 * * * * *", 25)],
        Effect.zipRight(TestClock.adjust("45 seconds"), history("slow"))
      )
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status, r.skipReason])).toEqual([
        [at(10), "succeeded", undefined],
        [at(20), "skipped", "overlap"],
        [at(30), "skipped", "overlap"],
        [at(40), "running", undefined]
      ])
    }))

  it.effect("overlap queue: one slot waits for the running one, further slots are skipped", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const job = Job.make({
        name: "queued",
        schedule: "*/10 * * * * *",
        overlap: "queue",
        run: Effect.gen(function*() {
          starts.push(yield* TestClock.currentTimeMillis)
          yield* Effect.sleep("25 seconds")
        })
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("61 seconds"), history("queued"))
      )
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status, r.skipReason])).toEqual([
        [at(10), "succeeded", undefined],
        [at(20), "succeeded", undefined],
        [at(30), "skipped", "overlap"],
        [at(40), "running", undefined],
        [at(50), "skipped", "overlap"],
        [at(60), "skipped", "overlap"]
      ])
      // The queued slot of 00:20 starts when the first run ends, at 00:35; 00:40 when that one ends, at 01:00.
      expect(starts.map((t) => new Date(t).toISOString())).toEqual([at(10), at(35), at(60)])
    }))

  it.effect("overlap queue: the waiting slot is recorded as queued until it starts", () =>
    Effect.gen(function*() {
      const job = Job.make({
        name: "waiting",
        schedule: "*/10 * * * * *",
        overlap: "queue",
        run: Effect.sleep("25 seconds")
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("45 seconds"), history("waiting"))
      )
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status])).toEqual([
        [at(10), "succeeded"],
        [at(20), "running"],
        [at(30), "skipped"],
        [at(40), "queued"]
      ])
    }))

  it.effect("overlap replace: the running run is interrupted (finalizers run) and the new slot starts", () =>
    Effect.gen(function*() {
      let finalized = 0
      const job = Job.make({
        name: "replaced",
        schedule: "*/10 * * * * *",
        overlap: "replace",
        run: Effect.sleep("15 seconds").pipe(Effect.ensuring(Effect.sync(() => finalized++)))
      })
      const { logs, result: [records, finalizedBefore] } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("25 seconds"), Effect.zip(history("replaced"), Effect.sync(() => finalized)))
      )
      expect(finalizedBefore).toBe(1)
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status])).toEqual([
        [at(10), "interrupted"],
        [at(20), "running"]
      ])
      expect(records[0]!.error).toBe(`replaced by the run of ${at(20)}`)
      expect(logs.withMessage("job interrupted")[0]!.fields).toMatchObject({
        nominal_at: at(10),
        error: `replaced by the run of ${at(20)}`
      })
    }))

  it.effect("overlap allow: runs of one job overlap", () =>
    Effect.gen(function*() {
      const { result: records } = yield* withWorker(
        [sleepJob("parallel", "*/10 * * * * *", 25, { overlap: "allow" })],
        Effect.zipRight(TestClock.adjust("40 seconds"), history("parallel"))
      )
      expect(records.map((r) => r.status)).toEqual(["succeeded", "running", "running", "running"])
    }))

  it.effect("timeout interrupts the run: finalizers run, the AbortSignal fires, the slot is timed out", () =>
    Effect.gen(function*() {
      let finalized = false
      let aborted = false
      const job = Job.make({
        name: "stuck",
        schedule: "0 * * * * *",
        timeout: "5 seconds",
        run: Effect.tryPromise((signal) =>
          new Promise<void>((resolve) =>
            signal.addEventListener("abort", () => {
              aborted = true
              resolve()
            })
          )
        ).pipe(Effect.ensuring(Effect.sync(() => (finalized = true))))
      })
      const { logs, result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("66 seconds"), history("stuck"))
      )
      expect(records[0]!.status).toBe("timed_out")
      expect(records[0]!.error).toBe("timed out after 5s")
      expect(records[0]!.durationMs).toBe(5000)
      expect(finalized).toBe(true)
      expect(aborted).toBe(true)
      const failed = logs.withMessage("job failed")
      expect(failed[0]!.fields).toMatchObject({ job: "stuck", status: "timed_out", error: "timed out after 5s" })
    }))

  it.effect("a replaced run is recorded interrupted, not timed out, even when its deadline passes while it stops", () =>
    Effect.gen(function*() {
      let runs = 0
      const job = Job.make({
        name: "slow-to-stop",
        schedule: "*/10 * * * * *",
        overlap: "replace",
        timeout: "15 seconds",
        // The first run takes 8 s to stop (an uninterruptible clean-up): replaced at 00:20, its deadline of
        // 00:25 passes meanwhile. Later runs stop at once (the test's shutdown interrupts one).
        run: Effect.suspend(() => {
          const slow = ++runs === 1
          return Effect.sleep("1 hour").pipe(Effect.onInterrupt(() => (slow ? Effect.sleep("8 seconds") : Effect.void)))
        })
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("29 seconds"), history("slow-to-stop"))
      )
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status, r.error])).toEqual([
        [at(10), "interrupted", `replaced by the run of ${at(20)}`],
        [at(20), "running", undefined]
      ])
    }))

  it.effect("the default timeout comes from WORKER_DEFAULT_TIMEOUT_SECONDS; 0 on the job means none", () =>
    Effect.gen(function*() {
      const { result: records } = yield* withWorker(
        [sleepJob("default", "0 * * * * *", 20), sleepJob("none", "0 * * * * *", 20, { timeout: 0 })],
        Effect.zipRight(TestClock.adjust("90 seconds"), history()),
        { defaultTimeout: Option.some(Duration.seconds(10)) }
      )
      expect(records.filter((r) => r.job === "default")[0]!.status).toBe("timed_out")
      expect(records.filter((r) => r.job === "none")[0]!.status).toBe("succeeded")
    }))

  it.effect("a defect is recovered and logged with its stack; the next slot still runs", () =>
    Effect.gen(function*() {
      let runs = 0
      const job = Job.make({
        name: "panics",
        schedule: "*/10 * * * * *",
        run: Effect.sync(() => {
          runs++
          if (runs === 1) throw new RangeError("index out of range")
        })
      })
      const { logs, result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("25 seconds"), history("panics"))
      )
      expect(records.map((r) => r.status)).toEqual(["failed", "succeeded"])
      expect(records[0]!.error).toBe("panic: RangeError: index out of range")
      const panics = logs.withMessage("job panic recovered")
      expect(panics).toHaveLength(1)
      expect(panics[0]!.level).toBe("ERROR")
      expect(panics[0]!.fields.panic).toBe("RangeError: index out of range")
      expect(String(panics[0]!.fields.stack)).toContain("RangeError: index out of range\n    at ")
    }))

  it.effect("a typed failure is recorded as failed and logged as job failed", () =>
    Effect.gen(function*() {
      const job = Job.make({ name: "fails", schedule: "*/10 * * * * *", run: Effect.fail(new Error("disk full")) })
      const { logs, result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("10 seconds"), history("fails"))
      )
      expect(records.map((r) => [r.status, r.error])).toEqual([["failed", "Error: disk full"]])
      expect(logs.withMessage("job failed")[0]!.fields).toMatchObject({ job: "fails", error: "Error: disk full" })
    }))

  it.effect("retry: failed attempts are retried with exponential backoff within the same slot", () =>
    Effect.gen(function*() {
      const attempts: Array<[number, number]> = []
      const job = Job.make({
        name: "flaky",
        schedule: "0 * * * * *",
        retry: { attempts: 3, initialDelay: "1 second", factor: 2, jitter: false },
        run: Effect.gen(function*() {
          const run = yield* Job.CurrentRun
          attempts.push([run.attempt, (yield* TestClock.currentTimeMillis) - T0])
          if (run.attempt < 3) return yield* Effect.fail("not yet")
        })
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("65 seconds"), history("flaky"))
      )
      expect(attempts).toEqual([[1, 60_000], [2, 61_000], [3, 63_000]])
      expect(records.map((r) => [r.status, r.attempt])).toEqual([["succeeded", 3]])
    }))

  it.effect("retry gives up after its attempts and the cap bounds the delay", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const job = Job.make({
        name: "broken",
        schedule: "0 0 * * * *",
        retry: { attempts: 4, initialDelay: "10 seconds", factor: 10, maxDelay: "30 seconds", jitter: false },
        run: Effect.flatMap(TestClock.currentTimeMillis, (t) =>
          Effect.sync(() => times.push(t - T0)).pipe(Effect.zipRight(Effect.fail("down"))))
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("2 hours"), history("broken")),
        {
          defaultTimeout: Option.none()
        }
      )
      expect(times.slice(0, 4)).toEqual([3_600_000, 3_610_000, 3_640_000, 3_670_000])
      expect(records[0]!).toMatchObject({ status: "failed", attempt: 4 })
    }))

  it.effect("a monthly job fires after 31 simulated days, and no sleep is longer than an hour", () =>
    Effect.gen(function*() {
      const fired: Array<string> = []
      const job = Job.make({
        name: "monthly",
        schedule: "@monthly",
        run: Effect.flatMap(Job.CurrentRun, (run) => Effect.sync(() => fired.push(run.nominalAt.toISOString())))
      })
      const { result } = yield* withWorker(
        [job],
        Effect.gen(function*() {
          yield* TestClock.adjust("1 hour")
          const sleeps = yield* TestClock.sleeps()
          yield* TestClock.adjust(Duration.days(31))
          return sleeps
        })
      )
      expect(fired).toEqual(["2026-02-01T00:00:00.000Z"])
      // Pending sleeps are wake-up instants: none lies more than an hour ahead.
      Chunk.forEach(result, (wake) => expect(wake - (T0 + 3_600_000)).toBeLessThanOrEqual(3_600_000))
    }))

  it.effect("@every is anchored at registration and does not drift with run time", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const job = Job.make({
        name: "every",
        schedule: "@every 10s",
        overlap: "allow",
        run: Effect.flatMap(TestClock.currentTimeMillis, (t) => Effect.sync(() => starts.push(t - T0))).pipe(
          Effect.zipRight(Effect.sleep("3 seconds"))
        )
      })
      yield* withWorker([job], Effect.zipRight(TestClock.adjust("2500 millis"), Effect.void))
      expect(starts).toEqual([])
      yield* Effect.gen(function*() {
        yield* TestClock.setTime(T0 + 2500)
        yield* Worker.start([job])
        yield* TestClock.adjust("31 seconds")
      }).pipe(Effect.provide(schedulerLayer({ shutdownTimeout: Duration.zero })))
      expect(starts).toEqual([12_500, 22_500, 32_500])
    }))

  it.effect("jitter delays the start within the bound but keeps the nominal instant", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const job = Job.make({
        name: "jittered",
        schedule: "0 * * * * *",
        jitter: "20 seconds",
        run: Effect.flatMap(TestClock.currentTimeMillis, (t) => Effect.sync(() => starts.push(t - T0)))
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("5 minutes"), history("jittered"))
      )
      expect(records.map((r) => r.nominalAt.toISOString())).toEqual([at(60), at(120), at(180), at(240), at(300)])
      expect(starts.length).toBeGreaterThanOrEqual(4)
      starts.forEach((start, i) => {
        expect(start).toBeGreaterThanOrEqual((i + 1) * 60_000)
        expect(start).toBeLessThanOrEqual((i + 1) * 60_000 + 20_000)
      })
      expect(new Set(starts.map((s, i) => s - (i + 1) * 60_000)).size).toBeGreaterThan(1)
    }))

  it.effect("trigger runs a job now as a manual run", () =>
    Effect.gen(function*() {
      const job = Job.make({ name: "manual", schedule: "@yearly", run: Effect.void })
      const { result: record } = yield* withWorker(
        [job],
        Effect.gen(function*() {
          const scheduler = yield* Scheduler
          return yield* scheduler.trigger("manual")
        })
      )
      assert.isTrue(Option.isSome(record))
      expect(Option.getOrThrow(record)).toMatchObject({ job: "manual", reason: "manual", status: "succeeded" })
    }))

  it.effect("logs the Go worker's start-up lines with their fields", () =>
    Effect.gen(function*() {
      const { logs } = yield* withWorker(
        [sleepJob("one", "0 2 * * *", 1), sleepJob("two", "0 8 * * 1", 1)],
        Effect.void
      )
      const messages = logs.entries.map((e) => e.msg)
      expect(messages.slice(0, 4)).toEqual([
        "job registered: one",
        "job registered: two",
        "starting scheduler",
        "worker started successfully"
      ])
      expect(logs.entries[0]!.fields).toMatchObject({
        job: "one",
        schedule: "0 2 * * *",
        timezone: "UTC",
        next_run: "2026-01-01T02:00:00.000Z"
      })
      expect(logs.entries[2]!.fields).toMatchObject({ jobs_count: 2, default_timeout_seconds: 300 })
      expect(logs.entries[3]!.fields).toMatchObject({ jobs_registered: 2 })
    }))

  it.effect("run log lines carry job, run_id and nominal_at; the job's own lines too", () =>
    Effect.gen(function*() {
      const job = Job.make({ name: "chatty", schedule: "*/10 * * * * *", run: Effect.logInfo("inside the job") })
      const { logs, result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("10 seconds"), history("chatty"))
      )
      const runId = records[0]!.runId
      for (const msg of ["job started", "inside the job", "job completed successfully"]) {
        expect(logs.withMessage(msg)[0]!.fields).toMatchObject({ job: "chatty", run_id: runId, nominal_at: at(10) })
      }
      expect(logs.withMessage("job completed successfully")[0]!.fields).toHaveProperty("duration_ms", 0)
      expect(logs.withMessage("job started")[0]!.fields).toHaveProperty("trace_id")
    }))
})

describe("Scheduler shutdown", () => {
  it.effect("waits for a running job within the grace period, then closes", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        const { close, context } = yield* buildScoped(schedulerLayer({ shutdownTimeout: Duration.seconds(30) }))
        yield* Worker.start([sleepJob("long", "0 * * * * *", 20)]).pipe(Effect.provide(context))
        yield* TestClock.adjust("65 seconds") // the run started at 01:00 and ends at 01:20
        const closing = yield* Effect.fork(close)
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.join(closing)
        const records = yield* history("long").pipe(Effect.provide(context))
        expect(records.map((r) => r.status)).toEqual(["succeeded"])
        const messages = logs.entries.map((e) => e.msg)
        expect(messages.indexOf("shutting down scheduler...")).toBeLessThan(
          messages.indexOf("job completed successfully")
        )
        expect(messages.indexOf("job completed successfully")).toBeLessThan(
          messages.indexOf("all running jobs completed")
        )
      })
    ))

  it.effect("interrupts a job still running after the grace period and records it as interrupted", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        const finalized = yield* Ref.make(false)
        const job = Job.make({
          name: "endless",
          schedule: "0 * * * * *",
          timeout: 0,
          run: Effect.never.pipe(Effect.ensuring(Ref.set(finalized, true)))
        })
        const { close, context } = yield* buildScoped(schedulerLayer({ shutdownTimeout: Duration.seconds(30) }))
        yield* Worker.start([job]).pipe(Effect.provide(context))
        yield* TestClock.adjust("61 seconds")
        const closing = yield* Effect.fork(close)
        yield* TestClock.adjust("29 seconds")
        expect(yield* Ref.get(finalized)).toBe(false)
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(closing)
        expect(yield* Ref.get(finalized)).toBe(true)
        const records = yield* history("endless").pipe(Effect.provide(context))
        expect(records.map((r) => [r.status, r.error])).toEqual([[
          "interrupted",
          "interrupted at shutdown (grace period expired)"
        ]])
        const messages = logs.entries.map((e) => e.msg)
        expect(messages).toContain("shutdown timeout reached, interrupting running jobs")
        expect(messages.indexOf("job interrupted")).toBeLessThan(messages.indexOf("running jobs interrupted"))
        expect(messages).not.toContain("all running jobs completed")
      })
    ))

  it.effect("starts no run after shutdown began", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const { close, context } = yield* buildScoped(schedulerLayer({ shutdownTimeout: Duration.seconds(30) }))
      yield* Worker.start([sleepJob("long", "*/10 * * * * *", 25, { overlap: "allow" })]).pipe(Effect.provide(context))
      yield* TestClock.adjust("11 seconds")
      const closing = yield* Effect.fork(close)
      yield* TestClock.adjust("40 seconds")
      yield* Fiber.join(closing)
      const records = yield* history("long").pipe(Effect.provide(context))
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status])).toEqual([[at(10), "succeeded"]])
    }))
})

describe("registration", () => {
  const register = (jobs: ReadonlyArray<Job.Job<unknown, Job.CurrentRun>>) =>
    Worker.start(jobs).pipe(Effect.provide(schedulerLayer()), Effect.flip)

  it.effect("a bad schedule names the job, the expression and the reason", () =>
    Effect.gen(function*() {
      const error = yield* register([Job.make({ name: "bad", schedule: "0 0 30 2 *", run: Effect.void })])
      expect(error.lines).toEqual([
        `job "bad": invalid cron expression "0 0 30 2 *": it can never fire: day-of-month "30" never occurs in February`
      ])
    }))

  it.effect("an unknown time zone is a registration error", () =>
    Effect.gen(function*() {
      const error = yield* register([
        Job.make({ name: "tz", schedule: "0 9 * * *", timezone: "Mars/Olympus", run: Effect.void })
      ])
      expect(error.lines[0]).toContain(`job "tz"`)
      expect(error.lines[0]).toContain(`unknown time zone "Mars/Olympus"`)
    }))

  it.effect("duplicate names and bad options are all reported, and no job is registered", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const error = yield* Worker.start([
          Job.make({ name: "same", schedule: "* * * * *", run: Effect.void }),
          Job.make({ name: "same", schedule: "* * * * *", run: Effect.void }),
          Job.make({ name: "retry", schedule: "* * * * *", retry: { attempts: 0 }, run: Effect.void })
        ]).pipe(Effect.provide(schedulerLayer()), Effect.flip)
        expect(error.lines).toEqual([
          `job "same" is registered twice: job names must be unique`,
          `job "retry": invalid option retry.attempts: must be a whole number from 1 to 1000, got 0`
        ])
        expect(logs.entries.filter((e) => e.msg.startsWith("job registered"))).toEqual([])
        expect(logs.entries.map((e) => e.msg)).toEqual(["shutting down scheduler...", "all running jobs completed"])
      })
    ))

  it.effect("the job's zone applies to its schedule; CRON_TZ= wins over it", () =>
    Effect.gen(function*() {
      const { result: jobs } = yield* withWorker(
        [
          Job.make({ name: "ny", schedule: "0 9 * * *", timezone: "America/New_York", run: Effect.void }),
          Job.make({
            name: "prefixed",
            schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *",
            timezone: "America/New_York",
            run: Effect.void
          }),
          Job.make({ name: "default", schedule: "0 9 * * *", run: Effect.void })
        ],
        Effect.flatMap(Scheduler, (s) => s.jobs),
        { timezone: "Europe/London" }
      )
      expect(jobs.map((j) => [j.name, j.timezone, new Date(j.spec.next(T0)).toISOString()])).toEqual([
        ["ny", "America/New_York", "2026-01-01T14:00:00.000Z"],
        ["prefixed", "Asia/Tokyo", "2026-01-02T00:00:00.000Z"],
        ["default", "Europe/London", "2026-01-01T09:00:00.000Z"]
      ])
    }))
})

describe("overlap replace under a slow stop", () => {
  it.effect("never runs two bodies at once; a newer slot supersedes one still waiting", () =>
    Effect.gen(function*() {
      let running = 0
      let most = 0
      const starts: Array<number> = []
      const job = Job.make({
        name: "slow-stop",
        schedule: "*/10 * * * * *",
        overlap: "replace",
        timeout: 0,
        run: Effect.gen(function*() {
          starts.push((yield* TestClock.currentTimeMillis) - T0)
          running++
          most = Math.max(most, running)
          yield* Effect.never
        }).pipe(Effect.onInterrupt(() =>
          // The first run takes 15 s to stop; later ones stop at once (the test's own teardown interrupts them).
          Effect.sleep(starts.length === 1 ? "15 seconds" : "0 seconds").pipe(
            Effect.ensuring(Effect.sync(() => running--))
          )
        ))
      })
      const { result: records } = yield* withWorker(
        [job],
        Effect.zipRight(TestClock.adjust("36 seconds"), history("slow-stop"))
      )
      expect(most).toBe(1)
      // 00:10 stops from 00:20 to 00:35; 00:20 waits and is superseded by 00:30, which starts at 00:35.
      expect(starts).toEqual([10_000, 35_000])
      expect(records.map((r) => [r.nominalAt.toISOString(), r.status, r.error])).toEqual([
        [at(10), "interrupted", `replaced by the run of ${at(20)}`],
        [at(20), "interrupted", `replaced by the run of ${at(30)}`],
        [at(30), "running", undefined]
      ])
    }))
})

describe("job context", () => {
  class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

  it.effect("runs with the services captured at registration, not those of whoever starts or triggers it", () =>
    Effect.gen(function*() {
      const heard: Array<string> = []
      const job = Job.make({
        name: "greeter",
        schedule: "@yearly",
        run: Effect.flatMap(Greeting, (greeting) => Effect.sync(() => heard.push(greeting)))
      })
      yield* withWorker(
        [],
        Effect.gen(function*() {
          const scheduler = yield* Scheduler
          yield* scheduler.register(job).pipe(Effect.provideService(Greeting, "registered"))
          yield* scheduler.trigger("greeter").pipe(Effect.provideService(Greeting, "ambient"))
        })
      )
      expect(heard).toEqual(["registered"])
    }))

  it.effect("trigger after shutdown began fails with SchedulerStopped; an unknown job with JobNotFound", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const { close, context } = yield* buildScoped(schedulerLayer())
      const scheduler = Context.get(context, Scheduler)
      yield* scheduler.register(Job.make({ name: "x", schedule: "@daily", run: Effect.void }))
      const unknown = yield* Effect.flip(scheduler.trigger("nope"))
      expect(unknown._tag).toBe("JobNotFound")
      yield* close
      const stopped = yield* Effect.flip(scheduler.trigger("x"))
      expect(stopped._tag).toBe("SchedulerStopped")
    }))
})

describe("job options", () => {
  // Options as untyped input (plain JavaScript, values read from a file) would give them.
  const errorOf = (options: Record<string, unknown>) =>
    Worker.start([
      Job.make({
        name: "opt",
        schedule: "@daily",
        run: Effect.void,
        ...(options as Partial<Job.JobOptions<never, never>>)
      })
    ]).pipe(
      Effect.provide(schedulerLayer()),
      Effect.flip,
      Effect.map((error) => error.lines)
    )

  it.effect.each(
    [
      [
        { timeout: "5 minuts" },
        `job "opt": invalid option timeout: must be a duration such as "30 seconds" or 5000 (ms), got "5 minuts"`
      ],
      [
        { timeout: -5 },
        `job "opt": invalid option timeout: must be a duration such as "30 seconds" or 5000 (ms), got -5`
      ],
      [{ timeout: "30 days" }, `job "opt": invalid option timeout: must be at most 24 days`],
      [
        { jitter: Number.NaN },
        `job "opt": invalid option jitter: must be a duration such as "30 seconds" or 5000 (ms), got null`
      ],
      [
        { retry: { attempts: 3, maxDelay: "soon" } },
        `job "opt": invalid option retry.maxDelay: must be a duration such as "30 seconds" or 5000 (ms), got "soon"`
      ],
      [{ retry: { attempts: 3, factor: 0.5 } }, `job "opt": invalid option retry.factor: must be a number ≥ 1, got 0.5`]
    ] as const
  )("Job.make never throws; registration reports %j", ([options, line]) =>
    Effect.gen(function*() {
      expect(yield* errorOf(options)).toEqual([line])
    }))

  it.effect("timeout 0 and Duration.infinity mean none", () =>
    Effect.gen(function*() {
      const { result: jobs } = yield* withWorker(
        [
          Job.make({ name: "zero", schedule: "@daily", timeout: 0, run: Effect.void }),
          Job.make({ name: "infinite", schedule: "@daily", timeout: Duration.infinity, run: Effect.void }),
          Job.make({ name: "default", schedule: "@daily", run: Effect.void })
        ],
        Effect.flatMap(Scheduler, (s) => s.jobs)
      )
      expect(jobs.map((j) => Option.map(j.timeout, Duration.toSeconds))).toEqual([
        Option.none(),
        Option.none(),
        Option.some(300)
      ])
    }))
})

describe("pause, catch-up and the history on the memory store", () => {
  it.effect("a paused job's slots are recorded as skipped (paused); manual runs still run; resume restores it", () =>
    Effect.gen(function*() {
      const job = Job.make({ name: "pausable", schedule: "*/10 * * * * *", run: Effect.void })
      const { logs, result: records } = yield* withWorker(
        [job],
        Effect.gen(function*() {
          const control = yield* Control
          yield* control.pause("pausable", "maintenance window")
          yield* TestClock.adjust("20 seconds")
          const manual = yield* control.trigger("pausable")
          yield* control.resume("pausable")
          yield* TestClock.adjust("10 seconds")
          const unknown = yield* Effect.flip(control.pause("nope"))
          expect(unknown._tag).toBe("JobNotFound")
          expect(Option.map(manual, (r) => r.reason)).toEqual(Option.some("manual"))
          return yield* history("pausable")
        }).pipe(Effect.provide(Control.Default))
      )
      expect(
        records.filter((r) => r.reason === "scheduled").map((r) => [r.nominalAt.toISOString(), r.status, r.skipReason])
      ).toEqual([
        [at(10), "skipped", "paused"],
        [at(20), "skipped", "paused"],
        [at(30), "succeeded", undefined]
      ])
      // The reason is the pause's, shown by `jobs`: not repeated in every skipped slot's line.
      expect(logs.withMessage("job skipped (paused)")[0]?.fields).toMatchObject({ job: "pausable" })
      expect(logs.withMessage("job skipped (paused)")[0]?.fields).not.toHaveProperty("pause_reason")
      expect(logs.withMessage("job paused")).toHaveLength(1)
    }))

  it.effect("Control.jobs lists next runs, the pause switch and the last run", () =>
    Effect.gen(function*() {
      const { result: jobs } = yield* withWorker(
        [sleepJob("listed", "0 * * * * *", 1)],
        Effect.gen(function*() {
          const control = yield* Control
          yield* TestClock.adjust("61 seconds")
          yield* control.pause("listed")
          return yield* control.jobs
        }).pipe(Effect.provide(Control.Default))
      )
      expect(jobs).toHaveLength(1)
      expect(jobs[0]!.nextRuns.map((d) => d.toISOString())).toEqual([at(120), at(180), at(240)])
      expect(Option.isSome(jobs[0]!.paused)).toBe(true)
      expect(Option.map(jobs[0]!.lastRun, (r) => [r.nominalAt.toISOString(), r.status])).toEqual(
        Option.some([at(60), "succeeded"])
      )
    }))

  it.effect(
    "on start, slots missed since the newest one in the history " +
      "are caught up (latest) or recorded as missed",
    () =>
      Effect.gen(function*() {
        const job = sleepJob("resumed", "0 * * * * *", 1)
        const store = yield* RunStore.makeMemory()
        const storeLayer = Layer.succeed(RunStore.RunStore, store)
        const stack = Scheduler.Default.pipe(
          Layer.provideMerge(storeLayer),
          Layer.provideMerge(WorkerConfig.layerWith({ shutdownTimeout: Duration.zero }))
        )
        yield* TestClock.setTime(T0)
        yield* Worker.start([job]).pipe(Effect.zipRight(TestClock.adjust("61 seconds")), Effect.provide(stack))
        // Down from 00:01:01 to 00:05:30: 00:02 … 00:05 missed.
        yield* TestClock.setTime(T0 + 330_000)
        yield* Worker.start([job]).pipe(Effect.zipRight(TestClock.adjust("1 second")), Effect.provide(stack))
        const records = [...(yield* store.history({ job: "resumed" }))].reverse()
        expect(records.map((r) => [r.nominalAt.toISOString(), r.reason, r.status, r.skipReason])).toEqual([
          [at(60), "scheduled", "succeeded", undefined],
          [at(120), "scheduled", "skipped", "missed"],
          [at(180), "scheduled", "skipped", "missed"],
          [at(240), "scheduled", "skipped", "missed"],
          [at(300), "catch-up", "succeeded", undefined]
        ])
      })
  )
})
