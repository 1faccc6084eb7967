/**
 * What the worker provides to its jobs and to the scheduler, built in the
 * order shutdown must undo: telemetry, the database (migrated), then the run
 * store, the publisher and the outbox relay on it, and the HTTP endpoint,
 * which reports the relay's status. Closing it closes the HTTP endpoint, the
 * relay and AMQP, then the database, then telemetry (flushing spans).
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Layer } from "effect"
import * as Database from "./Database.js"
import type { EmbeddedDatabaseError } from "./Database/Embedded.js"
import * as Health from "./Health.js"
import * as Http from "./Http.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as Publisher from "./Publisher.js"
import * as RunStore from "./RunStore.js"
import * as PgRunStore from "./RunStore/Pg.js"
import * as Telemetry from "./Telemetry.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** The services a job (or the layer of a worker's own services) may require from the worker. */
export type Provided = WorkerConfig | SqlClient.SqlClient | PgClient.PgClient | Publisher.Publisher | RunStore.RunStore

/** Start-up failures of the infrastructure. */
export type StartError = Database.DatabaseUnavailable | EmbeddedDatabaseError | Http.HttpPortUnavailable

/** What {@link make} builds; every option has the worker's default. */
export interface Options {
  /** Serve `HTTP_PORT` (default `true`); `run` leaves it out: the running worker may hold the port. */
  readonly http?: boolean
  /**
   * `background` (default, the worker): the outbox relay connects at start-up
   * and delivers as messages come. `flush` (`run <job>`): it delivers only
   * when `flush` is called, so a CLI process never relays unless asked.
   */
  readonly relay?: "background" | "flush"
}

/**
 * In place of the HTTP endpoint, for `run <job>` (the running worker may hold `HTTP_PORT`): no API is mounted, and
 * the probes are this process's own.
 */
export const layerNoHttp: Layer.Layer<Http.ApiMount | Health.Probes> = Layer.merge(
  Layer.succeed(Http.ApiMount, { app: undefined }),
  Layer.sync(Health.Probes, () => Health.makeProbes(Date.now()))
)

/** Everything but the configuration, on `WorkerConfig`. */
export const make = (options: Options = {}): Layer.Layer<
  Exclude<Provided, WorkerConfig> | OutboxRelay.OutboxRelay | Http.ApiMount | Health.Probes,
  StartError,
  WorkerConfig
> =>
  Layer.mergeAll(
    PgRunStore.layer,
    Publisher.layerOutbox,
    options.http === false ? layerNoHttp : Http.layer
  ).pipe(
    Layer.provideMerge(options.relay === "flush" ? OutboxRelay.layerFlush : OutboxRelay.layer),
    Layer.provideMerge(Database.layer),
    Layer.provideMerge(Telemetry.layer)
  )

/** {@link make} with every part. */
export const layer = make()
