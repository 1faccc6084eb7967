/**
 * The compose stack (docker-compose.yml, deploy/rabbitmq/): RabbitMQ imports at boot the topology the stock
 * worker needs, so the weekly report is delivered to a queue instead of being returned as unroutable, and the
 * worker can log in (a node that imports definitions creates no guest user). No Docker engine runs in the
 * tests, so these check the files: the definitions against the worker's defaults, the report job's routing
 * key and the compose file's credentials; the compose file's mounts and host ports. Prometheus and Grafana: the
 * alert rules through `promtool` (check and unit tests), the scrape target against the worker's `HTTP_PORT`, the
 * health checks on `/healthz`, the provisioning against the compose mounts, and the dashboard's PromQL against the
 * worker's metric names.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { posix } from "node:path"
import { parse as parseYaml } from "yaml"
import { ROUTING_KEY } from "../src/jobs/reportGenerator.js"
import { defaults } from "../src/WorkerConfig.js"
import { REQUIRE_SERVICES } from "./services.js"

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), "utf8")

/** The part of RabbitMQ's definitions format these tests read. */
const Definitions = Schema.Struct({
  vhosts: Schema.Array(Schema.Struct({ name: Schema.String })),
  users: Schema.Array(Schema.Struct({
    name: Schema.String,
    password_hash: Schema.String,
    hashing_algorithm: Schema.String,
    tags: Schema.Array(Schema.String)
  })),
  permissions: Schema.Array(Schema.Struct({
    user: Schema.String,
    vhost: Schema.String,
    configure: Schema.String,
    write: Schema.String,
    read: Schema.String
  })),
  exchanges: Schema.Array(Schema.Struct({
    name: Schema.String,
    vhost: Schema.String,
    type: Schema.String,
    durable: Schema.Boolean,
    auto_delete: Schema.Boolean,
    internal: Schema.Boolean
  })),
  queues: Schema.Array(Schema.Struct({
    name: Schema.String,
    vhost: Schema.String,
    durable: Schema.Boolean,
    auto_delete: Schema.Boolean
  })),
  bindings: Schema.Array(Schema.Struct({
    source: Schema.String,
    vhost: Schema.String,
    destination: Schema.String,
    destination_type: Schema.Literal("queue", "exchange"),
    routing_key: Schema.String
  }))
})

const definitions = Schema.decodeUnknownSync(Schema.parseJson(Definitions))(read("deploy/rabbitmq/definitions.json"))
const compose = read("docker-compose.yml")

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ++ sha256(salt ++ utf8(password))). */
const passwordHash = (salt: Buffer, password: string): string =>
  Buffer.concat([salt, createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest()])
    .toString("base64")

/** The value of `name:` in the worker's `environment:` (the compose file has it once). */
const workerVariable = (name: string): string => {
  const match = new RegExp(`^\\s+${name}:\\s*(\\S+)\\s*$`, "m").exec(compose)
  if (match?.[1] === undefined) throw new Error(`docker-compose.yml sets no ${name}`)
  return match[1]
}

/** Every entry of every `ports:` list of the compose file. */
const publishedPorts = (text: string): Array<string> => {
  const entries: Array<string> = []
  let indent: number | undefined
  for (const line of text.split("\n")) {
    const depth = line.length - line.trimStart().length
    if (/^\s*ports:\s*$/.test(line)) indent = depth
    else if (indent !== undefined && depth > indent && line.trimStart().startsWith("- ")) {
      entries.push(line.trim().slice(2).replace(/^"(.*)"$/, "$1"))
    } else if (line.trim() !== "") indent = undefined
  }
  return entries
}

const rabbitmqUrl = new URL(workerVariable("RABBITMQ_URL"))
const vhost = decodeURIComponent(rabbitmqUrl.pathname.slice(1)) || "/"

