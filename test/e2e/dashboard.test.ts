/**
 * End to end in a real browser: Debian's Chromium, driven by playwright-core, against the dashboard of a running
 * worker (`test/fixtures/dashboard-worker.mjs` on a fresh PostgreSQL database). Signs in (a wrong token refused),
 * sees the jobs with their recent outcomes (filtered by name), pauses one and sees it paused through the API,
 * triggers one and sees its run appear, filters a history, opens a run (error, stack, attempts), sees the DST
 * transitions among a job's next fire times, creates a schedule with an invalid payload and sees the field named,
 * then a valid one; the audit log and the alerts; and the viewer token, which sees no control. Each page's
 * screenshot is written to `docs/screenshots/`, which the README shows.
 *
 * Chromium: `CHROMIUM_PATH`, default `/usr/bin/chromium` (`.ci/run` installs Debian's `chromium` when it is
 * missing). Without it the suite is skipped, unless `REQUIRE_SERVICES=1`, where that is a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { freePort, REQUIRE_SERVICES, servicesAvailable } from "../services.js"
import { fixture, type Proc, ROOT, spawnNode } from "./harness.js"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const hasChromium = existsSync(CHROMIUM)
const postgres = await servicesAvailable(["postgres"])
const SHOTS = join(ROOT, "docs/screenshots")

const ADMIN = "admin-token-of-the-dashboard-suite-0123456789"
const VIEWER = "viewer-token-of-the-dashboard-suite-0123456789"

describe.runIf(REQUIRE_SERVICES && !hasChromium)("dashboard in a browser", () => {
  it("finds Chromium (REQUIRE_SERVICES=1 fails here rather than skip the browser tests)", () => {
    expect.fail(`no Chromium at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH`)
  })
})

describe.skipIf(!postgres || !hasChromium).sequential("dashboard in a browser", () => {
  let proc: Proc
  let base: string
  let browser: Browser
  let page: Page
  const pageErrors: Array<string> = []

  const api = async <A = unknown>(path: string): Promise<A> => {
    const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect(response.status, `GET ${path}`).toBe(200)
    return await response.json() as A
  }

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  const signIn = async (token: string) => {
    await page.goto(`${base}/`)
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    proc = await spawnNode(fixture("dashboard-worker.mjs"), [], {
      env: {
        HTTP_PORT: String(port),
        ADMIN_TOKEN: ADMIN,
        VIEWER_TOKEN: VIEWER,
        WORKER_TIMEZONE: "UTC",
        OTEL_TRACES_URL: "http://localhost:16686"
      }
    })
    await proc.waitFor("worker started successfully", undefined, 60_000)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, timezoneId: "UTC", locale: "en-GB" })
    page.on("pageerror", (error) => pageErrors.push(error.message))
    page.setDefaultTimeout(20_000)
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await proc?.kill()
  })

  it("refuses a wrong token, then signs in and lists the jobs with their recent outcomes", async () => {
    await page.goto(`${base}/`)
    await page.waitForSelector("input[name=token]")
    await shot("login")
    await signIn("not-a-token-of-this-worker-at-all")
    await expect.poll(() => page.locator("[role=alert]").textContent()).toContain("does not accept this token")
    await signIn(ADMIN)
    await page.waitForSelector("table.jobs tr[data-job=invoice_sync]")
    const names = await page.locator("table.jobs tbody tr").evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-job"))
    )
    expect(names).toEqual(expect.arrayContaining(["invoice_sync", "flaky_export", "broken_import", "monthly_invoices"]))
    // The strip fills as runs are recorded (the page refreshes itself every 5 s).
    await expect.poll(
      () => page.locator("tr[data-job=invoice_sync] .strip a.succeeded").count(),
      { timeout: 20_000 }
    ).toBeGreaterThanOrEqual(3)
    const row = page.locator("tr[data-job=monthly_invoices]")
    await expect.poll(() => row.textContent()).toContain("at 09:00 on day 1 of the month")
    // The name filter is the API's (`name`), so it holds over every page of the list.
    await page.fill("input[name=filter]", "EXPORT")
    await expect.poll(() =>
      page.locator("table.jobs tbody tr[data-job]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-job")))
    ).toEqual(["flaky_export"])
    await page.fill("input[name=filter]", "")
    await page.waitForSelector("tr[data-job=invoice_sync]")
  })

  it("pauses a job with a reason (seen paused through the API), then resumes it", async () => {
    await page.goto(`${base}/#/jobs/invoice_sync`)
    await page.fill("input[name=reason]", "billing provider maintenance")
    await page.click("button:text-is('Pause')")
    await page.waitForSelector("button:text-is('Resume')")
    const paused = await api<{ paused?: { reason?: string; by?: string } }>("/api/jobs/invoice_sync")
    expect(paused.paused?.reason).toBe("billing provider maintenance")
    expect(paused.paused?.by).toBe("api:admin")
    await expect.poll(() => page.locator("h1").textContent()).toContain("paused")
    await page.click("button:text-is('Resume')")
    await page.waitForSelector("button:text-is('Pause')")
    expect((await api<{ paused?: unknown }>("/api/jobs/invoice_sync")).paused).toBeUndefined()
  })

  it("triggers a job and sees its run appear in the history", async () => {
    await page.goto(`${base}/#/jobs/monthly_invoices`)
    await page.waitForSelector("table.runs")
    expect(await page.locator("table.runs tr[data-run]").count()).toBe(0)
    await page.click("button:text-is('Trigger now')")
    await expect.poll(() => page.locator("[role=status]").textContent()).toContain("Triggered: run ")
    await page.waitForSelector("table.runs tr[data-run]")
    const runs = await api<{ runs: Array<{ runId: string; reason: string }> }>("/api/runs?job=monthly_invoices")
    expect(runs.runs.map((run) => run.reason)).toEqual(["manual"])
    expect(await page.locator("table.runs tr[data-run]").getAttribute("data-run")).toBe(runs.runs[0]!.runId)
  })

  it("marks the DST transitions among a job's next fire times", async () => {
    // Monthly at 09:00 in New York: ten months ahead cross the spring and the autumn change of the offset.
    await page.goto(`${base}/#/jobs/monthly_invoices`)
    await page.waitForSelector("table.next-runs tbody tr")
    expect(await page.locator("table.next-runs tbody tr").count()).toBe(10)
    const marked = page.locator("table.next-runs tr[data-dst=true]")
    expect(await marked.count()).toBeGreaterThanOrEqual(1)
    const notes = await page.locator(".dst-note").allTextContents()
    expect(notes.some((note) => /UTC-05:00 → UTC-04:00 \(clocks go forward 1 h\)/.test(note))).toBe(true)
    await shot("job")
  })

  it("filters a job's history by status and opens a failed run: error, stack, attempts, trace link", async () => {
    await page.goto(`${base}/#/jobs/flaky_export`)
    await page.waitForSelector("table.runs")
    await expect.poll(async () => {
      const page = await api<{ runs: Array<unknown> }>("/api/runs?job=flaky_export&status=failed")
      return page.runs.length
    }, { timeout: 30_000 }).toBeGreaterThanOrEqual(1)
    await page.selectOption("select[name=status]", "failed")
    // Polled: the rows read before the filtered page arrives are the unfiltered ones, or none while it loads.
    await expect.poll(async () =>
      new Set(
        await page.locator("table.runs tr[data-run]").evaluateAll((rows) =>
          rows.map((row) => row.getAttribute("data-status"))
        )
      )
    ).toEqual(new Set(["failed"]))
    await shot("history")
    await page.locator("table.runs tr[data-run] a").first().click()
    await page.waitForSelector("pre.run-error")
    expect(await page.locator("pre.run-error").textContent()).toContain("upstream answered 503")
    expect(await page.locator("pre.run-stack").textContent()).toContain("Error")
    expect(await page.locator("table.attempts tbody tr").count()).toBeGreaterThanOrEqual(1)
    const trace = await page.locator("a.trace").getAttribute("href")
    expect(trace).toMatch(/^http:\/\/localhost:16686\/trace\/[0-9a-f]{32}$/)
    await shot("run")
  })

  it("creates a schedule: an invalid payload names the field, a valid one is created", async () => {
    await page.goto(`${base}/#/schedules/new`)
    await page.waitForSelector("form.schedule-form")
    await page.selectOption("select[name=kind]", "reminder")
    await page.fill("input[name=expression]", "0 9 * * 1")
    await page.fill("input[name=timezone]", "Europe/Lisbon")
    await expect.poll(() => page.locator(".preview").textContent()).toContain("at 09:00 on Monday")
    await page.fill("input[name='payload.email']", "not-an-e-mail")
    await page.selectOption("select[name='payload.channel']", "\"email\"")
    await page.click("button:text-is('Create schedule')")
    await expect.poll(() => page.locator("[role=alert]").first().textContent()).toContain(
      "payload.email: must be an e-mail address"
    )
    expect(await page.locator("input[name='payload.email']").getAttribute("aria-invalid")).toBe("true")
    expect(await page.locator("label:has(input[name='payload.email']) .field-error").textContent()).toBe(
      "must be an e-mail address"
    )
    await shot("schedule-invalid")
    await page.fill("input[name='payload.email']", "ana@example.com")
    await page.fill("input[name=id]", "ana-weekly")
    await page.click("button:text-is('Create schedule')")
    await page.waitForURL(/#\/schedules\/ana-weekly$/)
    const stored = await api<{ kind: string; payload: unknown; timezone?: string }>("/api/schedules/ana-weekly")
    expect(stored).toMatchObject({
      kind: "reminder",
      payload: { email: "ana@example.com", channel: "email" },
      timezone: "Europe/Lisbon"
    })
    await page.goto(`${base}/#/schedules`)
    await page.waitForSelector("tr[data-schedule=ana-weekly]")
    await shot("schedules")
  })

  it("shows the audit log of the changes made", async () => {
    await page.goto(`${base}/#/audit`)
    await page.waitForSelector("table.audit tbody tr")
    const text = await page.locator("table.audit").textContent()
    for (const action of ["pause", "resume", "trigger", "create"]) expect(text).toContain(action)
    await shot("audit")
  })

  it("shows an alert firing for the job that always fails, on the alerts page and the jobs page", async () => {
    await expect.poll(
      () => api<Array<{ rule: string; job: string }>>("/api/alerts?state=active"),
      { timeout: 45_000, interval: 1_000 }
    ).toEqual(expect.arrayContaining([expect.objectContaining({ job: "broken_import" })]))
    await page.goto(`${base}/#/alerts`)
    await page.waitForSelector("table.alerts tbody tr td a")
    expect(await page.locator("table.alerts").textContent()).toContain("broken_import")
    await shot("alerts")
    await page.goto(`${base}/#/jobs`)
    await page.waitForSelector("tr[data-job=broken_import] .badge.alert")
    await shot("jobs")
  })

  it("the viewer token reads every page but sees no control", async () => {
    await page.click("button:text-is('Sign out')")
    await signIn(VIEWER)
    await page.waitForSelector("table.jobs")
    await page.goto(`${base}/#/jobs/invoice_sync`)
    await page.waitForSelector("table.next-runs")
    expect(await page.locator("button:text-is('Pause'), button:text-is('Trigger now')").count()).toBe(0)
    await page.goto(`${base}/#/schedules/ana-weekly`)
    await page.waitForSelector("form.schedule-form")
    expect(await page.locator("button:text-is('Save changes')").count()).toBe(0)
    expect(pageErrors).toEqual([])
  })
})
