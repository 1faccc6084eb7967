/**
 * The real services integration tests use: a PostgreSQL database and
 * RabbitMQ names of each test's own, and a TCP proxy a test owns to cut
 * connections. Tests never stop, restart or reconfigure the shared services.
 *
 * `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
 * is the admin connection used to create and drop databases;
 * `TEST_RABBITMQ_URL` (default `amqp://guest:guest@127.0.0.1:5672`).
 * Unreachable services skip the suites that need them, unless
 * `REQUIRE_SERVICES=1`, which makes them fail instead; the run says once
 * which services and why (`test/globalSetup.ts`).
 */
import amqp from "amqplib"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import pg from "pg"

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
export const TEST_RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
export const REQUIRE_SERVICES = process.env.REQUIRE_SERVICES === "1"

/** A short random suffix for names of this test run. */
export const unique = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`

/** The services integration tests use, and where each is configured. */
export const SERVICES = {
  postgres: { name: "PostgreSQL", variable: "TEST_DATABASE_URL", url: TEST_DATABASE_URL, defaultPort: 5432 },
  rabbitmq: { name: "RabbitMQ", variable: "TEST_RABBITMQ_URL", url: TEST_RABBITMQ_URL, defaultPort: 5672 }
} as const
export type Service = keyof typeof SERVICES

/** How long a probe waits for a TCP connection before calling the service unreachable. */
const PROBE_TIMEOUT_MS = 2000

/** What one probe found: `reason` is why the service is unreachable, `undefined` when it answered. */
export interface Probe {
  readonly service: Service
  /** `host:port`, never the credentials of the URL. */
  readonly address: string
  readonly reason: string | undefined
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out"
}

const reasonOf = (error: NodeJS.ErrnoException): string => {
  const words = error.code === undefined ? undefined : REASONS[error.code]
  return words === undefined ? (error.code ?? error.message) : `${words} (${error.code})`
}

/**
 * Whether `service` accepts a TCP connection at `url` (default: its `TEST_*` URL), and if not, why
 * (refused, unknown host, no answer within 2 s, ...). Only the socket is tried: no login.
 */
export const probe = (service: Service, url: string = SERVICES[service].url): Promise<Probe> =>
  new Promise((resolve) => {
    const parsed = new URL(url)
    const port = Number(parsed.port || SERVICES[service].defaultPort)
    const address = `${parsed.hostname}:${port}`
    const socket = net.connect({ host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port })
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve({ service, address, reason })
    }
    socket.setTimeout(PROBE_TIMEOUT_MS)
    socket.once("connect", () => done(undefined))
    socket.once("error", (error) => done(reasonOf(error)))
    socket.once("timeout", () => done(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`))
  })

const describeProbe = (probe: Probe): string => `${SERVICES[probe.service].name} (${probe.address}): ${probe.reason}`

/**
 * The one line a test run prints when services are unreachable (`test/globalSetup.ts`), naming each
 * unreachable service, its address, why, and the variable that points elsewhere; `undefined` when
 * every probed service answered.
 */
export const skipNotice = (probes: ReadonlyArray<Probe>): string | undefined => {
  const unreachable = probes.filter((probe) => probe.reason !== undefined)
  if (unreachable.length === 0) return undefined
  const variables = unreachable.map((probe) => SERVICES[probe.service].variable).join(" and ")
  return `skipping the integration and end-to-end tests that need ${unreachable.map(describeProbe).join(", or ")}; ` +
    `set ${variables} or start ${unreachable.length === 1 ? "it" : "them"} (REQUIRE_SERVICES=1 fails them instead)`
}

/**
 * Whether the suite can run: `true` when the services answer; `false` (skip)
 * when they do not and `REQUIRE_SERVICES` is unset; throws when they do not
 * and it is set.
 */
export const servicesAvailable = async (
  which: ReadonlyArray<Service> = ["postgres", "rabbitmq"]
): Promise<boolean> => {
  const unreachable = (await Promise.all(which.map((service) => probe(service))))
    .filter((probe) => probe.reason !== undefined)
  if (unreachable.length === 0) return true
  if (REQUIRE_SERVICES) {
    throw new Error(`REQUIRE_SERVICES=1 but not reachable: ${unreachable.map(describeProbe).join(", ")}`)
  }
  return false
}

/** A database of this test's own; `drop()` removes it (and ends its connections). */
export interface TestDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

