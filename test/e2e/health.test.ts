/**
 * End to end: the probes of a running `dist/main.js`. Up, `/healthz` and `/readyz` answer 200 naming every check;
 * PostgreSQL cut (through a TCP proxy the test owns), `/readyz` and `/health` answer 503 naming the database within
 * the probe's bound while `/healthz` stays 200 (a database outage must not restart the worker); the database back,
 * readiness comes back.
 */
import { describe, expect } from "@effect/vitest"
import { freePort, servicesAvailable, tcpProxy, via } from "../services.js"
import { MAIN, sleep, test } from "./harness.js"

const postgres = await servicesAvailable(["postgres"])

interface Probe {
  readonly code: number
  // The answer as sent, to look into.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any
  readonly millis: number
}

const probe = async (base: string, path: string): Promise<Probe> => {
  const start = Date.now()
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) })
  return { code: response.status, body: await response.json(), millis: Date.now() - start }
}

/** Probes `path` until `accept` holds (or 15 s pass: then the last answer, for the assertion to show). */
const until = async (base: string, path: string, accept: (answer: Probe) => boolean): Promise<Probe> => {
  const deadline = Date.now() + 15_000
  for (;;) {
    const answer = await probe(base, path)
    if (accept(answer) || Date.now() > deadline) return answer
    await sleep(200)
  }
}

describe.skipIf(!postgres)("health probes of a running worker", () => {
  test(
    "up: /healthz and /readyz 200; PostgreSQL cut: /readyz 503 naming the database, /healthz 200; back: 200",
    { timeout: 90_000 },
    async ({ database, onTestFinished, spawn }) => {
      const db = await database()
      const proxy = await tcpProxy(db.url, 5432)
      onTestFinished(proxy.close)
      const port = await freePort()
      const base = `http://127.0.0.1:${port}`
      const proc = await spawn(MAIN, [], {
        env: { HTTP_PORT: String(port), DATABASE_URL: via(db.url, proxy.port), DATABASE_CONNECT_TIMEOUT_SECONDS: "2" }
      })
      await proc.waitFor("worker started successfully")

      const live = await probe(base, "/healthz")
      expect(live.code, JSON.stringify(live.body)).toBe(200)
      expect(live.body).toEqual({
        status: "ok",
        failing: [],
        checks: { event_loop: { ok: true, state: "ok" }, scheduler: { ok: true, state: "running" } }
      })
      const ready = await probe(base, "/readyz")
      expect(ready.code, JSON.stringify(ready.body)).toBe(200)
      expect(ready.body).toEqual({
        status: "ok",
        failing: [],
        checks: {
          database: { ok: true, state: "ok" },
          migrations: { ok: true, state: "applied" },
          rabbitmq: { ok: true, state: "disabled", detail: "RABBITMQ_URL unset: outbox only, messages wait in it" },
          scheduler: { ok: true, state: "started" }
        }
      })
      // The old endpoint: readiness, with the fields it always had.
      const health = await probe(base, "/health")
      expect(health).toMatchObject({
        code: 200,
        body: { status: "ok", database: "ok", rabbitmq: { status: "disabled" }, failing: [] }
      })

      proxy.cut()
      const cut = await until(base, "/readyz", (answer) => answer.code === 503)
      expect(cut.code, JSON.stringify(cut.body)).toBe(503)
      expect(cut.body.status).toBe("unavailable")
      expect(cut.body.failing).toContain("database")
      expect(cut.body.checks.database).toMatchObject({ ok: false, state: "unreachable" })
      expect(cut.body.checks.scheduler).toEqual({ ok: true, state: "started" })
      // Within the database bound (2 s), with room for a loaded machine.
      expect((await probe(base, "/readyz")).millis).toBeLessThan(4_000)
      expect(await probe(base, "/health")).toMatchObject({
        code: 503,
        body: { status: "unavailable", database: "unreachable" }
      })
      const stillLive = await probe(base, "/healthz")
      expect(stillLive.code, JSON.stringify(stillLive.body)).toBe(200)
      expect(stillLive.millis).toBeLessThan(1_000)
      // No credentials in an answer.
      expect(JSON.stringify(cut.body)).not.toContain(new URL(db.url).password)

      proxy.restore()
      const back = await until(base, "/readyz", (answer) => answer.code === 200)
      expect(back.code, JSON.stringify(back.body)).toBe(200)
      expect(proc.exited).toBeUndefined()
    }
  )
})
