/**
 * What the worker provides to its jobs and to the scheduler, built in the
 * order shutdown must undo: telemetry, the database (migrated), then the run
 * store, the publisher and the outbox relay on it. Closing it closes the
 * relay and AMQP (and the HTTP endpoint), then the database, then telemetry
 * (flushing spans).
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Layer } from "effect"
import * as Database from "./Database.js"
import type { EmbeddedDatabaseError } from "./Database/Embedded.js"
import * as Http from "./Http.js"
import * as OutboxRelay from "./OutboxRelay.js"
import * as Publisher from "./Publisher.js"
import * as RunStore from "./RunStore.js"
import * as Telemetry from "./Telemetry.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** The services a job (or the layer of a worker's own services) may require from the worker. */
export type Provided = WorkerConfig | SqlClient.SqlClient | PgClient.PgClient | Publisher.Publisher | RunStore.RunStore

/** Start-up failures of the infrastructure. */
export type StartError = Database.DatabaseUnavailable | EmbeddedDatabaseError | Http.HttpPortUnavailable

/** Everything but the configuration, on `WorkerConfig`; `http: false` leaves out the HTTP endpoint (for `run`). */
export const make = (options: { readonly http: boolean } = { http: true }): Layer.Layer<
  Exclude<Provided, WorkerConfig> | OutboxRelay.OutboxRelay,
  StartError,
  WorkerConfig
> =>
  Layer.mergeAll(RunStore.layerPg, Publisher.layerOutbox, OutboxRelay.layer, options.http ? Http.layer : Layer.empty)
    .pipe(
      Layer.provideMerge(Database.layer),
      Layer.provideMerge(Telemetry.layer)
    )

/** {@link make} with every part. */
export const layer = make()