describe("RabbitMQ definitions for the compose stack", () => {
  it("declare the worker's exchange as the worker asserts it (topic, durable)", () => {
    expect(workerVariable("RABBITMQ_EXCHANGE")).toBe(defaults.rabbitmqExchange)
    expect(definitions.exchanges).toContainEqual({
      name: defaults.rabbitmqExchange,
      vhost,
      type: "topic",
      durable: true,
      auto_delete: false,
      internal: false
    })
  })

  it("bind a durable queue to it with exactly the weekly report's routing key", () => {
    const bindings = definitions.bindings.filter((binding) =>
      binding.source === defaults.rabbitmqExchange && binding.vhost === vhost && binding.destination_type === "queue"
    )
    expect(bindings.map((binding) => binding.routing_key)).toContain(ROUTING_KEY)
    const queue = bindings.find((binding) => binding.routing_key === ROUTING_KEY)?.destination
    expect(definitions.queues).toContainEqual({ name: queue, vhost, durable: true, auto_delete: false })
  })

  it("hash passwords as RabbitMQ does (the worked example of its passwords guide)", () => {
    expect(passwordHash(Buffer.from("908DC60A", "hex"), "test12")).toBe(
      "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    )
  })

  it("let the worker log in with the credentials compose gives it, and use the vhost", () => {
    const user = definitions.users.find((candidate) => candidate.name === decodeURIComponent(rabbitmqUrl.username))
    expect(user?.hashing_algorithm).toBe("rabbit_password_hashing_sha256")
    const stored = Buffer.from(user?.password_hash ?? "", "base64")
    expect(stored.length).toBe(4 + 32)
    expect(passwordHash(stored.subarray(0, 4), decodeURIComponent(rabbitmqUrl.password))).toBe(user?.password_hash)
    expect(passwordHash(stored.subarray(0, 4), "guest")).not.toBe(user?.password_hash)
    expect(definitions.vhosts.map((declared) => declared.name)).toContain(vhost)
    const permission = definitions.permissions.find((p) => p.user === user?.name && p.vhost === vhost)
    for (const pattern of [permission?.configure, permission?.write, permission?.read]) {
      expect(new RegExp(pattern ?? "^$").test(defaults.rabbitmqExchange)).toBe(true)
    }
  })
})

describe("docker-compose.yml", () => {
  it("mounts the definitions where the mounted configuration loads them from", () => {
    const loadPath = /^load_definitions\s*=\s*(\S+)\s*$/m.exec(read("deploy/rabbitmq/rabbitmq.conf"))?.[1]
    expect(loadPath).toBe("/etc/rabbitmq/definitions.json")
    expect(compose).toContain(`- ./deploy/rabbitmq/definitions.json:${loadPath}:ro`)
    expect(compose).toMatch(/^\s+- \.\/deploy\/rabbitmq\/rabbitmq\.conf:\/etc\/rabbitmq\/conf\.d\/[\w.-]+\.conf:ro$/m)
  })

  it("publishes every host port as ${NAME_PORT:-default}, listed in .env.example and the README", () => {
    const ports = publishedPorts(compose)
    expect(ports).toEqual([
      "${POSTGRES_PORT:-5432}:5432",
      "${RABBITMQ_PORT:-5672}:5672",
      "${RABBITMQ_MANAGEMENT_PORT:-15672}:15672",
      "${JAEGER_UI_PORT:-16686}:16686",
      "${JAEGER_OTLP_PORT:-4318}:4318",
      "${WORKER_HTTP_PORT:-9464}:9464",
      "${PROMETHEUS_PORT:-9090}:9090",
      "${GRAFANA_PORT:-3000}:3000"
    ])
    const envExample = read(".env.example")
    const readme = read("README.md")
    for (const entry of ports) {
      const [, name, port] = /^\$\{(\w+_PORT):-(\d+)\}:(\d+)$/.exec(entry) ?? []
      expect(envExample).toMatch(new RegExp(`^${name}=${port}$`, "m"))
      expect(readme).toContain(`\`${name}\``)
    }
  })
})

/** `promtool` (Debian's `prometheus` package; `.ci/run` installs it): its exit code and output, or undefined. */
const promtool = (...args: ReadonlyArray<string>) => {
  const result = spawnSync("promtool", args, { cwd: new URL("..", import.meta.url), encoding: "utf8" })
  return result.error !== undefined ? undefined : { code: result.status, output: `${result.stdout}${result.stderr}` }
}
const hasPromtool = promtool("--version") !== undefined

describe.skipIf(!hasPromtool && !REQUIRE_SERVICES)("deploy/prometheus/alerts.yml", () => {
  it("is installed (REQUIRE_SERVICES=1 fails here rather than skip these)", () => {
    expect(hasPromtool, "promtool not found: apt-get install prometheus").toBe(true)
  })

  it("passes promtool check rules", () => {
    const result = promtool("check", "rules", "deploy/prometheus/alerts.yml")
    expect(result?.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(result?.code, result?.output).toBe(0)
  })

  it("is loaded by deploy/prometheus/prometheus.yml, which passes promtool check config", () => {
    const result = promtool("check", "config", "deploy/prometheus/prometheus.yml")
    expect(result?.code, result?.output).toBe(0)
    expect(result?.output).toMatch(/SUCCESS: 1 rule files found/)
    expect(result?.output).toContain("Checking deploy/prometheus/alerts.yml")
  })

  it("passes its unit tests (promtool test rules), which cover each rule firing and not firing", () => {
    const result = promtool("test", "rules", "deploy/prometheus/alerts.test.yml")
    expect(result?.code, result?.output).toBe(0)
    expect(result?.output).toContain("SUCCESS")
    const rules = [...read("deploy/prometheus/alerts.yml").matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!)
    expect(rules.length).toBeGreaterThanOrEqual(10)
    const tests = read("deploy/prometheus/alerts.test.yml")
    for (const rule of rules) {
      // Each rule tested both ways: an evaluation expecting it, and one expecting nothing.
      const cases = [...tests.matchAll(new RegExp(`alertname: ${rule}\\n\\s+exp_alerts:(.*)`, "g"))]
        .map((m) => m[1]!.trim())
      expect(cases, rule).toContain("[]")
      expect(cases.filter((c) => c === ""), rule).not.toEqual([])
    }
  })
})

/** The part of docker-compose.yml these tests read. */
const Compose = Schema.Struct({
  services: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({
      image: Schema.optional(Schema.String),
      command: Schema.optional(Schema.Array(Schema.String)),
      environment: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
      volumes: Schema.optional(Schema.Array(Schema.String)),
      healthcheck: Schema.optional(Schema.Struct({ test: Schema.Array(Schema.String) })),
      depends_on: Schema.optional(
        Schema.Record({ key: Schema.String, value: Schema.Struct({ condition: Schema.String }) })
      )
    })
  })
})
const Prometheus = Schema.Struct({
  rule_files: Schema.Array(Schema.String),
  scrape_configs: Schema.Array(Schema.Struct({
    job_name: Schema.String,
    honor_labels: Schema.optional(Schema.Boolean),
    static_configs: Schema.Array(Schema.Struct({ targets: Schema.Array(Schema.String) }))
  }))
})
const Datasources = Schema.Struct({
  datasources: Schema.Array(Schema.Struct({ uid: Schema.String, type: Schema.String, url: Schema.String }))
})
const Providers = Schema.Struct({
  providers: Schema.Array(Schema.Struct({ type: Schema.String, options: Schema.Struct({ path: Schema.String }) }))
})
const Target = Schema.Struct({ expr: Schema.String, datasource: Schema.Struct({ uid: Schema.String }) })
interface Panel {
  readonly type: string
  readonly title: string
  readonly targets?: ReadonlyArray<typeof Target.Type> | undefined
  readonly panels?: ReadonlyArray<Panel> | undefined
}
const Panel: Schema.Schema<Panel> = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  targets: Schema.optional(Schema.Array(Target)),
  panels: Schema.optional(Schema.Array(Schema.suspend(() => Panel)))
})
const Dashboard = Schema.Struct({
  uid: Schema.String,
  panels: Schema.Array(Panel),
  templating: Schema.Struct({ list: Schema.Array(Schema.Struct({ name: Schema.String, definition: Schema.String })) })
})

