/**
 * The dashboard's routes (`src/Dashboard.ts`): the page at `/` with a Content-Security-Policy that allows its import
 * map by hash and nothing from elsewhere; its modules and Preact's, from memory, revalidated by ETag; 404 for any
 * other name, a path that climbs out included. The page itself is driven in a browser in `test/e2e/dashboard.test.ts`.
 */
import { HttpApp, HttpRouter } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import * as Dashboard from "../src/Dashboard.js"

const handler = HttpApp.toWebHandler(Dashboard.routes(HttpRouter.empty))
const get = (path: string, headers: Record<string, string> = {}) =>
  handler(new Request(`http://localhost${path}`, { headers }))

// `npm test` builds before it tests: the page's modules are in dist/ui/.
const built = Dashboard.assets().has("main.js")

describe("dashboard routes", () => {
  it.runIf(built)("serves the page with a CSP that allows exactly its import map, and no framing", async () => {
    const response = await get("/")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/html")
    expect(response.headers.get("cache-control")).toBe("no-store")
    expect(response.headers.get("x-frame-options")).toBe("DENY")
    const html = await response.text()
    const importMap = /<script type="importmap">([^<]*)<\/script>/.exec(html)?.[1]
    expect(importMap).toBeDefined()
    const hash = createHash("sha256").update(importMap!).digest("base64")
    const csp = response.headers.get("content-security-policy") ?? ""
    expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`)
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    // Every module the page and the import map name is served by the worker itself.
    const named = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g), ...importMap!.matchAll(/"(\/ui\/[^"]+)"/g)]
      .map((m) => m[1]!)
    expect(named.length).toBeGreaterThanOrEqual(5)
    for (const path of named) expect((await get(path)).status, path).toBe(200)
  })

  it.runIf(built)("serves the modules as JavaScript, revalidated by ETag (304)", async () => {
    const first = await get("/ui/main.js")
    expect(first.status).toBe(200)
    expect(first.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(first.headers.get("cache-control")).toBe("no-cache")
    const etag = first.headers.get("etag")
    expect(etag).toMatch(/^"[\w-]+"$/)
    const again = await get("/ui/main.js", { "if-none-match": etag! })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe("")
    expect((await get("/ui/vendor/preact.mjs")).status).toBe(200)
  })

  it("answers 404 for a name it does not hold, a path that climbs out included", async () => {
    for (const path of ["/ui/nope.js", "/ui/..%2Fpackage.json", "/ui/%2e%2e/%2e%2e/package.json", "/ui/"]) {
      expect((await get(path)).status, path).toBe(404)
    }
    expect((await get("/ui/app.css")).headers.get("content-type")).toBe("text/css; charset=utf-8")
  })
})
