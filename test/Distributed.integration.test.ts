/**
 * Several schedulers in this process on one real PostgreSQL database, each
 * with its own pool and `WorkerConfig.instanceId`: what the PostgreSQL run
 * store makes of them. Claims of one instant go to the database in one
 * statement; overlap `queue`, `replace`, `allow` and `skip` hold across
 * instances; leases are renewed while a run lives and a run whose lease
 * expired is abandoned; pauses bind every instance; catch-up `all` (serial,
 * capped) and `latest` (window); the maintenance job; the `@every` grid.
 *
 * Each test has a database of its own and its own instances, so the tests
 * run concurrently. Most wait on real time: a job's slots are given as the
 * seconds of the minute to fire at, chosen a little ahead of now when the
 * job is registered (`scheduler.register` after start launches it at once),
 * and different instances get different seconds of one job when a test needs
 * to know which instance claims which slot.
 */
import { SqlClient } from "@effect/sql"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Logger, Option, Redacted, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import { Control } from "../src/Control.js"
import * as Database from "../src/Database.js"
import * as Job from "../src/Job.js"
import { maintenance } from "../src/Maintenance.js"
import * as Partition from "../src/Partition.js"
import * as RunStore from "../src/RunStore.js"
import * as PgRunStore from "../src/RunStore/Pg.js"
import { Scheduler } from "../src/Scheduler.js"
import * as Worker from "../src/Worker.js"
import * as WorkerConfig from "../src/WorkerConfig.js"
import { createDatabase, scopedProxy, servicesAvailable, type TestDatabase, via } from "./services.js"
import { buildScoped, type CapturedLogs, captureLogs, waitUntil } from "./utils.js"

const available = await servicesAvailable(["postgres"])

const SECOND = 1000
const DAY = 86_400_000

/** Databases of this file, dropped at the end (also those of a test that failed half-way). */
const databases: Array<TestDatabase> = []
afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()))
})

/** A fresh database of the test's own. */
const freshDatabase = Effect.promise(async () => {
  const db = await createDatabase("cw_dist")
  databases.push(db)
  return db
})

const configFor = (db: TestDatabase, instance: string, overrides: Partial<WorkerConfig.WorkerConfigShape> = {}) =>
  WorkerConfig.layerWith({
    databaseUrl: Option.some(Redacted.make(db.url)),
    // Many instances at once on one server: small pools.
    databasePoolSize: 3,
    instanceId: Option.some(instance),
    // The application_name of its connections: how the database tells the instances apart.
    serviceName: instance,
    leaseDuration: Duration.seconds(3),
    shutdownTimeout: Duration.seconds(2),
    maxConcurrentJobs: 0,
    // These tests pin what every instance does with every slot of a job (claims, overlap across instances, pause):
    // every instance claims every slot. The partition of jobs between instances has its own tests.
    claimPartition: false,
    ...overrides
  })

/** The schema, migrated once before any instance starts (so that a test can add to it first). */
const migrate = (db: TestDatabase, then: Effect.Effect<void, never, SqlClient.SqlClient> = Effect.void) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Database.layer.pipe(Layer.provide(configFor(db, "migrate"))))
    yield* Effect.provide(then, context)
  })).pipe(Effect.orDie, Effect.provide(Logger.remove(Logger.defaultLogger)))

/** A connection pool of the test's own on `db`, to look at the tables after the instances have gone. */
const observer = (db: TestDatabase) =>
  Layer.build(Database.layer.pipe(Layer.provide(configFor(db, "observer")))).pipe(
    Effect.map((context) => Context.get(context, SqlClient.SqlClient)),
    Effect.orDie,
    Effect.provide(Logger.remove(Logger.defaultLogger))
  )

/** One worker instance in this process: the scheduler started, with no job yet (see `register`). */
interface Instance {
  readonly id: string
  readonly scheduler: Scheduler
  readonly store: RunStore.RunStoreShape
  readonly control: Control
  readonly sql: SqlClient.SqlClient
  readonly logs: CapturedLogs
  /** Its shutdown: the scope of its layers closed. */
  readonly close: Effect.Effect<void>
}

const startInstance = (
  db: TestDatabase,
  id: string,
  options: { readonly config?: Partial<WorkerConfig.WorkerConfigShape>; readonly maintenance?: boolean } = {}
): Effect.Effect<Instance, never, Scope.Scope> =>
  Effect.gen(function*() {
    const logs = captureLogs()
    const stack = Worker.layer(options.maintenance === true ? [maintenance] : []).pipe(
      Layer.provideMerge(Control.Default),
      Layer.provideMerge(Scheduler.Default),
      Layer.provideMerge(PgRunStore.layer),
      Layer.provideMerge(Database.layer),
      Layer.provideMerge(configFor(db, id, options.config)),
      Layer.provide(Layer.merge(Logger.remove(Logger.defaultLogger), logs.layer))
    )
    const { close, context } = yield* buildScoped(stack).pipe(Effect.orDie)
    // Closed when the test ends, unless the test closed it before (closing twice is harmless).
    yield* Effect.addFinalizer(() => close)
    return {
      id,
      scheduler: Context.get(context, Scheduler),
      store: Context.get(context, RunStore.RunStore),
      control: Context.get(context, Control),
      sql: Context.get(context, SqlClient.SqlClient),
      logs,
      close
    }
  })

/** A run of `instance` (which then died) claimed in the store at `slot`, as if it were in flight. Returns its id. */
const orphanRun = (on: Instance, job: string, slot: number, instance: string, leaseSeconds: number) =>
  Effect.gen(function*() {
    const runId = randomUUID()
    const claimed = yield* on.store.claim({
      runId,
      job,
      nominalAt: new Date(slot),
      reason: "scheduled",
      instance,
      at: new Date(),
      leaseSeconds
    })
    expect(claimed._tag).toBe("Claimed")
    return runId
  })

/** What a run of a probe job saw: which instance ran it, when its work began and ended, how. */
interface Span {
  readonly job: string
  readonly instance: string
  readonly runId: string
  readonly nominalAt: number
  readonly reason: Job.RunReason
  readonly start: number
  end: number | undefined
  outcome: "done" | "interrupted" | undefined
}

/** A job that records its runs in `spans` and works (sleeps) `work` ms. */
const probe = (
  spans: Array<Span>,
  instance: string,
  name: string,
  schedule: string,
  work: number,
  options: Omit<Job.JobOptions<never, Job.CurrentRun>, "name" | "schedule" | "run"> = {}
) =>
  Job.make({
    name,
    schedule,
    timeout: 0,
    ...options,
    run: Effect.gen(function*() {
      const run = yield* Job.CurrentRun
      const span: Span = {
        job: run.job,
        instance,
        runId: run.runId,
        nominalAt: run.nominalAt.getTime(),
        reason: run.reason,
        start: Date.now(),
        end: undefined,
        outcome: undefined
      }
      spans.push(span)
      yield* Effect.sleep(work).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            span.end = Date.now()
            span.outcome = Exit.isSuccess(exit) ? "done" : "interrupted"
          })
        )
      )
    })
  })

