/**
 * The outbox relay's claims on the real PostgreSQL: a batch belongs to the
 * process that took it (its token), even when two processes share one
 * `WORKER_INSTANCE_ID`; another relay takes it over only once its lease has
 * expired, and a relay gives back only its own rows.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Option, Redacted } from "effect"
import * as Database from "../../src/Database.js"
import * as Claims from "../../src/OutboxRelay/Claims.js"
import { layerOutbox, Publisher } from "../../src/Publisher.js"
import * as WorkerConfig from "../../src/WorkerConfig.js"
import { servicesAvailable, unique } from "../services.js"
import { suiteDatabase } from "../utils.js"

const available = await servicesAvailable(["postgres"])

/** Both relays' instance id: a worker and a `run` in one container, say. */
const INSTANCE = "shared-instance"

interface Row {
  readonly id: string
  readonly status: string
  readonly sender: string | null
  readonly attempts: number
  readonly last_error: string | null
}

const rows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<Row>`SELECT id, status, sender, attempts, last_error FROM cron_worker.outbox ORDER BY seq`
)

describe.skipIf(!available)("OutboxRelay claims on PostgreSQL", () => {
  const db = suiteDatabase()

  const stack = () =>
    layerOutbox.pipe(
      Layer.provideMerge(Database.layer),
      Layer.provide(WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 4 })),
      Layer.provide(Logger.remove(Logger.defaultLogger))
    )

  it("a token is the instance id and a random suffix of the process's own", () => {
    const a = Claims.token(INSTANCE)
    const b = Claims.token(INSTANCE)
    expect(a).toMatch(/^shared-instance\/[0-9a-f]{12}$/)
    expect(b).toMatch(/^shared-instance\/[0-9a-f]{12}$/)
    expect(a).not.toBe(b)
  })

  it.live(
    "with one instance id, B never takes the rows A holds under a valid lease, nor gives them back; " +
      "it takes them over once the lease expires",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const publisher = yield* Publisher
        const exchange = unique("cw_test_ex")
        const ids: Array<string> = []
        for (let n = 1; n <= 5; n++) ids.push(yield* publisher.publish(exchange, `claims.${n}`, { n }))
        // Long enough that B's look and give-back come within A's lease, whatever a round trip takes.
        const options = { sendLease: Duration.seconds(5), batch: 3 }
        const a = yield* Claims.make({ token: Claims.token(INSTANCE), ...options })
        const b = yield* Claims.make({ token: Claims.token(INSTANCE), ...options })

        expect((yield* a.take).map((row) => row.id)).toEqual(ids.slice(0, 3))
        const held = yield* rows
        // A holds a batch: B takes nothing (not even the pending rows: one relay sends at a time)…
        expect(yield* b.take).toEqual([])
        const senderOfA = held[0]?.sender
        expect(senderOfA).toMatch(/^shared-instance\//)
        expect(held.map((r) => [r.status, r.sender])).toEqual([
          ...ids.slice(0, 3).map(() => ["sending", senderOfA]),
          ["pending", null],
          ["pending", null]
        ])
        // …and B's give-back leaves A's rows alone.
        yield* b.giveBack("not confirmed: B's batch")
        expect(yield* rows).toEqual(held)

        // A's lease runs out (A died): B takes the batch over, oldest first.
        yield* Effect.sleep("5500 millis")
        expect((yield* b.take).map((row) => row.id)).toEqual(ids.slice(0, 3))
        const senderOfB = (yield* rows)[0]?.sender
        expect(senderOfB).toMatch(/^shared-instance\//)
        expect(senderOfB).not.toBe(senderOfA)

        // B's unconfirmed batch goes back to pending as one attempt, with why.
        yield* b.giveBack("not confirmed: the broker did not confirm within 1s")
        const back = yield* rows
        expect(back.map((r) => [r.status, r.sender, r.attempts])).toEqual([
          ["pending", null, 1],
          ["pending", null, 1],
          ["pending", null, 1],
          ["pending", null, 0],
          ["pending", null, 0]
        ])
        expect(back[0]?.last_error).toBe("not confirmed: the broker did not confirm within 1s")
        // A batch given back unsent is no attempt.
        expect((yield* a.take).map((row) => row.id)).toEqual(ids.slice(0, 3))
        yield* a.giveBack()
        expect((yield* rows).map((r) => r.attempts)).toEqual([1, 1, 1, 0, 0])
        yield* sql`DELETE FROM cron_worker.outbox`
      }).pipe(Effect.provide(stack()))
  )
})
