/**
 * The README's examples are these files: every TypeScript block of README.md begins with a `// <path>` line and
 * is the file `test/examples/<path>`, to the letter. `npm test` type-checks them (tsconfig.json includes test/),
 * runs the test example with the rest, and below runs `main.ts` as a real process (through vite-node, which
 * compiles it), so an example that stops compiling or working fails the build.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
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
      "jobs/dailyDigest.test.ts"
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