const yamlFile = <A, I>(schema: Schema.Schema<A, I>, path: string): A =>
  Schema.decodeUnknownSync(schema)(parseYaml(read(path)))

/** The worker's metrics (src/Metrics.ts), by name; histograms are also scraped as `_bucket`, `_sum`, `_count`. */
const METRICS = [
  "cron_worker_runs_total",
  "cron_worker_skips_total",
  "cron_worker_missed_slots_total",
  "cron_worker_running",
  "cron_worker_last_success_timestamp_seconds",
  "cron_worker_last_failure_timestamp_seconds",
  "cron_worker_next_fire_timestamp_seconds",
  "cron_worker_consecutive_failures",
  "cron_worker_expected_interval_seconds",
  "cron_worker_outbox_pending",
  "cron_worker_outbox_oldest_pending_age_seconds",
  "cron_worker_outbox_delivered_total",
  "cron_worker_outbox_failed_total",
  "cron_worker_outbox_unroutable_total",
  "cron_worker_lease_renewals_failed_total",
  "cron_worker_instances_alive",
  "cron_worker_schedules",
  "cron_worker_alert_active"
]
const HISTOGRAMS = ["cron_worker_run_duration_seconds", "cron_worker_run_lag_seconds"]
const SERIES = new Set([...METRICS, ...HISTOGRAMS.flatMap((h) => ["_bucket", "_sum", "_count"].map((s) => h + s))])