/** Registers `job` on `instance`'s running scheduler: it is launched at once. */
const register = (instance: Instance, job: Job.Job<never, Job.CurrentRun>) =>
  instance.scheduler.register(job).pipe(Effect.orDie)

/** A whole second at least `marginMs` from now. */
const secondAhead = (marginMs = 1500) => Math.ceil((Date.now() + marginMs) / SECOND) * SECOND

/** A schedule firing once a minute, at the second of the minute of each instant in `at` (epoch ms). */
const atSeconds = (...at: ReadonlyArray<number>) => `${at.map((t) => new Date(t).getUTCSeconds()).join(",")} * * * * *`

const iso = (millis: number) => new Date(millis).toISOString()

/** Sleeps until the wall clock reads `millis`. */
const sleepUntil = (millis: number) => Effect.suspend(() => Effect.sleep(Math.max(0, millis - Date.now())))

/** The job's history, oldest slot first. */
const slots = (instance: Instance, job: string) =>
  Effect.map(
    instance.store.history({ job, limit: 10_000 }),
    (records) =>
      [...records].sort((a, b) =>
        a.nominalAt.getTime() - b.nominalAt.getTime() || a.startedAt.getTime() - b.startedAt.getTime()
      )
  )

/**
 * A succeeded slot of `job` at `at` in the history, run by an instance "before" (the newest slot before a downtime);
 * its run id.
 */
const pastRun = (instance: Instance, job: string, at: number) =>
  Effect.gen(function*() {
    const runId = randomUUID()
    yield* instance.store.claim({
      runId,
      job,
      nominalAt: new Date(at),
      reason: "scheduled",
      instance: "before",
      at: new Date(at),
      leaseSeconds: 3
    })
    yield* instance.store.finish(runId, { status: "succeeded", attempt: 1, at: new Date(at + 10) })
    return runId
  })

/** `[nominal ISO, status, skip reason or reason, instance]` per record: compact for `toEqual`. */
const brief = (records: ReadonlyArray<RunStore.RunRecord>) =>
  records.map((r) => [iso(r.nominalAt.getTime()), r.status, r.skipReason ?? r.reason, r.instance])

/** True when some two spans of different instances overlap in time. */
const overlapping = (spans: ReadonlyArray<Span>) =>
  spans.some((a) =>
    spans.some((b) => a.instance !== b.instance && a.start < (b.end ?? Infinity) && b.start < (a.end ?? Infinity))
  )

