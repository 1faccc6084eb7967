// Spawning worker processes and watching their JSON log lines.
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import pg from "pg"

export const ROOT = fileURLToPath(new URL("..", import.meta.url))
export const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url))
export const FIXTURE = fileURLToPath(new URL("./fixtures/worker.mjs", import.meta.url))
export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

/** Variables the worker reads, never inherited from the shell running the benchmark. */
const CONFIG = /^(DATABASE_|WORKER_|LOG_|PGLITE_|RABBITMQ_|OTEL_|HTTP_PORT|SERVICE_NAME_|CLEANUP_|BENCH_)/

/**
 * Starts `node script args` with `env`; `waitFor(msg)` resolves with the
 * `Date.now()` of the first log line whose `msg` is `msg` (JSON lines on
 * stdout), `exited` with the exit time and code. `options.onLine(line, at)`, if
 * given, sees every JSON line parsed, with the `Date.now()` it was read at;
 * `options.node` are arguments of node itself (`--expose-gc`).
 */
export const start = (script, args, env, options = {}) => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !CONFIG.test(key)))
  const startedAt = Date.now()
  const child = spawn(process.execPath, [...(options.node ?? []), script, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const seen = new Map()
  const waiters = []
  let buffer = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      let parsed
      try {
        parsed = JSON.parse(line)
      } catch {
        continue
      }
      const msg = parsed?.msg
      options.onLine?.(parsed, Date.now())
      if (!seen.has(msg)) seen.set(msg, Date.now())
      for (const waiter of waiters) if (waiter.msg === msg) waiter.resolve(seen.get(msg))
    }
  })
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk))
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ at: Date.now(), code, signal })))
  return {
    child,
    startedAt,
    exited,
    stderr: () => stderr,
    waitFor: (msg, timeoutMs = 60_000) =>
      seen.has(msg) ? Promise.resolve(seen.get(msg)) : new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${msg}" within ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`)),
          timeoutMs
        )
        waiters.push({ msg, resolve: (at) => (clearTimeout(timer), resolve(at)) })
      })
  }
}

/** A fresh database on the benchmark's server; `drop()` removes it. */
export const freshDatabase = async (prefix) => {
  const name = `${prefix}_${Date.now().toString(36)}_${process.pid}`
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: ADMIN_URL })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`)
      await client.end()
    }
  }
}
