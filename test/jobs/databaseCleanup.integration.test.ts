/**
 * `database_cleanup` on the real PostgreSQL, run through the scheduler: it
 * deletes exactly the expired, unreferenced categories (children before
 * parents, in batches of CLEANUP_BATCH_SIZE, one transaction each), keeps and
 * counts the referenced ones, takes its cutoff from the slot's nominal
 * instant, and stops cleanly between batches when interrupted.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Logger, Option, Redacted, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import * as Database from "../../src/Database.js"
import * as Infrastructure from "../../src/Infrastructure.js"
import { databaseCleanup } from "../../src/jobs/databaseCleanup.js"
import * as Demo from "../../src/jobs/seedDemo.js"
import { Scheduler } from "../../src/Scheduler.js"
import * as Worker from "../../src/Worker.js"
import * as WorkerConfig from "../../src/WorkerConfig.js"
import { servicesAvailable } from "../services.js"
import { buildScoped, type CapturedLogs, captureLogs, frozenAt, suiteDatabase } from "../utils.js"
import { financeSchema } from "./fixtures.js"

const available = await servicesAvailable(["postgres"])

const DAY = 86_400_000
const COMPLETED = "database cleanup completed"
const INTERRUPTED = "database cleanup interrupted between batches"

const reset = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`TRUNCATE finance.budget_items, finance.invoice_items,
      finance.budgets, finance.invoices, finance.categories, finance.users`
)

/** A user, a budget and an invoice to hang rows on; helpers that insert categories and references to them. */
const fixture = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const user = randomUUID()
  const budget = randomUUID()
  const invoice = randomUUID()
  yield* sql`INSERT INTO finance.users (id, name, email) VALUES (${user}, 'Cleanup', ${`${user}@example.com`})`
  yield* sql`INSERT INTO finance.budgets (id, user_id, date) VALUES (${budget}, ${user}, '2026-01-01')`
  yield* sql`INSERT INTO finance.invoices (id, user_id, reference_month, due_date)
    VALUES (${invoice}, ${user}, '2026-01-01', '2026-01-10')`
  return {
    category: (name: string, deletedAt: Date | null, parent: string | null = null) =>
      sql<{ id: string }>`
        INSERT INTO finance.categories (id, user_id, parent_id, name, deleted_at)
        VALUES (${randomUUID()}, ${user}, ${parent}, ${name}, ${deletedAt}) RETURNING id`.pipe(
        Effect.map((rows) => rows[0]?.id ?? "")
      ),
    manyExpired: (count: number, deletedAt: Date) =>
      sql`INSERT INTO finance.categories (id, user_id, name, deleted_at)
          SELECT gen_random_uuid(), ${user}, 'bulk-' || n, ${deletedAt}::timestamptz + n * interval '1 millisecond'
          FROM generate_series(1, ${count}) AS n`,
    inBudget: (category: string) =>
      sql`INSERT INTO finance.budget_items (id, budget_id, category_id)
        VALUES (${randomUUID()}, ${budget}, ${category})`,
    inInvoice: (category: string) =>
      sql`INSERT INTO finance.invoice_items (id, invoice_id, category_id, purchase_date, description)
          VALUES (${randomUUID()}, ${invoice}, ${category}, '2026-01-05', 'test')`
  }
})

const names = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ name: string }>`SELECT name FROM finance.categories ORDER BY name`
).pipe(
  Effect.map((rows) => rows.map((r) => r.name))
)

const countCategories = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM finance.categories`
).pipe(
  Effect.map((rows) => rows[0]?.n ?? -1)
)

/** Records every deleted category with its transaction, in order: what the batches did. */
const audit = Effect.acquireRelease(
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE public.cleanup_audit (seq bigserial PRIMARY KEY, tx bigint NOT NULL,
        id uuid NOT NULL, parent_id uuid)`,
      sql.unsafe(`CREATE FUNCTION public.cleanup_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO public.cleanup_audit (tx, id, parent_id) VALUES (txid_current(), OLD.id, OLD.parent_id);
          RETURN OLD;
        END $$`),
      sql`CREATE TRIGGER cleanup_audit AFTER DELETE ON finance.categories FOR EACH ROW
        EXECUTE FUNCTION public.cleanup_audit()`
    ], { discard: true })),
  () =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.all([
        sql`DROP TRIGGER cleanup_audit ON finance.categories`,
        sql`DROP FUNCTION public.cleanup_audit()`,
        sql`DROP TABLE public.cleanup_audit`
      ], { discard: true })).pipe(Effect.orDie)
).pipe(
  Effect.as(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ seq: number; tx: string; id: string; parent_id: string | null }>`
        SELECT seq::int AS seq, tx::text AS tx, id, parent_id FROM public.cleanup_audit ORDER BY seq`)
  )
)

