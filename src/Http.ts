/**
 * The operations endpoint on `HTTP_PORT`: the probes `GET /healthz`
 * (liveness), `GET /readyz` (readiness) and `GET /health` (readiness, as it
 * always answered), each JSON, 200 or 503 (`Health.ts`); `GET /metrics`
 * (every Effect metric in the Prometheus text format); the admin API under
 * `/api` once it is mounted (`Admin.ts`); and the dashboard at `/`
 * (`Dashboard.ts`), which uses that API. Without `HTTP_PORT` there is no server.
 */
import { type HttpApp, HttpMiddleware, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Metric, MetricState, Option, Schema } from "effect"
import { createServer } from "node:http"
import { createServer as createTcpServer } from "node:net"
import * as Dashboard from "./Dashboard.js"
import * as Health from "./Health.js"
import * as Metrics from "./Metrics.js"
import * as OutboxRelay from "./OutboxRelay.js"
import { WorkerConfig } from "./WorkerConfig.js"

/** `HTTP_PORT` cannot be listened on (in use, not allowed): start-up stops, naming the port and why. */
export class HttpPortUnavailable extends Schema.TaggedError<HttpPortUnavailable>()("HttpPortUnavailable", {
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `HTTP_PORT=${this.port}: ${this.reason}`
  }
}

/** Why a listen failed, in words: the common codes spelt out, else the error's own message. */
const listenFailure = (error: unknown): string => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined
  switch (code) {
    case "EADDRINUSE":
      return "address already in use"
    case "EACCES":
      return "permission denied (ports below 1024 need privileges)"
    case "EADDRNOTAVAIL":
      return "address not available"
  }
  return error instanceof Error ? error.message : String(error)
}

/**
 * Listens on `port` as the server will (every interface) and closes at once:
 * a pre-flight, so that a port in use stops start-up before anything else
 * has started.
 */
