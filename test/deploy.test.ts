/**
 * The compose stack (docker-compose.yml, deploy/rabbitmq/): RabbitMQ imports at boot the topology the stock
 * worker needs, so the weekly report is delivered to a queue instead of being returned as unroutable, and the
 * worker can log in (a node that imports definitions creates no guest user). No Docker engine runs in the
 * tests, so these check the files: the definitions against the worker's defaults, the report job's routing
 * key and the compose file's credentials; the compose file's mounts and host ports.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
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
      "${WORKER_HTTP_PORT:-9464}:9464"
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