describe.skipIf(!available)("database_cleanup on PostgreSQL", () => {
  const db = suiteDatabase()

  const config = (overrides: Partial<WorkerConfig.WorkerConfigShape>) =>
    WorkerConfig.layerWith({ databaseUrl: Option.some(Redacted.make(db.url)), databasePoolSize: 3, ...overrides }).pipe(
      Layer.merge(financeSchema)
    )

  /** The worker with this one job (no broker), logging into `logs`. */
  const worker = (logs: CapturedLogs, overrides: Partial<WorkerConfig.WorkerConfigShape> = {}) =>
    Worker.layer([databaseCleanup]).pipe(
      Layer.provideMerge(Scheduler.Default),
      Layer.provideMerge(Infrastructure.layer),
      Layer.provide(config(overrides)),
      Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
    )

  /** A connection of the test's own, to arrange and inspect the data. */
  const probe = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    effect.pipe(
      Effect.provide(Database.layer.pipe(Layer.provide(config({})))),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )

  const trigger = Effect.flatMap(Scheduler, (scheduler) => scheduler.trigger(databaseCleanup.name)).pipe(
    Effect.map(Option.getOrThrow)
  )

  it.live("on the demo data: deletes exactly the expired, unreferenced categories and keeps the referenced ones", () =>
    probe(Effect.gen(function*() {
      yield* reset
      yield* Demo.seed
      const logs = captureLogs()
      const [first, second] = yield* Effect.gen(function*() {
        const first = yield* trigger
        const afterFirst = yield* names
        const second = yield* trigger
        expect(yield* names).toEqual(afterFirst)
        return [first, second] as const
      }).pipe(Effect.provide(worker(logs)))
      expect([first.status, second.status]).toEqual(["succeeded", "succeeded"])
      const left = yield* names
      expect(left).toEqual([...Demo.expectations.kept, ...Demo.expectations.untouched].sort())
      const sql = yield* SqlClient.SqlClient
      const deletable = Demo.expectations.deletable.map(Demo.categoryId)
      expect(yield* sql`SELECT id FROM finance.categories WHERE id IN ${sql.in(deletable)}`).toEqual([])
      expect(logs.withMessage(COMPLETED).map((entry) => entry.fields)).toEqual([
        expect.objectContaining({
          categories_deleted: 3,
          categories_kept_referenced: 3,
          cutoff_date: new Date(first.nominalAt.getTime() - 90 * DAY).toISOString()
        }),
        expect.objectContaining({ categories_deleted: 0, categories_kept_referenced: 3 })
      ])
    })))

  it.live.each([1, 4])(
    "batches of CLEANUP_BATCH_SIZE=%i, one transaction each, children before parents; referenced rows kept",
    (size) =>
      probe(
        Effect.gen(function*() {
          yield* reset
          const f = yield* fixture
          const old = new Date(Date.now() - 200 * DAY)
          const recent = new Date(Date.now() - 10 * DAY)
          // Deleted: a chain of five expired generations, and twenty expired leaves.
          let parent: string | null = null
          for (let generation = 0; generation < 5; generation++) {
            parent = yield* f.category(`chain-${generation}`, old, parent)
          }
          for (let n = 0; n < 20; n++) {
            yield* f.category(`leaf-${String(n).padStart(2, "0")}`, old)
          }
          // Kept: referenced, directly or through a child that stays.
          yield* f.inBudget(yield* f.category("kept-in-budget", old))
          yield* f.inInvoice(yield* f.category("kept-in-invoice", old))
          const parentOfLive = yield* f.category("kept-parent-of-live", old)
          yield* f.category("untouched-live-child", null, parentOfLive)
          const grandparent = yield* f.category("kept-grandparent", old)
          const middle = yield* f.category("kept-middle", old, grandparent)
          yield* f.inInvoice(yield* f.category("kept-referenced-grandchild", old, middle))
          const parentOfRecent = yield* f.category("kept-parent-of-recent", old)
          yield* f.category("untouched-recent-child", recent, parentOfRecent)
          yield* f.category("untouched-recent", recent)
          yield* f.category("untouched-live", null)

          const deletedRows = yield* audit
          const logs = captureLogs()
          const record = yield* trigger.pipe(Effect.provide(worker(logs, { cleanupBatchSize: size })))
          expect(record.status).toBe("succeeded")
          expect((yield* names).filter((name) => !name.startsWith("kept-") && !name.startsWith("untouched-"))).toEqual(
            []
          )
          expect((yield* names).length).toBe(7 + 4)

          const deleted = yield* deletedRows
          expect(deleted).toHaveLength(25)
          const perTransaction = new Map<string, number>()
          for (const row of deleted) perTransaction.set(row.tx, (perTransaction.get(row.tx) ?? 0) + 1)
          expect(Math.max(...perTransaction.values())).toBe(size)
          expect(perTransaction.size).toBeGreaterThanOrEqual(Math.ceil(25 / size))
          // Each parent went in a later transaction than its child.
          const byId = new Map(deleted.map((row) => [row.id, row]))
          const pairs = deleted.flatMap((child) => {
            const parentRow = child.parent_id === null ? undefined : byId.get(child.parent_id)
            return parentRow === undefined ? [] : [{ child, parent: parentRow }]
          })
          expect(pairs).toHaveLength(4)
          for (const { child, parent: parentRow } of pairs) {
            expect(child.seq).toBeLessThan(parentRow.seq)
            expect(child.tx).not.toBe(parentRow.tx)
          }
          expect(logs.withMessage(COMPLETED)[0]?.fields).toMatchObject({
            categories_deleted: 25,
            categories_kept_referenced: 7
          })
        }).pipe(Effect.scoped)
      )
  )

  it.live.each([90, 7])(
    "CLEANUP_RETENTION_DAYS=%i: the cutoff is the slot's nominal instant minus the retention, exclusive",
    (days) =>
      probe(Effect.gen(function*() {
        yield* reset
        const f = yield* fixture
        // A slot a month ago, run now (a late catch-up, say): its cutoff comes from its instant, not the clock.
        const nominal = Date.now() - 30 * DAY
        const cutoff = nominal - days * DAY
        yield* f.category("deleted-just-past-cutoff", new Date(cutoff - 1))
        yield* f.category("deleted-long-before", new Date(cutoff - 365 * DAY))
        yield* f.category("kept-at-cutoff", new Date(cutoff))
        yield* f.category("kept-hour-after-cutoff", new Date(cutoff + 3_600_000))
        // Expired by the clock, not by the slot.
        yield* f.category("kept-expired-by-now-only", new Date(Date.now() - (days + 10) * DAY))
        const logs = captureLogs()
        const record = yield* trigger.pipe(
          Effect.withClock(frozenAt(nominal)),
          Effect.provide(worker(logs, { cleanupRetentionDays: days }))
        )
        expect(record).toMatchObject({ status: "succeeded", nominalAt: new Date(nominal) })
        expect(yield* names).toEqual(["kept-at-cutoff", "kept-expired-by-now-only", "kept-hour-after-cutoff"])
        expect(logs.withMessage(COMPLETED)[0]?.fields).toMatchObject({
          categories_deleted: 2,
          cutoff_date: new Date(cutoff).toISOString()
        })
      }))
  )

  // Known bug (see the report): the interrupted run's log line undercounts categories_deleted by the batch
  // in flight, and counts the expired rows it never reached as categories_kept_referenced.
  it.live("interrupted (shutdown past its grace): stops between batches, and the log counts what was deleted", () =>
    probe(Effect.gen(function*() {
      yield* reset
      const f = yield* fixture
      const total = 2_000
      const size = 5
      const old = new Date(Date.now() - 200 * DAY)
      yield* f.manyExpired(total, old)
      for (const name of ["referenced-1", "referenced-2", "referenced-3"]) {
        yield* f.inBudget(yield* f.category(name, old))
      }
      const logs = captureLogs()
      const { close, context } = yield* buildScoped(
        worker(logs, { cleanupBatchSize: size, shutdownTimeout: Duration.zero })
      )
      const running = yield* Effect.fork(Effect.provide(trigger, context))
      // Some batches are done: shut the worker down.
      yield* countCategories.pipe(
        Effect.filterOrFail((n) => n < total + 3, () => "no batch yet"),
        Effect.retry(Schedule.spaced("10 millis")),
        Effect.timeout("10 seconds")
      )
      yield* close
      yield* Fiber.interrupt(running)

      const left = yield* countCategories
      const deleted = total + 3 - left
      expect(left).toBeGreaterThan(3)
      // Whole batches only: each one is a transaction that committed or never happened.
      expect(deleted % size).toBe(0)
      expect(logs.withMessage(COMPLETED)).toEqual([])
      const interrupted = logs.withMessage(INTERRUPTED)
      expect(interrupted).toHaveLength(1)
      expect.soft(interrupted[0]?.fields.categories_deleted, "categories_deleted: rows actually deleted").toBe(deleted)
      expect.soft(
        interrupted[0]?.fields.categories_kept_referenced,
        "categories_kept_referenced: expired rows still referenced"
      ).toBe(3)
      const sql = yield* SqlClient.SqlClient
      const runs = yield* sql<
        { status: string }
      >`SELECT status FROM cron_worker.runs WHERE job = 'database_cleanup' ORDER BY started_at DESC LIMIT 1`
      expect(runs).toEqual([{ status: "interrupted" }])
    })))

  it.live(
    "references added by a transaction still open while the clean-up " +
      "runs: the clean-up neither waits nor deletes them",
    () =>
      probe(Effect.gen(function*() {
        yield* reset
        const f = yield* fixture
        const old = new Date(Date.now() - 200 * DAY)
        yield* f.manyExpired(50, old)
        const referencedLater = yield* f.category("referenced-by-open-transaction", old)
        const parentLater = yield* f.category("parent-of-child-in-open-transaction", old)
        const sql = yield* SqlClient.SqlClient
        const logs = captureLogs()
        // The application's transaction, in a fiber of its own: it references two expired categories, waits while
        // the clean-up runs (outside it), then commits.
        const inserted = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const application = yield* Effect.gen(function*() {
          yield* f.inBudget(referencedLater)
          yield* f.category("new-child", null, parentLater)
          yield* Deferred.succeed(inserted, undefined)
          yield* Deferred.await(release)
        }).pipe(sql.withTransaction, Effect.fork)
        yield* Deferred.await(inserted)
        const record = yield* trigger.pipe(
          Effect.provide(worker(logs, { cleanupBatchSize: 1 })),
          Effect.timeoutFail({
            // A wait for the transaction lasts until it commits (after this): 20 s covers the worker's start-up and
            // 51 batches on a loaded machine.
            duration: "20 seconds",
            onTimeout: () => "the clean-up waited for the open transaction"
          }),
          Effect.ensuring(Deferred.succeed(release, undefined))
        )
        yield* Fiber.join(application)
        expect(record.status).toBe("succeeded")
        expect(yield* names).toEqual([
          "new-child",
          "parent-of-child-in-open-transaction",
          "referenced-by-open-transaction"
        ])
        const [items] = yield* sql<
          { n: number }
        >`SELECT count(*)::int AS n FROM finance.budget_items WHERE category_id = ${referencedLater}`
        expect(items?.n).toBe(1)
        expect(logs.withMessage(COMPLETED)[0]?.fields).toMatchObject({ categories_deleted: 50 })
      }))
  )

  // Known bug (see the report): the caller's transaction (an ambient TransactionConnection) leaks into the run.
  it.live("a run triggered from inside someone else's transaction still works in transactions of its own", () =>
    probe(Effect.gen(function*() {
      yield* reset
      const f = yield* fixture
      const old = new Date(Date.now() - 200 * DAY)
      yield* f.category("committed-expired", old)
      const sql = yield* SqlClient.SqlClient
      const logs = captureLogs()
      const outcome = yield* Effect.gen(function*() {
        // Uncommitted: the clean-up must not see it.
        yield* f.category("uncommitted-expired", old)
        const record = yield* trigger.pipe(Effect.provide(worker(logs)))
        return yield* Effect.fail({ rolledBack: record.status })
      }).pipe(sql.withTransaction, Effect.flip)
      expect(outcome).toEqual({ rolledBack: "succeeded" })
      expect.soft(logs.withMessage(COMPLETED)[0]?.fields.categories_deleted, "the run saw only committed rows").toBe(1)
      // The run's batch committed on its own: the caller's rollback does not undo it.
      expect.soft(yield* names, "categories left after the caller rolled back").toEqual([])
    })))
})