export const checkPort = (port: number): Effect.Effect<void, HttpPortUnavailable> =>
  Effect.async<void, HttpPortUnavailable>((resume) => {
    const server = createTcpServer()
    server.once(
      "error",
      (error) => resume(Effect.fail(new HttpPortUnavailable({ port, reason: listenFailure(error) })))
    )
    server.listen({ port }, () => server.close(() => resume(Effect.void)))
    return Effect.sync(() => server.close())
  })

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const labels = (
  tags: ReadonlyArray<{ readonly key: string; readonly value: string }>,
  extra: Record<string, string> = {}
) => {
  const all = [...tags.map((t) => [t.key, t.value] as const), ...Object.entries(extra)]
  return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const number = (value: number | bigint) =>
  typeof value === "bigint" ? value.toString() : Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "-Inf"

/** What Effect's own metrics count: their keys carry no description. */
const EFFECT_HELP: Record<string, string> = {
  effect_fiber_started: "Fibers started in this process.",
  effect_fiber_active: "Fibers alive in this process now.",
  effect_fiber_successes: "Fibers of this process that ended with a success.",
  effect_fiber_failures: "Fibers of this process that ended with a failure.",
  effect_fiber_lifetimes: "Lifetimes of this process's fibers, in milliseconds."
}

/** Every metric of the process in the Prometheus text exposition format. */
export const renderMetrics = Effect.map(Metric.snapshot, (pairs) => {
  const families = new Map<string, { type: string; help: string; lines: Array<string> }>()
  for (const { metricKey: key, metricState: state } of pairs) {
    const family = (type: string) => {
      let entry = families.get(key.name)
      if (entry === undefined) {
        entry = { type, help: Option.getOrElse(key.description, () => EFFECT_HELP[key.name] ?? key.name), lines: [] }
        families.set(key.name, entry)
      }
      return entry.lines
    }
    if (MetricState.isCounterState(state)) {
      family("counter").push(`${key.name}${labels(key.tags)} ${number(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family("gauge").push(`${key.name}${labels(key.tags)} ${number(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = family("histogram")
      for (const [boundary, count] of state.buckets) {
        lines.push(`${key.name}_bucket${labels(key.tags, { le: number(boundary) })} ${count}`)
      }
      if (!state.buckets.some(([boundary]) => boundary === Infinity)) {
        lines.push(`${key.name}_bucket${labels(key.tags, { le: "+Inf" })} ${state.count}`)
      }
      lines.push(
        `${key.name}_sum${labels(key.tags)} ${number(state.sum)}`,
        `${key.name}_count${labels(key.tags)} ${state.count}`
      )
    }
  }
  const effect = [...families].map(([name, f]) =>
    `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.lines.join("\n")}`
  )
  // The worker's own series (by job, every one from start-up), then Effect's (fibers).
  return Metrics.render(Metrics.scheduled(), Metrics.alerts()) + (effect.length === 0 ? "" : effect.join("\n") + "\n")
})

/**
 * `/health`, kept for what already probes it: readiness (`/readyz`), with the fields it always had, `database`
 * (`ok` or `unreachable`) and `rabbitmq` (the relay's status).
 */
export const health = (probes: Health.ProbesShape) =>
  Effect.flatMap(OutboxRelay.OutboxRelay, (relay) => Health.readiness(probes, relay)).pipe(
    Effect.map(({ rabbitmq, report }) => ({
      code: report.code,
      body: { ...report.body, database: report.body.checks.database!.state, rabbitmq }
    }))
  )

const json = ({ body, code }: { readonly code: number; readonly body: unknown }) =>
  HttpServerResponse.unsafeJson(body, { status: code, headers: { "cache-control": "no-store" } })

/**
 * Where the admin API plugs into the server: `Admin.layer` sets `app` once
 * the services the API calls exist and clears it when they close; meanwhile
 * `/api` answers 503. The server itself is built earlier and closes later,
 * so `/health` and `/metrics` answer through start-up and shutdown.
 */
export class ApiMount extends Context.Tag("cron-worker/Http/ApiMount")<ApiMount, {
  app: HttpApp.Default<never, HttpRouter.HttpRouter.DefaultServices> | undefined
}>() {}

const apiUnavailable = HttpServerResponse.unsafeJson(
  { _tag: "Unavailable", message: "the admin API is not available: the worker is starting or stopping" },
  { status: 503 }
)

const router = (mount: ApiMount["Type"], probes: Health.ProbesShape) => {
  const api = Effect.suspend(() => mount.app ?? Effect.succeed(apiUnavailable))
  return HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", Effect.map(Health.liveness(probes), json)),
    HttpRouter.get(
      "/readyz",
      Effect.flatMap(OutboxRelay.OutboxRelay, (relay) => Health.readiness(probes, relay)).pipe(
        Effect.map(({ report }) => json(report))
      )
    ),
    HttpRouter.get("/health", Effect.map(health(probes), json)),
    HttpRouter.get(
      "/metrics",
      Effect.map(renderMetrics, (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" }))
    ),
    HttpRouter.all("/api", api),
    HttpRouter.all("/api/*", api),
    Dashboard.routes
  )
}

/** What the endpoint reads: the configuration, the database and the relay's status. */
type Requirements = WorkerConfig | SqlClient.SqlClient | OutboxRelay.OutboxRelay

/** The server, for the scope, when `HTTP_PORT` is set. A port in use stops start-up. */
export const layer: Layer.Layer<ApiMount | Health.Probes, HttpPortUnavailable, Requirements> = Layer.unwrapEffect(
  Effect.map(WorkerConfig, (config) => {
    const mount: ApiMount["Type"] = { app: undefined }
    const probes = Health.makeProbes(Date.now())
    return Option.match(config.httpPort, {
      onNone: () => Layer.empty,
      onSome: (port) =>
        HttpServer.serve(router(mount, probes), HttpMiddleware.withLoggerDisabled).pipe(
          Layer.provide(NodeHttpServer.layer(createServer, { port })),
          // ServeError says only "ServeError": name the port and the cause (EADDRINUSE, …).
          Layer.mapError((error) => new HttpPortUnavailable({ port, reason: listenFailure(error.cause) })),
          Layer.tap(() =>
            Effect.logInfo("http server listening").pipe(
              Effect.annotateLogs({ port, endpoints: "/ (dashboard) /healthz /readyz /health /metrics /api" })
            )
          ),
          Layer.merge(Layer.scopedDiscard(Health.heartbeat(probes)))
        )
    }).pipe(Layer.merge(Layer.succeed(ApiMount, mount)), Layer.merge(Layer.succeed(Health.Probes, probes)))
  })
)
