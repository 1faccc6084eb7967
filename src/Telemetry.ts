/**
 * Tracing: a span per run (see `Execution`), with the SQL and publish work
 * as children. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported
 * over OTLP/HTTP through the OpenTelemetry SDK and flushed at shutdown;
 * without it, the SDK is not even loaded, and spans still give log lines
 * their `trace_id` and `span_id`.
 */
import { Effect, Layer, Option } from "effect"
import { WorkerConfig } from "./WorkerConfig.js"

/** The worker's version, reported as `service.version`. */
export const VERSION = "0.1.0"

/** Loads the SDK only when it is used: it costs start-up time. */
const loadSdk = Effect.promise(() =>
  Promise.all([
    import("@effect/opentelemetry/NodeSdk"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/sdk-trace-base")
  ])
)

/** The OpenTelemetry SDK when an endpoint is configured; nothing otherwise. */
export const layer: Layer.Layer<never, never, WorkerConfig> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* WorkerConfig
    if (Option.isNone(config.otlpEndpoint)) return Layer.empty
    const endpoint = config.otlpEndpoint.value
    const [NodeSdk, { OTLPTraceExporter }, { BatchSpanProcessor }] = yield* loadSdk
    return NodeSdk.layer(() => ({
      resource: { serviceName: config.serviceName, serviceVersion: VERSION },
      spanProcessor: new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, "")}/v1/traces` })
      ),
      shutdownTimeout: "5 seconds"
    })).pipe(
      Layer.discard,
      Layer.tap(() => Effect.logInfo("tracing enabled").pipe(Effect.annotateLogs({ otlp_endpoint: endpoint })))
    )
  })
)
