/**
 * The probe of test/services.ts and the one line a run prints when integration and end-to-end suites
 * skip because a service is unreachable (test/globalSetup.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as net from "node:net"
import { freePort as closedPort, probe, skipNotice } from "./services.js"

describe("skipNotice", () => {
  it("says nothing when every service answered", () => {
    expect(skipNotice([
      { service: "postgres", address: "127.0.0.1:5432", reason: undefined },
      { service: "rabbitmq", address: "127.0.0.1:5672", reason: undefined }
    ])).toBeUndefined()
  })

  it("names the unreachable service, its address, why, and the variable", () => {
    expect(skipNotice([
      { service: "postgres", address: "127.0.0.1:1", reason: "connection refused (ECONNREFUSED)" },
      { service: "rabbitmq", address: "127.0.0.1:5672", reason: undefined }
    ])).toBe(
      "skipping the integration and end-to-end tests that need PostgreSQL (127.0.0.1:1): connection refused " +
        "(ECONNREFUSED); set TEST_DATABASE_URL or start it (REQUIRE_SERVICES=1 fails them instead)"
    )
  })

  it("names both when both are unreachable, in one line", () => {
    const line = skipNotice([
      { service: "postgres", address: "db:5432", reason: "host not found (ENOTFOUND)" },
      { service: "rabbitmq", address: "10.0.0.9:5672", reason: "no answer within 2 s" }
    ])
    expect(line).toBe(
      "skipping the integration and end-to-end tests that need PostgreSQL (db:5432): host not found (ENOTFOUND), " +
        "or RabbitMQ (10.0.0.9:5672): no answer within 2 s; set TEST_DATABASE_URL and TEST_RABBITMQ_URL " +
        "or start them (REQUIRE_SERVICES=1 fails them instead)"
    )
    expect(line).not.toContain("\n")
  })
})

describe("probe", () => {
  it("reports a refused connection with the address and no credentials", async () => {
    const port = await closedPort()
    const result = await probe("postgres", `postgres://app:s3cret@127.0.0.1:${port}/x`)
    expect(result).toEqual({
      service: "postgres",
      address: `127.0.0.1:${port}`,
      reason: "connection refused (ECONNREFUSED)"
    })
    expect(skipNotice([result])).not.toContain("s3cret")
  })

  it("finds a listening service reachable, on the default port when the URL names none", async () => {
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    try {
      expect(await probe("rabbitmq", `amqp://guest:guest@127.0.0.1:${port}`)).toEqual({
        service: "rabbitmq",
        address: `127.0.0.1:${port}`,
        reason: undefined
      })
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    expect((await probe("rabbitmq", "amqp://127.0.0.1")).address).toBe("127.0.0.1:5672")
  })
})