describe.skipIf(!available).concurrent("distributed scheduling: several instances on one PostgreSQL", {
  timeout: 60_000
}, () => {
  it.scopedLive(
    "jobs split between instances (WORKER_CLAIM_PARTITION): each slot runs once, on its job's owner; a stopped " +
      "instance's share runs on the other within seconds, no slot lost",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        yield* migrate(db)
        const config = { claimPartition: true }
        const a = yield* startInstance(db, "part-a", { config })
        const b = yield* startInstance(db, "part-b", { config })
        const spans: Array<Span> = []
        const names = Array.from({ length: 30 }, (_, i) => `part-${String(i).padStart(2, "0")}`)
        for (const name of names) {
          yield* register(a, probe(spans, a.id, name, "* * * * * *", 0))
          yield* register(b, probe(spans, b.id, name, "* * * * * *", 0))
        }
        const owners = new Map(names.map((name) => [name, Partition.owner(name, [a.id, b.id])]))
        const ofB = names.filter((name) => owners.get(name) === b.id)
        expect(ofB.length).toBeGreaterThan(0)
        expect(ofB.length).toBeLessThan(names.length)
        // Both see each other beating (read every second) before the judged seconds.
        const first = secondAhead(2500)
        const judged = [first, first + SECOND, first + 2 * SECOND]
        yield* sleepUntil(judged[2]! + 1500)
        // Each run noted as it starts, after its claim: a round trip that a loaded machine may take past the 1.5 s.
        yield* waitUntil(
          "every job's run of each judged slot has started",
          Effect.sync(() =>
            judged.every((slot) =>
              new Set(spans.filter((span) => span.nominalAt === slot).map((span) => span.job)).size === names.length
            )
          )
        )
        for (const slot of judged) {
          const runs = spans.filter((span) => span.nominalAt === slot)
          expect(runs.map((span) => span.job).sort()).toEqual(names)
          for (const span of runs) expect(span.instance).toBe(owners.get(span.job))
        }
        // b stops: it leaves the live instances as it closes (not 3 s of silence later), the slots of its jobs are
        // then a's (read within a second), those noted before that taken over late, none lost.
        yield* b.close
        const closed = Date.now()
        expect(yield* a.store.partition!.live).toEqual([a.id])
        const after = Array.from({ length: 8 }, (_, i) => secondAhead(0) + (i + 1) * SECOND)
        yield* sleepUntil(after.at(-1)! + 7 * SECOND)
        const rows = yield* a.sql<{ job: string; nominal_at: Date; status: string; instance: string }>`
          SELECT job, nominal_at, status || coalesce(' ' || skip_reason, '') AS status, instance FROM cron_worker.runs
          WHERE nominal_at = ANY(${after.map((t) => new Date(t))}::timestamptz[])`
        for (const slot of after) {
          const of = rows.filter((row) => row.nominal_at.getTime() === slot)
          expect(of.map((row) => row.job).sort(), `slot ${slot - closed} ms after the close`).toEqual(names)
          // Before a reads that b left its slots are taken over late (after their grace or hold), as a runs the newer
          // slots of the same jobs as their owner: some are then skipped (overlap), recorded all the same. After, all
          // run.
          // The boundary: the live instances read every second, a grace, and 3 s for a loaded machine.
          const settled = Partition.MEMBERS_MILLIS + Partition.GRACE_MILLIS + 3 * SECOND
          const allowed = slot - closed < settled ? ["succeeded", "skipped overlap"] : ["succeeded"]
          expect(
            of.filter((row) => !allowed.includes(row.status) || row.instance !== a.id)
              .map((row) => `${row.job} ${row.status} ${row.instance} ${slot - closed}`)
          ).toEqual([])
        }
        // Each once.
        const ran = spans.filter((span) => after.includes(span.nominalAt)).map((span) =>
          `${span.job}@${span.nominalAt}`
        )
        expect(new Set(ran).size).toBe(ran.length)
      }),
    60_000
  )

  it.scopedLive("claims of slots due at one instant go to the database in one statement, not one per job", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      // Every INSERT statement on the runs table, as the database saw it (also one that inserts nothing).
      yield* migrate(
        db,
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.gen(function*() {
            yield* sql`CREATE TABLE public.claim_statements (inserted int, nominals int,
              first_nominal timestamptz, app text)`
            yield* sql.unsafe(`
            CREATE FUNCTION public.count_claims() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO public.claim_statements
                SELECT count(*), count(DISTINCT nominal_at), min(nominal_at), current_setting('application_name')
                  FROM new_rows;
              RETURN NULL;
            END $$`)
            yield* sql.unsafe(`
            CREATE TRIGGER count_claims AFTER INSERT ON cron_worker.runs
              REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_claims()`)
          }).pipe(Effect.orDie))
      )
      const a = yield* startInstance(db, "batch-a")
      const spans: Array<Span> = []
      const names = Array.from({ length: 50 }, (_, i) => `batch-${String(i).padStart(2, "0")}`)
      // Registered early in a second, so that all 50 have the same first slot.
      yield* sleepUntil(secondAhead(0) + 100)
      for (const name of names) yield* register(a, probe(spans, a.id, name, "* * * * * *", 0))
      // The first whole second after the last registration: a slot of every job (on a slow machine the
      // registrations may straddle a second, whose slot then has only the jobs registered before it).
      const first = secondAhead(0)
      const judged = [first, first + SECOND, first + 2 * SECOND]
      // Three slots at least: the third one's 50 runs recorded before the shutdown, which may cut a later slot short.
      yield* waitUntil(
        "the 50 runs of the third slot have succeeded",
        a.sql<{ n: number }>`
          SELECT count(*)::int AS n FROM cron_worker.runs WHERE nominal_at = ${new Date(
          judged[2]!
        )} AND status = 'succeeded'`.pipe(
          Effect.map((rows) => rows[0]?.n === 50),
          Effect.orDie
        )
      )
      yield* a.close

      const sql = yield* observer(db)
      const statements = yield* sql<{ inserted: number; nominals: number; first_nominal: Date | null; app: string }>`
        SELECT inserted, nominals, first_nominal, app FROM public.claim_statements ORDER BY first_nominal`.pipe(
        Effect.orDie
      )
      const rows = yield* sql<{ nominal_at: Date; jobs: number; succeeded: number }>`
        SELECT nominal_at, count(DISTINCT job)::int AS jobs, count(*)
          FILTER (WHERE status = 'succeeded')::int AS succeeded
        FROM cron_worker.runs GROUP BY nominal_at ORDER BY nominal_at`.pipe(Effect.orDie)
      const inWindow = rows.filter((r) => judged.includes(r.nominal_at.getTime()))
      expect(inWindow.map((r) => iso(r.nominal_at.getTime())), JSON.stringify(rows)).toEqual(judged.map(iso))
      // Every slot of every job ran once...
      expect(inWindow.map((r) => [r.jobs, r.succeeded])).toEqual(judged.map(() => [50, 50]))
      // ...and each instant's 50 claims took one statement (one that inserted nothing would show here too).
      expect(
        statements.filter((s) => s.first_nominal === null || judged.includes(s.first_nominal.getTime()))
          .map((s) => [s.first_nominal === null ? null : iso(s.first_nominal.getTime()), s.inserted, s.nominals, s.app])
      ).toEqual(judged.map((t) => [iso(t), 50, 1, "batch-a"]))
    }))

  it.scopedLive(
    "overlap queue across instances: one run waits in the database for " +
      "the other instance's run, a second is skipped",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const [a, b, c] = yield* Effect.all([
          startInstance(db, "queue-a"),
          startInstance(db, "queue-b"),
          startInstance(db, "queue-c")
        ], {
          concurrency: "unbounded"
        })
        const spans: Array<Span> = []
        const job = "queued"
        const s = secondAhead()
        // a runs the slot at s for 3.5 s; b's slot at s+1 queues behind it; c's at s+2 finds the queue full.
        yield* register(a, probe(spans, a.id, job, atSeconds(s), 3500, { overlap: "queue" }))
        yield* register(b, probe(spans, b.id, job, atSeconds(s + SECOND), 300, { overlap: "queue" }))
        yield* register(c, probe(spans, c.id, job, atSeconds(s + 2 * SECOND), 300, { overlap: "queue" }))

        // Watch the table while it happens: never more than one queued run of the job.
        const queuedSeen: Array<number> = []
        yield* waitUntil(
          "b's run has finished",
          Effect.gen(function*() {
            const records = yield* slots(a, job)
            queuedSeen.push(records.filter((r) => r.status === "queued").length)
            return records.some((r) => r.instance === b.id && r.status === "succeeded")
          }),
          20_000
        )
        expect(Math.max(...queuedSeen)).toBe(1)
        expect(brief(yield* slots(a, job))).toEqual([
          [iso(s), "succeeded", "scheduled", a.id],
          [iso(s + SECOND), "succeeded", "scheduled", b.id],
          [iso(s + 2 * SECOND), "skipped", "overlap", c.id]
        ])
        const ranA = spans.find((span) => span.instance === a.id)
        const ranB = spans.find((span) => span.instance === b.id)
        expect(spans.filter((span) => span.instance === c.id)).toEqual([])
        expect(ranA?.end).toBeDefined()
        // b started once a's run had ended (it polls every second), not before; and because it saw the run end,
        // not because a's lease ran out: renewed every second for 3 s, that lease lasts 2 s at least past the end.
        // (Not within 1.5 s: a poll a second apart, the outcome's write and the start take longer on a loaded machine.)
        expect(ranB?.start).toBeGreaterThanOrEqual(ranA?.end ?? Infinity)
        expect(ranB?.start).toBeLessThan((ranA?.end ?? 0) + 2 * SECOND)
        expect(b.logs.withMessage("job queued behind a run on another instance")).toHaveLength(1)
        expect(c.logs.withMessage("job skipped (a run is already queued on another instance)")).toHaveLength(1)
      })
  )

  it.scopedLive(
    "overlap replace across instances: the other instance's run is " +
      "interrupted, recorded with the replacing run and instance",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const [a, b] = yield* Effect.all([startInstance(db, "replace-a"), startInstance(db, "replace-b")], {
          concurrency: "unbounded"
        })
        const spans: Array<Span> = []
        const job = "replaced"
        const s = secondAhead()
        yield* register(a, probe(spans, a.id, job, atSeconds(s), 20_000, { overlap: "replace" }))
        yield* register(b, probe(spans, b.id, job, atSeconds(s + SECOND), 300, { overlap: "replace" }))
        yield* waitUntil(
          "b's run has finished",
          Effect.map(slots(a, job), (records) => records.some((r) => r.instance === b.id && r.status === "succeeded"))
        )

        const records = yield* slots(a, job)
        expect(brief(records)).toEqual([
          [iso(s), "interrupted", "scheduled", a.id],
          [iso(s + SECOND), "succeeded", "scheduled", b.id]
        ])
        expect(records[0]?.error).toBe(`replaced by the run of ${iso(s + SECOND)} on instance ${b.id}`)
        const ranA = spans.find((span) => span.instance === a.id)
        const ranB = spans.find((span) => span.instance === b.id)
        expect(ranA?.outcome).toBe("interrupted")
        // Interrupted within a lease renewal or two, long before its 20 s of work; b ran after it stopped.
        expect((ranA?.end ?? Infinity) - s).toBeLessThan(5000)
        expect(ranB?.start).toBeGreaterThanOrEqual(ranA?.end ?? Infinity)
        expect(overlapping(spans)).toBe(false)
        expect(b.logs.withMessage("job replacing its run on another instance").map((e) => e.fields.replaced)).toEqual([
          1
        ])
      })
  )

  it.scopedLive(
    "overlap allow across instances: both runs go at once; skip, with " +
      "a lease renewed past its length, runs neither",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const [a, b] = yield* Effect.all([startInstance(db, "allow-a"), startInstance(db, "allow-b")], {
          concurrency: "unbounded"
        })
        const spans: Array<Span> = []
        const s = secondAhead()
        const next = [1, 2, 3, 4, 5].map((n) => s + n * SECOND)
        // allow: a works 2.5 s from s, b from s+1.
        yield* register(a, probe(spans, a.id, "allowed", atSeconds(s), 2500, { overlap: "allow" }))
        yield* register(b, probe(spans, b.id, "allowed", atSeconds(s + SECOND), 300, { overlap: "allow" }))
        // skip: a works 6.5 s from s, twice its 3 s lease; b's slots in that time are all skipped.
        yield* register(a, probe(spans, a.id, "skipped", atSeconds(s), 6500))
        yield* register(b, probe(spans, b.id, "skipped", atSeconds(...next), 100))
        yield* waitUntil(
          "a's long run has finished",
          Effect.map(
            slots(a, "skipped"),
            (records) => records.some((r) => r.instance === a.id && r.status !== "running")
          ),
          20_000
        )

        expect(brief(yield* slots(a, "allowed"))).toEqual([
          [iso(s), "succeeded", "scheduled", a.id],
          [iso(s + SECOND), "succeeded", "scheduled", b.id]
        ])
        const allowed = spans.filter((span) => span.job === "allowed")
        expect(allowed.map((span) => [span.instance, span.outcome])).toEqual([[a.id, "done"], [b.id, "done"]])
        expect(overlapping(allowed)).toBe(true)
        expect(spans.filter((span) => span.job === "skipped").map((span) => [span.instance, span.outcome])).toEqual([[
          a.id,
          "done"
        ]])

        const skipped = yield* slots(a, "skipped")
        expect(brief(skipped)).toEqual([
          [iso(s), "succeeded", "scheduled", a.id],
          ...next.map((t) => [iso(t), "skipped", "overlap", b.id])
        ])
        expect(skipped[0]?.durationMs).toBeGreaterThanOrEqual(6000)
        expect(
          b.logs.withMessage("job skipped (previous run still running on another instance)").map((e) => e.fields.job)
        ).toEqual(
          next.map(() => "skipped")
        )
      })
  )

  it.scopedLive(
    "a run whose worker stops renewing its lease blocks skip until the " +
      "lease expires, is marked abandoned, is not run again",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const a = yield* startInstance(db, "survivor")
        const job = "orphaned"
        // A run of an instance that died at once: its lease (3 s) is never renewed.
        const orphanSlot = Math.floor(Date.now() / SECOND) * SECOND
        const orphan = yield* orphanRun(a, job, orphanSlot, "dead", 3)
        // The lease as the database set it (its clock, at the claim's statement): not `Date.now()` after the
        // claim returned, which a slow round trip would put later.
        const [lease] = yield* a.sql<
          { lease_until: Date }
        >`SELECT lease_until FROM cron_worker.runs WHERE run_id = ${orphan}`.pipe(Effect.orDie)
        const expires = lease!.lease_until.getTime()
        const spans: Array<Span> = []
        yield* register(a, probe(spans, a.id, job, "* * * * * *", 100))
        // Slots after the expiry run as soon as the lease has expired, maybe before the reaper (every second) has
        // marked the run: wait for that too, and for its log line (written after the update).
        yield* waitUntil(
          "two slots after the expiry have run and the orphan is marked abandoned",
          Effect.map(
            slots(a, job),
            (records) =>
              records.filter((r) => r.nominalAt.getTime() > expires && r.status === "succeeded").length >= 2 &&
              records.some((r) => r.runId === orphan && r.status === "abandoned") &&
              a.logs.withMessage("run abandoned: its worker stopped").length > 0
          ),
          15_000
        )

        const records = yield* slots(a, job)
        const abandoned = records.find((r) => r.runId === orphan)
        expect(abandoned).toMatchObject({
          status: "abandoned",
          instance: "dead",
          error: "abandoned: instance dead stopped renewing its lease"
        })
        // Marked within a heartbeat (1 s) of the expiry, after it.
        expect(abandoned?.finishedAt?.getTime()).toBeGreaterThanOrEqual(expires - 500)
        expect(abandoned?.finishedAt?.getTime()).toBeLessThanOrEqual(expires + 2500)
        const others = records.filter((r) => r.runId !== orphan)
        // While the lease held, the slots were skipped (overlap); once expired, they ran.
        const skippedSlots = others.filter((r) => r.status === "skipped")
        expect(skippedSlots.length).toBeGreaterThanOrEqual(1)
        for (const r of skippedSlots) {
          expect(r.skipReason).toBe("overlap")
          expect(r.nominalAt.getTime()).toBeLessThan(expires + 500)
        }
        for (const r of others.filter((r) => r.nominalAt.getTime() > expires + 1500)) expect(r.status).toBe("succeeded")
        // The abandoned slot was not run again, by anyone.
        expect(spans.filter((span) => span.nominalAt === orphanSlot)).toEqual([])
        expect(records.filter((r) => r.nominalAt.getTime() === orphanSlot)).toHaveLength(1)
        expect(a.logs.withMessage("run abandoned: its worker stopped").map((e) => e.fields)).toEqual(
          [
            expect.objectContaining({ job, run_id: orphan, nominal_at: iso(orphanSlot), instance: "dead" })
          ]
        )
      })
  )

  it.scopedLive("pause binds every instance: slots after it are recorded skipped (paused) on each, until resume", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const [a, b] = yield* Effect.all([startInstance(db, "pause-a"), startInstance(db, "pause-b")], {
        concurrency: "unbounded"
      })
      const job = "pausable"
      const spans: Array<Span> = []
      // a claims the even seconds, b the odd ones.
      yield* register(a, probe(spans, a.id, job, "*/2 * * * * *", 50))
      yield* register(b, probe(spans, b.id, job, "1/2 * * * * *", 50))
      const ranOn = (instance: Instance, after: number) =>
        spans.some((span) => span.instance === instance.id && span.nominalAt > after)
      yield* waitUntil("both instances have run the job", Effect.sync(() => ranOn(a, 0) && ranOn(b, 0)))

      yield* a.control.pause(job, "maintenance window")
      const pausedAt = Date.now()
      const status = Option.getOrThrow((yield* b.control.jobs).find((j) => j.name === job)?.paused ?? Option.none())
      expect(status).toMatchObject({ job, reason: "maintenance window" })
      yield* Effect.sleep(3200)
      // Resumed once every slot due since the pause has its record: a slot due just before the resume whose
      // claim (a little after its instant, later on a loaded machine) comes after it rightly runs, so the
      // slots judged are those recorded before the resume, not all those due before it.
      let recordedUpTo = 0
      yield* waitUntil(
        "every slot since the pause is recorded",
        Effect.suspend(() => {
          const upTo = Date.now()
          const from = Math.floor(pausedAt / SECOND) * SECOND
          const due = Array.from(
            { length: (Math.floor(upTo / SECOND) * SECOND - from) / SECOND },
            (_, i) => from + (i + 1) * SECOND
          )
          return Effect.map(slots(a, job), (records) => {
            const all = due.every((t) => records.some((r) => r.nominalAt.getTime() === t))
            if (all) recordedUpTo = upTo
            return all
          })
        })
      )
      expect(yield* b.control.resume(job)).toBe(true)
      const resumedAt = Date.now()
      expect(yield* a.control.resume(job)).toBe(false)
      yield* waitUntil(
        "both instances have run the job again",
        Effect.sync(() => ranOn(a, resumedAt) && ranOn(b, resumedAt))
      )

      const records = yield* slots(a, job)
      const whilePaused = records.filter((r) =>
        r.nominalAt.getTime() > pausedAt && r.nominalAt.getTime() <= recordedUpTo
      )
      expect(whilePaused.length).toBeGreaterThanOrEqual(3)
      expect(whilePaused.map((r) => [r.status, r.skipReason])).toEqual(whilePaused.map(() => ["skipped", "paused"]))
      expect(new Set(whilePaused.map((r) => r.instance))).toEqual(new Set([a.id, b.id]))
      expect(spans.filter((span) => span.nominalAt > pausedAt && span.nominalAt <= recordedUpTo)).toEqual([])
      for (const instance of [a, b]) {
        expect(instance.logs.withMessage("job skipped (paused)").map((e) => e.fields.job)).toContain(job)
      }
      const after = records.filter((r) => r.nominalAt.getTime() > resumedAt)
      expect(after.length).toBeGreaterThanOrEqual(2)
      expect(after.every((r) => r.status === "succeeded" || r.status === "running")).toBe(true)
    }))

  it.scopedLive(
    "catch-up all on two instances starting at once: every " +
      "missed slot runs once, serially, none skipped",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const [a, b] = yield* Effect.all([startInstance(db, "all-a"), startInstance(db, "all-b")], {
          concurrency: "unbounded"
        })
        const job = "both-catch-up"
        const last = Math.floor(Date.now() / SECOND) * SECOND - 12 * SECOND
        yield* pastRun(a, job, last)
        const spans: Array<Span> = []
        // The seconds of the missed slots only: no scheduled run of the job comes during the test.
        const options = { catchUp: "all", catchUpWindow: "1 minute" } as const
        const schedule = `${
          Array.from({ length: 12 }, (_, i) => (new Date(last).getUTCSeconds() + i) % 60).join(",")
        } * * * * *`
        yield* Effect.all([
          register(a, probe(spans, a.id, job, schedule, 30, options)),
          register(b, probe(spans, b.id, job, schedule, 30, options))
        ], { concurrency: "unbounded" })
        // The 11 slots after `last`, all past: between two serial runs every row so far has ended,
        // so the wait is for all of them, not for the first moment nothing runs.
        yield* waitUntil(
          "the 11 catch-up runs have ended",
          Effect.map(
            slots(a, job),
            (rows) => rows.filter((r) => r.reason === "catch-up" && r.finishedAt !== undefined).length >= 11
          )
        )
        const caughtUp = (yield* slots(a, job)).filter((r) => r.reason === "catch-up")
        // Not one skipped for overlap by the other instance's catch-up run, none twice.
        expect(caughtUp.map((r) => r.status)).toEqual(caughtUp.map(() => "succeeded"))
        expect(caughtUp.map((r) => r.nominalAt.getTime()).sort()).toEqual(
          Array.from({ length: 11 }, (_, i) => last + (i + 1) * SECOND)
        )
        const runs = spans.filter((span) => span.reason === "catch-up").sort((x, y) => x.start - y.start)
        expect(runs.map((span) => span.nominalAt).sort()).toEqual(caughtUp.map((r) => r.nominalAt.getTime()).sort())
        expect(overlapping(runs)).toBe(false)
      })
  )

  it.scopedLive(
    "catch-up all: the missed slots within the window run one after another, " +
      "the newest 100 at most; the rest are recorded missed",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const a = yield* startInstance(db, "catchup-all")
        const job = "catching-up"
        // The newest slot in the history: 150 s ago (the worker was down since).
        const last = Math.floor(Date.now() / SECOND) * SECOND - 150 * SECOND
        const marker = yield* pastRun(a, job, last)
        const spans: Array<Span> = []
        // allow: the job's own scheduled runs, meanwhile, must not make catch-up slots skip (overlap).
        yield* register(
          a,
          probe(spans, a.id, job, "* * * * * *", 5, { catchUp: "all", catchUpWindow: "120 seconds", overlap: "allow" })
        )
        yield* waitUntil(
          "100 catch-up slots have an outcome",
          Effect.map(
            slots(a, job),
            (records) => records.filter((r) => r.reason === "catch-up" && r.status !== "running").length >= 100
          ),
          100_000
        )

        const records = (yield* slots(a, job)).filter((r) => r.runId !== marker)
        const caughtUp = records.filter((r) => r.reason === "catch-up")
        expect(caughtUp).toHaveLength(100)
        expect(caughtUp.every((r) => r.status === "succeeded" && r.instance === a.id)).toBe(true)
        const newest = caughtUp[99]!.nominalAt.getTime()
        // The newest 100 slots, consecutive.
        expect(caughtUp.map((r) => r.nominalAt.getTime())).toEqual(
          Array.from({ length: 100 }, (_, i) => newest - (99 - i) * SECOND)
        )
        // Within the 120 s window, the 20 slots before them are recorded as missed; older ones only counted.
        // (After `newest` the slots are the job's loop's: started late in a second, or on a busy process, it fires
        // its first slot when the next is already due, and records that first one missed as well.)
        const missed = records.filter((r) =>
          r.status === "skipped" && r.skipReason === "missed" && r.nominalAt.getTime() < newest
        )
        expect(missed.map((r) => [r.nominalAt.getTime(), r.reason])).toEqual(
          Array.from({ length: 20 }, (_, i) => [newest - (119 - i) * SECOND, "scheduled"])
        )
        expect(records.filter((r) => r.nominalAt.getTime() <= newest - 120 * SECOND)).toEqual([])
        // Serial, oldest first.
        const runs = spans.filter((span) => span.reason === "catch-up")
        expect(runs.map((span) => span.nominalAt)).toEqual(caughtUp.map((r) => r.nominalAt.getTime()))
        for (let i = 1; i < runs.length; i++) {
          expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end ?? Infinity)
        }
        expect(a.logs.withMessage("job missed slots while no worker ran").map((e) => [e.level, e.fields])).toEqual([
          ["WARN", expect.objectContaining({ job, missed: (newest - last) / SECOND, catch_up: "all", running: 100 })]
        ])
      }),
    // 100 runs one after another, each a claim and an outcome: tens of seconds on a loaded machine.
    120_000
  )

  it.scopedLive(
    "catch-up latest: the newest missed slot runs once if it is " +
      "within the window, not if it is older",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const a = yield* startInstance(db, "catchup-latest")
        // A daily slot 10 minutes ago, missed; the one the day before ran.
        const missedSlot = Math.floor(Date.now() / SECOND) * SECOND - 10 * 60 * SECOND
        const d = new Date(missedSlot)
        const daily = `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *`
        const spans: Array<Span> = []
        for (const job of ["inside", "outside"]) {
          yield* pastRun(a, job, missedSlot - DAY)
        }
        yield* register(a, probe(spans, a.id, "inside", daily, 5, { catchUpWindow: "1 hour" }))
        yield* register(a, probe(spans, a.id, "outside", daily, 5, { catchUpWindow: "5 minutes" }))
        // Its outcome is written after the run's work ends (through a batch): wait for the row, not the span.
        yield* waitUntil(
          "the catch-up run is recorded as ended",
          Effect.map(
            slots(a, "inside"),
            (records) => records.some((r) => r.reason === "catch-up" && r.finishedAt !== undefined)
          )
        )

        expect(brief(yield* slots(a, "inside"))).toEqual([
          [iso(missedSlot - DAY), "succeeded", "scheduled", "before"],
          [iso(missedSlot), "succeeded", "catch-up", a.id]
        ])
        expect(brief(yield* slots(a, "outside"))).toEqual([[iso(missedSlot - DAY), "succeeded", "scheduled", "before"]])
        expect(spans.map((span) => [span.nominalAt, span.reason])).toEqual([[missedSlot, "catch-up"]])
        const warnings = a.logs.withMessage("job missed slots while no worker ran").map((e) => e.fields)
        expect(warnings).toEqual([
          expect.objectContaining({ job: "inside", missed: 1, catch_up: "latest", running: 1 }),
          expect.objectContaining({ job: "outside", missed: 1, catch_up: "latest", running: 0 })
        ])
      })
  )

  it.scopedLive("a restart inside a slot does not run that slot again: the history says it was taken", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const job = "restarted"
      const spans: Array<Span> = []
      // No grace: the run is interrupted at shutdown.
      const a = yield* startInstance(db, "before-restart", { config: { shutdownTimeout: Duration.zero } })
      yield* register(a, probe(spans, a.id, job, "* * * * * *", 5000))
      yield* waitUntil("a run has begun", Effect.sync(() => spans.length > 0))
      const slot = spans[0]!.nominalAt
      yield* a.close
      const a2 = yield* startInstance(db, "after-restart")
      yield* register(a2, probe(spans, a2.id, job, "* * * * * *", 50))
      yield* waitUntil(
        "a later slot has run",
        Effect.sync(() => spans.some((span) => span.instance === a2.id && span.end !== undefined))
      )

      const records = yield* slots(a2, job)
      expect(brief(records.filter((r) => r.nominalAt.getTime() === slot))).toEqual([[
        iso(slot),
        "interrupted",
        "scheduled",
        a.id
      ]])
      expect(spans.filter((span) => span.nominalAt === slot).map((span) => [span.instance, span.outcome])).toEqual([[
        a.id,
        "interrupted"
      ]])
      expect(records.filter((r) => r.nominalAt.getTime() < slot)).toEqual([])
    }))

  it.scopedLive(
    "catch-up at start-up when the newest missed slot is not this instance's to " +
      "run: paused, or claimed by another instance starting at once",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const [a, b, c] = yield* Effect.all([
          startInstance(db, "start-a"),
          startInstance(db, "start-b"),
          startInstance(db, "start-c")
        ], {
          concurrency: "unbounded"
        })
        // Early in a second: a and b, launched together, must find the same newest missed slot. Launched either
        // side of a second (plus its margin), each would run a different one, both rightly.
        yield* sleepUntil(secondAhead(0) + 100)
        const now = Math.floor(Date.now() / SECOND) * SECOND
        const last = now - 40 * SECOND
        for (const job of ["raced", "paused"]) {
          yield* pastRun(a, job, last)
        }
        // Missed: the ten seconds after `last`, the newest 30 s old (older than LATE_MILLIS: a catch-up run);
        // then every second from 2 s ahead, for the loops.
        const seconds = [
          ...Array.from({ length: 10 }, (_, i) => last + (i + 1) * SECOND),
          ...Array.from({ length: 10 }, (_, i) => now + (i + 2) * SECOND)
        ].map((t) => new Date(t).getUTCSeconds())
        const schedule = `${seconds.join(",")} * * * * *`
        const spans: Array<Span> = []
        // Registration launches the job (start-up does the same for each job in turn): it must return.
        const launched = (instance: Instance, job: string) =>
          register(instance, probe(spans, instance.id, job, schedule, 50)).pipe(
            Effect.timeoutFail({
              duration: "5 seconds",
              onTimeout: () => `launching "${job}" on ${instance.id} did not return within 5 s`
            }),
            Effect.either
          )
        // Two instances start at once: both find the same slots missed, one wins the catch-up run.
        const raced = yield* Effect.all([launched(a, "raced"), launched(b, "raced")], { concurrency: "unbounded" })
        // A paused job: its catch-up slot is recorded as skipped (paused).
        yield* c.store.pause("paused", "frozen", new Date())
        const paused = yield* launched(c, "paused")
        expect([...raced, paused].map((result) => result._tag === "Left" ? result.left : "launched")).toEqual([
          "launched",
          "launched",
          "launched"
        ])

        yield* waitUntil(
          "the catch-up run of raced is recorded as ended",
          Effect.map(
            slots(a, "raced"),
            (rows) => rows.some((r) => r.reason === "catch-up" && r.finishedAt !== undefined)
          )
        )
        const racedRows = yield* slots(a, "raced")
        expect(racedRows.filter((r) => r.reason === "catch-up").map((r) => r.status)).toEqual(["succeeded"])
        expect(spans.filter((span) => span.job === "raced" && span.reason === "catch-up")).toHaveLength(1)
        const pausedRows = (yield* slots(c, "paused")).filter((r) => r.nominalAt.getTime() > last)
        expect(pausedRows.filter((r) => r.reason === "catch-up").map((r) => [r.status, r.skipReason])).toEqual([[
          "skipped",
          "paused"
        ]])
        expect(spans.filter((span) => span.job === "paused")).toEqual([])
        // The jobs' loops run: b's, alone once a has stopped; c's, once resumed.
        yield* a.close
        yield* c.store.resume("paused")
        const from = Date.now()
        yield* waitUntil(
          "b and c run their jobs' next slots",
          Effect.sync(() =>
            spans.some((span) => span.instance === b.id && span.reason === "scheduled" && span.nominalAt > from) &&
            spans.some((span) => span.instance === c.id && span.reason === "scheduled" && span.nominalAt > from)
          )
        )
      })
  )

  it.scopedLive(
    "the maintenance job deletes finished runs older than the " +
      "retention, in batches, and keeps live and recent ones",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        // The job also runs on its schedule, at minute 23 of every hour: not during this test.
        const HOUR = 3_600_000
        const scheduled = Math.ceil((Date.now() - 23 * 60 * SECOND) / HOUR) * HOUR + 23 * 60 * SECOND
        if (scheduled - Date.now() < 20 * SECOND) yield* sleepUntil(scheduled + SECOND)
        const a = yield* startInstance(db, "maint", { maintenance: true })
        const now = Date.now()
        const insert = (count: number, status: string, ageDays: number, job: string) =>
          a.sql`
          INSERT INTO cron_worker.runs (run_id, job, nominal_at, reason, status, attempt, instance,
            started_at, finished_at, lease_until)
          SELECT gen_random_uuid(), ${job}, ${new Date(
            now - ageDays * DAY
          )}::timestamptz - n * interval '1 second', 'scheduled', ${status},
                 1, 'x', ${new Date(now - ageDays * DAY)}::timestamptz - n * interval '1 second',
                 CASE WHEN ${status}::text IN ('running', 'queued') THEN NULL ELSE ${new Date(
            now - ageDays * DAY
          )}::timestamptz END,
                 CASE WHEN ${status}::text IN ('running', 'queued') THEN now() + interval '1 hour' ELSE NULL END
          FROM generate_series(1, ${count}) AS n`.pipe(Effect.orDie)
        // More than one batch of old finished runs, of every final status.
        yield* insert(6000, "succeeded", 31, "old")
        for (const status of ["failed", "timed_out", "interrupted", "skipped", "abandoned"]) {
          yield* insert(2, status, 40, `old-${status}`)
        }
        // Live ones, however old, and recent finished ones stay.
        yield* insert(1, "running", 40, "live-running")
        yield* insert(1, "queued", 40, "live-queued")
        yield* insert(3, "succeeded", 29, "recent")

        const record = Option.getOrThrow(yield* a.scheduler.trigger(maintenance.name))
        expect(record).toMatchObject({ job: "cron_worker.maintenance", status: "succeeded", reason: "manual" })
        const left = yield* a.sql<{ job: string; status: string; n: number }>`
        SELECT job, status, count(*)::int AS n FROM cron_worker.runs GROUP BY job, status ORDER BY job, status`.pipe(
          Effect.orDie
        )
        // Each job's newest slot stays however old: catch-up after a long downtime counts from it.
        expect(left.map((r) => [r.job, r.status, r.n]).sort()).toEqual([
          ["cron_worker.maintenance", "succeeded", 1],
          ["live-queued", "queued", 1],
          ["live-running", "running", 1],
          ["old", "succeeded", 1],
          ...["abandoned", "failed", "interrupted", "skipped", "timed_out"].map((
            status
          ) => [`old-${status}`, status, 1]),
          ["recent", "succeeded", 3]
        ].sort())
        const newest = yield* a.sql<{ nominal_at: Date }>`SELECT nominal_at FROM cron_worker.runs WHERE job = 'old'`
          .pipe(
            Effect.orDie
          )
        expect(newest.map((r) => r.nominal_at.getTime())).toEqual([now - 31 * DAY - SECOND])
        expect(a.logs.withMessage("history pruned").map((e) => e.fields)).toEqual([
          expect.objectContaining({ runs_deleted: 6004, before: iso(record.nominalAt.getTime() - 30 * DAY) })
        ])
      })
  )

  it.scopedLive(
    "@every keeps one grid across instances and restarts: the anchor of " +
      "the first registration, stored in cron_worker.jobs",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const job = "gridded"
        const spans: Array<Span> = []
        const a = yield* startInstance(db, "grid-a")
        yield* register(a, probe(spans, a.id, job, "@every 2s", 50))
        const anchor = (yield* a.scheduler.jobs).find((j) => j.name === job)?.anchor ?? NaN
        // The grid's slots are at anchor + 2k s. b joins 1.3 s after the anchor, off a's grid; then a stops,
        // half-way between two slots (a slot claimed as the shutdown begins is recorded skipped, shutdown), and a
        // new a starts 0.7 s later, off the grid again. Timed from the anchor, not by sleeps after slow start-ups.
        yield* sleepUntil(anchor + 1300)
        const b = yield* startInstance(db, "grid-b")
        yield* register(b, probe(spans, b.id, job, "@every 2s", 50))
        yield* sleepUntil(anchor + 5000)
        yield* a.close
        yield* sleepUntil(anchor + 5700)
        const a2 = yield* startInstance(db, "grid-a2")
        yield* register(a2, probe(spans, a2.id, job, "@every 2s", 50))
        const restartedAt = Date.now()
        // Two slots after the restart, and every slot recorded so far ended (the run of the newest may still be
        // going, or its outcome on its way to the database, at any fixed moment).
        let records: ReadonlyArray<RunStore.RunRecord> = []
        yield* waitUntil(
          "two slots after the restart have run, and none is running",
          Effect.map(slots(b, job), (rows) => {
            records = rows
            return rows.filter((r) => r.nominalAt.getTime() > restartedAt).length >= 2 &&
              rows.every((r) => r.status !== "running")
          })
        )

        for (const instance of [b, a2]) {
          expect((yield* instance.scheduler.jobs).find((j) => j.name === job)?.anchor).toBe(anchor)
        }
        const stored = yield* b.sql<{ anchor: Date }>`SELECT anchor FROM cron_worker.jobs WHERE job = ${job}`.pipe(
          Effect.orDie
        )
        expect(stored.map((r) => r.anchor.getTime())).toEqual([anchor])
        expect(records.length).toBeGreaterThanOrEqual(4)
        // Every slot on the grid, each once, none left out.
        const nominals = records.map((r) => r.nominalAt.getTime())
        expect(nominals.map((t) => (t - anchor) % 2000)).toEqual(nominals.map(() => 0))
        expect(nominals.slice(1).map((t, i) => t - nominals[i]!)).toEqual(nominals.slice(1).map(() => 2000))
        expect(records.every((r) => r.status === "succeeded" && r.reason === "scheduled")).toBe(true)
        expect(records.filter((r) => r.nominalAt.getTime() > restartedAt).length).toBeGreaterThanOrEqual(2)
      })
  )

  it.scopedLive(
    "the database cut for 5 s: every slot of the outage gets its record once it answers (store_unavailable), " +
      "and catch-up latest runs the newest",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const proxy = yield* scopedProxy(db.url, 5432)
        const a = yield* startInstance({ ...db, url: via(db.url, proxy.port) }, "store-cut")
        const job = "through-a-cut"
        const spans: Array<Span> = []
        // Overlap `allow`: the catch-up run must not depend on whether the run of the second the store came back in
        // is still going when it starts (under `skip` it is then skipped, rightly, for overlap).
        yield* register(a, probe(spans, a.id, job, "* * * * * *", 5, { catchUp: "latest", overlap: "allow" }))
        yield* waitUntil("two slots ran", Effect.sync(() => spans.length >= 2))
        const cutAt = Date.now()
        proxy.cut()
        yield* Effect.sleep(Duration.seconds(5))
        proxy.restore()
        const restoredAt = Date.now()
        // The slots due while the connection was cut (the last may have run normally, just after the restore).
        const outage = (r: RunStore.RunRecord) => r.nominalAt.getTime() > cutAt && r.nominalAt.getTime() <= restoredAt
        yield* waitUntil(
          "the outage's slots are recorded",
          Effect.map(
            Effect.orElseSucceed(Effect.exit(slots(a, job)), () => Exit.succeed([])),
            (exit) => Exit.isSuccess(exit) && exit.value.some((r) => outage(r) && r.reason === "catch-up")
          ),
          20_000
        )
        const last = restoredAt + SECOND
        // Until the slots up to a second after the restore have their records (the newest is due up to a second after
        // it, and claimed at its instant, a round trip later). A hole never fills: past the wait, the checks below name
        // it.
        yield* waitUntil(
          "every second up to a second after the restore has its record",
          Effect.map(slots(a, job), (records) => {
            const seconds = new Set(records.map((r) => r.nominalAt.getTime()))
            for (let t = records[0]!.nominalAt.getTime(); t <= last; t += SECOND) if (!seconds.has(t)) return false
            return true
          })
        ).pipe(Effect.catchAllDefect(() => Effect.void))
        const records = yield* slots(a, job)
        const first = records[0]!.nominalAt.getTime()
        // No hole: every second from the first slot on has its one record.
        const seconds = new Set(records.map((r) => r.nominalAt.getTime()))
        for (let t = first; t <= last; t += SECOND) expect(seconds.has(t), iso(t)).toBe(true)
        expect(seconds.size).toBe(records.length)
        const during = records.filter(outage)
        expect(during.length).toBeGreaterThanOrEqual(4)
        const caughtUp = during.filter((r) => r.reason === "catch-up")
        expect(caughtUp).toHaveLength(1)
        expect(caughtUp[0]).toMatchObject({ status: "succeeded" })
        const skipped = during.filter((r) => r.status === "skipped")
        expect(skipped.length).toBeGreaterThanOrEqual(2)
        expect(skipped.every((r) => r.skipReason === "store_unavailable")).toBe(true)
        // The newest slot of the outage is the one caught up.
        expect(caughtUp[0]!.nominalAt.getTime()).toBeGreaterThan(Math.max(...skipped.map((r) => r.nominalAt.getTime())))
      })
  )

  it.scopedLive(
    "an instance that stops beating: its runs are abandoned within seconds, not a lease; a job with " +
      "onAbandoned rerun runs the slot once more, on one survivor only",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const a = yield* startInstance(db, "survivor-a")
        const b = yield* startInstance(db, "survivor-b")
        const job = "rerun-me"
        // An instance that beat 10 s ago and then died, with a run in flight holding a 60 s lease.
        yield* a
          .sql`INSERT INTO cron_worker.instances (instance, beat_at) VALUES ('ghost', now() - interval '10 seconds')`
          .pipe(Effect.orDie)
        const orphanSlot = Math.floor(Date.now() / SECOND) * SECOND - 60 * SECOND
        const orphan = yield* orphanRun(a, job, orphanSlot, "ghost", 60)
        const from = Date.now()
        const spans: Array<Span> = []
        const options = { onAbandoned: "rerun", catchUp: "skip" } as const
        yield* register(a, probe(spans, a.id, job, "0 0 1 1 *", 50, options))
        yield* register(b, probe(spans, b.id, job, "0 0 1 1 *", 50, options))
        yield* waitUntil(
          "the orphan's slot has been re-run",
          Effect.map(
            slots(a, job),
            (records) => records.some((r) => r.reason === "rerun" && r.status === "succeeded")
          ),
          10_000
        )
        yield* Effect.sleep(Duration.seconds(2))
        const records = yield* slots(a, job)
        const abandoned = records.find((r) => r.runId === orphan)
        expect(abandoned).toMatchObject({
          status: "abandoned",
          instance: "ghost",
          error: "abandoned: instance ghost stopped (no heartbeat for 3 s)"
        })
        // Within two seconds, where its lease had 60 s to go.
        expect(abandoned!.finishedAt!.getTime() - from).toBeLessThan(2500)
        const reruns = records.filter((r) => r.reason === "rerun")
        expect(reruns).toHaveLength(1)
        expect(reruns[0]).toMatchObject({ nominalAt: new Date(orphanSlot), status: "succeeded" })
        expect([a.id, b.id]).toContain(reruns[0]!.instance)
        const [link] = yield* a.sql<{ rerun_of: string }>`
          SELECT rerun_of FROM cron_worker.runs WHERE reason = 'rerun'`.pipe(Effect.orDie)
        expect(link?.rerun_of).toBe(orphan)
        // Run once, on one instance.
        expect(spans.filter((span) => span.nominalAt === orphanSlot).map((span) => span.reason)).toEqual(["rerun"])
      })
  )
})