/** PromQL words that are not metric names when they are not followed by `(`. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"])

/**
 * The metric names a PromQL expression selects: what is left of its identifiers once strings, label matchers,
 * ranges, grouping clauses, Grafana's `$variables`, numbers, function names and keywords are taken out.
 */
const metricNames = (expr: string): Array<string> => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\w+/g, " ")
    .replace(/\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b/g, " ")
  return [...bare.matchAll(/[A-Za-z_:][\w:]*(?!\w*\s*\()/g)]
    .map((m) => m[0])
    .filter((word) => !KEYWORDS.has(word.toLowerCase()) && !/^\d/.test(word))
}

const services = yamlFile(Compose, "docker-compose.yml").services
const httpPort = services.worker?.environment?.HTTP_PORT

describe("Prometheus and Grafana in the compose stack", () => {
  it("the compose file parses, with the worker, Prometheus and Grafana", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["worker", "prometheus", "grafana"]))
    expect(httpPort).toBe("9464")
  })

  it("the worker's health checks (compose and Dockerfile) probe /healthz on HTTP_PORT", () => {
    const check = services.worker?.healthcheck?.test.join(" ") ?? ""
    expect(check).toContain(`http://127.0.0.1:${httpPort}/healthz`)
    const dockerfile = read("Dockerfile")
    expect(dockerfile).toMatch(/^ENV [\s\S]*HTTP_PORT=9464/m)
    expect(/^HEALTHCHECK[\s\S]*?\n\s+CMD (.*)$/m.exec(dockerfile)?.[1]).toContain("/healthz")
  })

  it("the image builds the dashboard (each tsconfig of the build copied), keeps its token on the volume", () => {
    const dockerfile = read("Dockerfile")
    const build = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts.build!
    const configs = [...build.matchAll(/-p (\S+)/g)].map((m) => m[1]!)
    expect(configs).toEqual(["tsconfig.build.json", "tsconfig.ui.json"])
    const copied = /^COPY (tsconfig[^\n]*) \.\/$/m.exec(dockerfile)?.[1]?.split(/\s+/) ?? []
    for (const config of [...configs, "tsconfig.base.json"]) expect(copied, config).toContain(config)
    // The process runs as `node`, which may write only under the /data volume.
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m)
    expect(dockerfile).toMatch(/^ENV [\s\S]*ADMIN_TOKEN_FILE=\/data\/admin-token$/m)
  })

  it("Prometheus scrapes the worker's HTTP_PORT keeping its job label, and loads alerts.yml where mounted", () => {
    const config = yamlFile(Prometheus, "deploy/prometheus/prometheus.yml")
    const scrape = config.scrape_configs.find((c) => c.job_name === "cron-worker")
    expect(scrape?.honor_labels).toBe(true)
    expect(scrape?.static_configs.flatMap((c) => c.targets)).toEqual([`worker:${httpPort}`])
    // alerts.yml's `up{job=...}` rules name this scrape job.
    expect(read("deploy/prometheus/alerts.yml")).toContain(`up{job="${scrape?.job_name}"}`)
    expect(config.rule_files).toEqual(["alerts.yml"])
    for (const file of config.rule_files) {
      expect(existsSync(new URL(`../deploy/prometheus/${file}`, import.meta.url)), file).toBe(true)
    }
    // The container reads prometheus.yml from the directory compose mounts deploy/prometheus on.
    const prometheus = services.prometheus
    const configFile = prometheus?.command?.find((a) => a.startsWith("--config.file="))?.slice("--config.file=".length)
    expect(configFile).toBeDefined()
    expect(prometheus?.volumes).toContain(`./deploy/prometheus:${posix.dirname(configFile!)}:ro`)
  })

  it("Grafana provisions the Prometheus datasource and the dashboards' directory, as compose mounts them", () => {
    const grafana = services.grafana
    expect(grafana?.volumes).toContain("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro")
    const { datasources } = yamlFile(Datasources, "deploy/grafana/provisioning/datasources/prometheus.yml")
    expect(datasources).toEqual([expect.objectContaining({ uid: "prometheus", type: "prometheus" })])
    expect(datasources[0]?.url).toBe("http://prometheus:9090")
    expect(grafana?.depends_on).toHaveProperty("prometheus")
    const { providers } = yamlFile(Providers, "deploy/grafana/provisioning/dashboards/cron-worker.yml")
    expect(providers.map((p) => p.type)).toEqual(["file"])
    expect(grafana?.volumes).toContain(`./deploy/grafana/dashboards:${providers[0]?.options.path}:ro`)
    expect(grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${providers[0]?.options.path}/cron-worker.json`
    )
  })

  const dashboard = Schema.decodeUnknownSync(Schema.parseJson(Dashboard))(
    read("deploy/grafana/dashboards/cron-worker.json")
  )
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])
  const exprs = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, ...target })))

  it("reads the metrics only through the provisioned datasource", () => {
    expect(exprs.length).toBeGreaterThan(20)
    expect(new Set(exprs.map((e) => e.datasource.uid))).toEqual(new Set(["prometheus"]))
  })

  it("names only the worker's metrics in its PromQL (and the parser finds them)", () => {
    expect(metricNames("sum by (job) (increase(cron_worker_runs_total{job=~\"$job\"}[5m])) > 0")).toEqual([
      "cron_worker_runs_total"
    ])
    expect(metricNames("time() - max(up offset 5m)")).toEqual(["up"])
    for (const { expr, panel } of exprs) {
      const names = metricNames(expr)
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0)
      for (const name of names) expect(SERIES.has(name), `${panel}: ${name} in ${expr}`).toBe(true)
    }
    for (const variable of dashboard.templating.list) {
      expect(variable.definition).toMatch(/^label_values\((\w+), \w+\)$/)
      expect(SERIES.has(/^label_values\((\w+)/.exec(variable.definition)![1]!)).toBe(true)
    }
  })

  it("shows runs by outcome, failures, lag and duration quantiles, running, the outbox, alerts and instances", () => {
    const all = exprs.map((e) => e.expr).join("\n")
    for (
      const needle of [
        "sum by (status) (increase(cron_worker_runs_total",
        "status=~\"failed|timed_out|abandoned\"",
        "histogram_quantile(0.95, sum by (job, le) (rate(cron_worker_run_duration_seconds_bucket",
        "histogram_quantile(0.99, sum by (job, le) (rate(cron_worker_run_lag_seconds_bucket",
        "cron_worker_running",
        "cron_worker_outbox_pending",
        "cron_worker_outbox_oldest_pending_age_seconds",
        "cron_worker_alert_active",
        "cron_worker_instances_alive"
      ]
    ) expect(all).toContain(needle)
  })
})
