/**
 * The web dashboard: a page at `/` and its assets under `/ui/`, every byte
 * served by the worker (no CDN). The page is a small Preact application
 * (`src/ui/`, compiled by `npm run build` into `dist/ui/`) that signs in with
 * an admin or viewer token and then uses the admin API only: what it shows and
 * what it may change is what the token may read and change through `/api`.
 * The page and its assets hold no data, so they are served without a token.
 *
 * The assets are read once, when the server starts, into memory: a request
 * names one of them or gets 404 (no path reaches the file system). Headers:
 * a Content-Security-Policy that lets the page load only its own scripts,
 * styles and API (the import map is allowed by its hash), no framing, no
 * referrer.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { STYLE } from "./Dashboard/style.js"

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly etag: string
}

const asset = (body: string | Uint8Array, contentType: string): Asset => {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body
  return { body: bytes, contentType, etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 22)}"` }
}

const JS = "text/javascript; charset=utf-8"

/**
 * Where the compiled page is: `dist/ui/` beside this module when it runs from
 * `dist/`; from the sources (tests run `src/` directly), the build's.
 */
const uiDirectory = (): string | undefined =>
  [new URL("./ui/", import.meta.url), new URL("../dist/ui/", import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(join(dir, "main.js")))

/** Preact's modules, from the worker's own dependencies, under the names the import map gives them. */
const vendor = (): Record<string, Asset> => {
  const require = createRequire(import.meta.url)
  const file = (specifier: string) => asset(readFileSync(require.resolve(specifier)), JS)
  return {
    "vendor/preact.mjs": file("preact"),
    "vendor/hooks.mjs": file("preact/hooks"),
    "vendor/jsx-runtime.mjs": file("preact/jsx-runtime")
  }
}

const IMPORT_MAP = JSON.stringify({
  imports: {
    "preact": "/ui/vendor/preact.mjs",
    "preact/hooks": "/ui/vendor/hooks.mjs",
    "preact/jsx-runtime": "/ui/vendor/jsx-runtime.mjs"
  }
})

const page = (title: string, body: string) =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="/ui/app.css">
<link rel="icon" href="data:,">
${body}`

const INDEX = page(
  "cron-worker",
  `<script type="importmap">${IMPORT_MAP}</script>
<script type="module" src="/ui/main.js"></script>
</head>
<body><div id="app"><p class="muted pad">Loading…</p></div></body>
</html>
`
)

const NOT_BUILT = page(
  "cron-worker: dashboard not built",
  `</head>
<body><main class="pad"><h1>The dashboard is not built</h1>
<p>Its page is compiled by <code>npm run build</code> into <code>dist/ui/</code>, which this worker cannot find.
The admin API is at <code>/api</code>.</p></main></body>
</html>
`
)

const csp = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${createHash("sha256").update(IMPORT_MAP).digest("base64")}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join("; ")

const SECURITY_HEADERS = {
  "content-security-policy": csp,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer"
}

/** The page's assets, by their path under `/ui/`; the page itself under `""`. */
export const assets = (): ReadonlyMap<string, Asset> => {
  const dir = uiDirectory()
  const all = new Map<string, Asset>()
  all.set("app.css", asset(STYLE, "text/css; charset=utf-8"))
  if (dir === undefined) {
    all.set("", asset(NOT_BUILT, "text/html; charset=utf-8"))
    return all
  }
  all.set("", asset(INDEX, "text/html; charset=utf-8"))
  for (const name of readdirSync(dir)) {
    if (name.endsWith(".js")) all.set(name, asset(readFileSync(join(dir, name)), JS))
  }
  for (const [name, file] of Object.entries(vendor())) all.set(name, file)
  return all
}

const serve = (found: Asset | undefined, cacheControl: string) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    if (found === undefined) {
      return HttpServerResponse.text("no such asset", { status: 404, headers: SECURITY_HEADERS })
    }
    const headers = { ...SECURITY_HEADERS, "cache-control": cacheControl, etag: found.etag }
    if (request.headers["if-none-match"] === found.etag) return HttpServerResponse.empty({ status: 304, headers })
    return HttpServerResponse.uint8Array(found.body, { contentType: found.contentType, headers })
  })

/** `GET /` (the page) and `GET /ui/*` (its assets), added to the worker's router. */
export const routes = <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> => {
  const all = assets()
  return router.pipe(
    HttpRouter.get("/", serve(all.get(""), "no-store")),
    HttpRouter.get(
      "/ui/*",
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const name = new URL(request.url, "http://localhost").pathname.slice("/ui/".length)
        // Revalidated at every load: a new deploy's page is never mixed with an old one's modules.
        return serve(all.get(name), "no-cache")
      })
    )
  )
}
