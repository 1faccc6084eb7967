/**
 * The README's examples are these files: every TypeScript block of README.md begins with a `// <path>` line and
 * is the file `test/examples/<path>`, to the letter. `npm test` type-checks them (tsconfig.json includes test/),
 * runs the test example with the rest, and below runs `main.ts` as a real process (through vite-node, which
 * compiles it), so an example that stops compiling or working fails the build. The Quick start's sample log and
 * `check` line are what `node dist/main.js` prints on a fresh machine.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, "../..")
const README = readFileSync(join(ROOT, "README.md"), "utf8")

/** The README's ```ts blocks, each with the path named by its first line. */
const blocks = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => {
  const text = match[1]!
  const path = /^\/\/ (\S+\.ts)\n/.exec(text)?.[1]
  return { path, text }
})

describe("the README's examples", () => {
  it("every TypeScript block names its file, and is that file of test/examples to the letter", () => {
    expect(blocks.map((block) => block.path)).toEqual([
      "jobs/dailyDigest.ts",
      "jobs/closeMonth.ts",
      "main.ts",
      "jobs/dailyDigest.test.ts",
      "adminClient.ts",
      "jobs/sendReminder.ts"
    ])
    for (const { path, text } of blocks) {
      const file = join(HERE, path!)
      expect(existsSync(file), path).toBe(true)
      expect(text, path).toBe(readFileSync(file, "utf8"))
    }
  })

  it("main.ts runs: `check` validates its jobs (and the built-in maintenance job)", () => {
    const result = spawnSync(join(ROOT, "node_modules/.bin/vite-node"), [join(HERE, "main.ts"), "check"], {
      cwd: HERE,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      timeout: 60_000
    })
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0)
    expect(result.stdout).toContain("2 job(s) ok")
  }, 60_000)
})

/** A clean environment: none of the worker's variables, so that it runs on its embedded defaults. */
const bareEnv = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" }
const MAIN = join(ROOT, "dist/main.js")

/** The Quick start's sample lines: for each, the fields it shows whole (those with a `…` left out). */
const sampleLines = (): Array<Record<string, unknown>> => {
  const start = README.indexOf("## Quick start")
  const block = /```\n(\{[\s\S]*?)```/.exec(README.slice(start))![1]!
  return block.trim().split("\n").map((line) =>
    Object.fromEntries(
      [...line.matchAll(/"(\w+)":("(?:[^"\\]|\\.)*"|-?\d+|true|false)/g)]
        .filter(([, , value]) => !value!.includes("…"))
        .map(([, key, value]) => [key, JSON.parse(value!)])
    )
  )
}

describe("the README's Quick start", () => {
  it("the sample start-up log is what node dist/main.js prints on its embedded defaults, line by line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cron-worker-readme-"))
    try {
      const child = spawn(process.execPath, [MAIN], { cwd: dir, env: bareEnv, stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      const started = new Promise<void>((resolveStarted, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start within 60 s:\n${out}`)), 60_000)
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          out += chunk
          if (out.includes("worker started successfully")) {
            clearTimeout(timer)
            resolveStarted()
          }
        })
      })
      const exited = new Promise<number | null>((resolveExit) => child.on("exit", (code) => resolveExit(code)))
      await started
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      const actual = out.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      const sample = sampleLines()
      expect(sample.length).toBeGreaterThanOrEqual(9)
      expect(actual.slice(0, sample.length).map((line) => line.msg)).toEqual(sample.map((line) => line.msg))
      sample.forEach((fields, i) => expect(actual[i], String(fields.msg)).toMatchObject(fields))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it("`check` prints what the Quick start says", () => {
    const said = /node dist\/main\.js check\s+# (.*)\n/.exec(README)?.[1]
    expect(said).toBeDefined()
    const result = spawnSync(process.execPath, [MAIN, "check"], { cwd: tmpdir(), encoding: "utf8", env: bareEnv })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe(said)
  })
})
