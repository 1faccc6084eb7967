/**
 * The probes' logic without a server: each check's states, the answer's code and `failing` list, the heartbeat on
 * the TestClock, and the scheduler's status as the probes see it through start-up and shutdown.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import * as Health from "../src/Health.js"
import * as Job from "../src/Job.js"
import * as Migrations from "../src/Migrations.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"

const running: Health.SchedulerStatus = { started: true, stopping: false, clockRunning: true }

describe("Health.report", () => {
  it("answers 200 when every check passes, 503 naming exactly the failing ones", () => {
    const ok = { ok: true, state: "ok" }
    expect(Health.report({ a: ok, b: ok })).toEqual({
      code: 200,
      body: { status: "ok", failing: [], checks: { a: ok, b: ok } }
    })
    const bad = { ok: false, state: "unreachable", detail: "no answer within 2s" }
    expect(Health.report({ a: ok, b: bad, c: { ...bad, state: "unknown" } })).toMatchObject({
      code: 503,
      body: { status: "unavailable", failing: ["b", "c"] }
    })
  })
})

describe("liveness checks", () => {
  it.effect.each(
    [
      [0, true],
      [15_000, true],
      [15_001, false],
      [600_000, false]
    ] as const
  )("a heartbeat %d ms old passes: %s", ([age, ok]) =>
    Effect.sync(() => {
      const check = Health.eventLoopCheck(1_000_000, 1_000_000 + age)
      expect(check.ok).toBe(ok)
      expect(check.state).toBe(ok ? "ok" : "stalled")
    }))

  it("the scheduler is alive while it starts, runs, stops; dead only when its clock stopped outside shutdown", () => {
    expect(Health.schedulerAlive(undefined)).toEqual({ ok: true, state: "starting" })
    expect(Health.schedulerAlive({ ...running, started: false })).toEqual({ ok: true, state: "running" })
    expect(Health.schedulerAlive(running)).toEqual({ ok: true, state: "running" })
    expect(Health.schedulerAlive({ ...running, stopping: true, clockRunning: false })).toEqual({
      ok: true,
      state: "stopping"
    })
    expect(Health.schedulerAlive({ ...running, clockRunning: false })).toMatchObject({ ok: false, state: "stopped" })
  })

  it.effect("the heartbeat keeps /healthz 200 while it ticks; 15 s without a tick fails it, naming event_loop", () =>
    Effect.gen(function*() {
      const probes = Health.makeProbes(0)
      probes.scheduler = Effect.succeed(running)
      const scope = yield* Scope.make()
      yield* Health.heartbeat(probes).pipe(Scope.extend(scope))
      yield* TestClock.adjust("60 seconds")
      expect(probes.lastTick).toBe(60_000)
      expect(yield* Health.liveness(probes)).toMatchObject({ code: 200, body: { failing: [] } })
      // The heartbeat stops (as when the runtime's timers no longer fire).
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("16 seconds")
      const answer = yield* Health.liveness(probes)
      expect(answer).toMatchObject({
        code: 503,
        body: { failing: ["event_loop"], checks: { event_loop: { state: "stalled" }, scheduler: { ok: true } } }
      })
    }))
})

describe("readiness checks", () => {
  it("the scheduler is ready only once started and until shutdown begins", () => {
    expect(Health.schedulerReady(undefined, false)).toMatchObject({ ok: false, state: "starting" })
    expect(Health.schedulerReady({ ...running, started: false }, false)).toMatchObject({ ok: false, state: "starting" })
    expect(Health.schedulerReady(running, false)).toEqual({ ok: true, state: "started" })
    expect(Health.schedulerReady(running, true)).toMatchObject({ ok: false, state: "stopping" })
    expect(Health.schedulerReady({ ...running, stopping: true }, false)).toMatchObject({ ok: false, state: "stopping" })
    expect(Health.schedulerReady({ ...running, clockRunning: false }, false)).toMatchObject({
      ok: false,
      state: "stopped"
    })
  })

  it("RabbitMQ: unset (outbox only), connecting, connected and down are ready; refused is not", () => {
    expect(Health.rabbitmqCheck({ status: "disabled" })).toMatchObject({ ok: true, state: "disabled" })
    expect(Health.rabbitmqCheck({ status: "connecting" })).toEqual({ ok: true, state: "connecting" })
    expect(Health.rabbitmqCheck({ status: "connected" })).toEqual({ ok: true, state: "connected" })
    expect(Health.rabbitmqCheck({ status: "unavailable", error: "ECONNREFUSED" })).toEqual({
      ok: true,
      state: "unavailable",
      detail: "ECONNREFUSED"
    })
    expect(Health.rabbitmqCheck({ status: "refused", error: "403 (ACCESS-REFUSED)" })).toEqual({
      ok: false,
      state: "refused",
      detail: "403 (ACCESS-REFUSED)"
    })
  })

  it("migrations are applied when every id of the worker's set is recorded, and pending naming those missing", () => {
    const all = Health.workerMigrationIds
    expect(all).toContain(1)
    expect(all).toContain(13)
    expect(all).toHaveLength(Object.keys(Migrations.migrations).length)
    // The example app's old migration 2 may be recorded too: extra rows do not matter.
    expect(Health.migrationsCheck([...all, 2])).toEqual({ ok: true, state: "applied" })
    expect(Health.migrationsCheck(all.filter((id) => id !== 13))).toEqual({
      ok: false,
      state: "pending",
      detail: "not applied: 13_schedules"
    })
    expect(Health.migrationsCheck([])).toMatchObject({ ok: false, state: "pending" })
  })
})

describe("Health.attach", () => {
  it.effect("the probes see the scheduler starting, started, then stopping as soon as its scope closes", () =>
    Effect.gen(function*() {
      const probes = Health.makeProbes(0)
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Health.attach.pipe(
          Layer.provideMerge(Worker.layerTest()),
          Layer.provideMerge(Layer.succeed(Health.Probes, probes))
        ),
        scope
      )
      const scheduler = yield* Effect.provide(Scheduler, context)
      yield* scheduler.register(Job.make({ name: "tick", schedule: "@every 1s", run: Effect.void }))
      const status = () => probes.scheduler === undefined ? Effect.succeed(undefined) : probes.scheduler
      expect(Health.schedulerReady(yield* status(), probes.stopping)).toMatchObject({ state: "starting" })
      expect(Health.schedulerAlive(yield* status())).toMatchObject({ ok: true, state: "running" })
      yield* scheduler.start
      expect(yield* status()).toEqual(running)
      expect(Health.schedulerReady(yield* status(), probes.stopping)).toEqual({ ok: true, state: "started" })
      yield* Scope.close(scope, Exit.void)
      expect(probes.stopping).toBe(true)
      expect(yield* status()).toEqual({ started: true, stopping: true, clockRunning: false })
      expect(Health.schedulerReady(yield* status(), probes.stopping)).toMatchObject({ ok: false, state: "stopping" })
      expect(Health.schedulerAlive(yield* status())).toEqual({ ok: true, state: "stopping" })
    }))
})