const admin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const createDatabase = async (prefix = "cw_test"): Promise<TestDatabase> => {
  const name = unique(prefix)
  await admin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`))
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () =>
      admin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)).then(() =>
        undefined
      )
  }
}

/** A URL like `url`, pointing at `host:port` instead (through a proxy). */
export const via = (url: string, port: number, host = "127.0.0.1"): string => {
  const parsed = new URL(url)
  parsed.hostname = host
  parsed.port = String(port)
  return parsed.toString()
}

/**
 * A TCP proxy the test owns: `cut()` drops every connection and refuses new
 * ones until `restore()`; `halfOpen()` keeps connections up but drops what the
 * target sends (bytes to the target still pass: an AMQP client's publishes
 * reach the broker, its confirms never come back) until `restore()`.
 */
export interface TcpProxy {
  readonly port: number
  readonly cut: () => void
  readonly halfOpen: () => void
  readonly restore: () => void
  /** Connections accepted so far. */
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

export const tcpProxy = async (targetUrl: string, defaultPort: number): Promise<TcpProxy> => {
  const target = new URL(targetUrl)
  const sockets = new Set<net.Socket>()
  let open = true
  let oneWay = false
  let accepted = 0
  const server = net.createServer((client) => {
    if (!open) return client.destroy()
    accepted++
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || defaultPort) })
    sockets.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("error", drop).on("close", drop)
    upstream.on("error", drop).on("close", drop)
    client.pipe(upstream)
    // Read (and, half-open, discard) what the target sends, so that it is never held back.
    upstream.on("data", (chunk: Buffer) => {
      if (!oneWay) client.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    cut: () => {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    halfOpen: () => {
      oneWay = true
    },
    restore: () => {
      open = true
      oneWay = false
    },
    accepted: () => accepted,
    close: () =>
      new Promise((resolve) => {
        open = false
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** {@link tcpProxy} for the scope of a test: closed when the scope closes. */
export const scopedProxy = (targetUrl: string, defaultPort: number) =>
  Effect.acquireRelease(
    Effect.promise(() => tcpProxy(targetUrl, defaultPort)),
    (proxy) => Effect.promise(proxy.close)
  )

/** A queue of this test's own bound to `exchange` (declared topic, durable) with `routingKey`. */
export const bindQueue = async (exchange: string, routingKey: string) => {
  const connection = await amqp.connect(TEST_RABBITMQ_URL)
  const channel = await connection.createChannel()
  await channel.assertExchange(exchange, "topic", { durable: true })
  const { queue } = await channel.assertQueue(unique("cw_test_queue"), { exclusive: true, autoDelete: true })
  await channel.bindQueue(queue, exchange, routingKey)
  return {
    queue,
    /** Messages that arrived, waiting up to `timeoutMs` for at least `count`. */
    take: async (count: number, timeoutMs = 10_000): Promise<Array<amqp.GetMessage>> => {
      const messages: Array<amqp.GetMessage> = []
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const message = await channel.get(queue, { noAck: true })
        if (message === false) {
          if (messages.length >= count) break
          await new Promise((resolve) => setTimeout(resolve, 50))
        } else messages.push(message)
      }
      return messages
    },
    close: async () => {
      await channel.deleteExchange(exchange).catch(() => undefined)
      await connection.close().catch(() => undefined)
    }
  }
}

/** Deletes `exchange` (one a test let the worker declare); missing is fine. */
export const deleteExchange = async (exchange: string): Promise<void> => {
  const connection = await amqp.connect(TEST_RABBITMQ_URL)
  try {
    const channel = await connection.createChannel()
    await channel.deleteExchange(exchange)
  } finally {
    await connection.close().catch(() => undefined)
  }
}

/** Runs one query on the database at `url` (one of the test's own) on a connection of its own; returns the rows. */
export const queryDatabase = async <Row extends Record<string, unknown>>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Promise<Array<Row>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<Row>(text, [...values])).rows
  } finally {
    await client.end()
  }
}

/** Whether a server can listen on `port` now (on every address, as the worker's does). */
const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, () => server.close(() => resolve(true)))
  })

/** The ports this process has handed out: never twice. */
const handedOut = new Set<number>()

/**
 * A TCP port nothing listens on now (for a server the test starts, or a refused connection). Drawn below Linux's
 * ephemeral range (32768–60999), not from `listen(0)`: a port the kernel picks is in that range, where an outgoing
 * connection (a database client's) may take it before the process meant to listen on it does; seen in CI, a worker
 * whose embedded start-up took 18 s found its `HTTP_PORT` in use. Each vitest worker draws from a band of its own.
 */
export const freePort = async (): Promise<number> => {
  const base = 20_000 + (Number(process.env.VITEST_POOL_ID ?? "0") % 12) * 1000
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = base + Math.floor(Math.random() * 1000)
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (await canListen(port)) return port
  }
  throw new Error(`no free TCP port in ${base}-${base + 999}`)
}
