// bench/results/latest.md from the results of bench/run.mjs.
const SELF = "cron-worker"
const PEERS = ["croner", "node-cron", "cron (kelektiv)", "effect Schedule.cron"]

const fixed = (value, digits = 1) => (typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–")
const ratio = (peer, self) =>
  typeof peer === "number" && typeof self === "number" && Number.isFinite(peer) && Number.isFinite(self) && self > 0
    ? `${peer / self >= 0.1 ? (peer / self).toFixed(2) : (peer / self).toPrecision(2)}×`
    : "–"
const table = (header, rows) =>
  [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")
const bytes = (value) => (Number.isFinite(value) ? `${(value / 1024).toFixed(2)} KiB` : "–")

export const render = (results) => {
  const lines = []
  const out = (...text) => lines.push(...text)
  const m = results.machine
  out(
    "# Benchmark results",
    "",
    `${results.date.slice(0, 10)} · ${m.cores} cores (${m.cpu}) · ${m.memoryGiB} GiB · Node ${m.node}` +
      (results.quick ? " · **quick run: shortened windows, not results**" : ""),
    "",
    "Written by `npm run bench` (bench/run.mjs); the raw numbers are in `latest.json`. Every scheduler",
    "runs in a process of its own, one after another, on the same machine in the same run. Ratios are",
    "peer ÷ cron-worker (above 1× means cron-worker is lower: lower lag, less CPU, less memory; for",
    "next-time speed, above 1× means the peer is faster). `cron-worker` runs with its real bookkeeping",
    "(memory run store: every slot claimed and its outcome recorded; the global semaphore; overlap",
    "`skip`; a timeout on every run) and logs at `warn`; `cron-worker (info logs)` is the same at the",
    "default level, a JSON line per run start and end (written to /dev/null).",
    ""
  )

  if (results.A.length > 0) {
    out(
      "## A. Fire lag",
      "",
      "N jobs on `* * * * * *`; lag = job start − nominal second, over the judged seconds after a 2 s warm-up.",
      "The nominal second is the one the library names (cron-worker, node-cron), " +
        "else the second the fire follows (up to 100 ms early counts",
      "for the next one), so a peer's fire later than 900 ms counts for the wrong second (a miss and a duplicate).",
      "CPU per job-tick = process CPU time over those seconds ÷ fires.",
      ""
    )
    for (const jobs of [...new Set(results.A.map((r) => r.jobs))]) {
      const rows = results.A.filter((r) => r.jobs === jobs)
      const self = rows.find((r) => r.scheduler === SELF)
      out(`### N = ${jobs}`, "")
      out(
        table(
          [
            "scheduler",
            "p50 ms",
            "p99 ms",
            "max ms",
            "missed",
            "duplicates",
            "CPU µs / job-tick",
            "p99 ratio",
            "CPU ratio"
          ],
          rows.map((r) =>
            r.error !== undefined
              ? [r.scheduler, `failed: ${r.error}`, "", "", "", "", "", "", ""]
              : [
                r.scheduler,
                fixed(r.p50),
                fixed(r.p99),
                fixed(r.max),
                `${r.missed} / ${r.expected}`,
                String(r.duplicates),
                fixed(r.cpuPerTickUs),
                r.scheduler === SELF ? "1×" : ratio(r.p99, self?.p99),
                r.scheduler === SELF ? "1×" : ratio(r.cpuPerTickUs, self?.cpuPerTickUs)
              ]
          )
        ),
        ""
      )
    }
  }

  if (results.B.length > 0) {
    const self = results.B.find((r) => r.scheduler === SELF)
    out(
      "## B. Scale at rest",
      "",
      "10,000 jobs on `0 0 1 1 *` (next fire more than 24.8 days away: longer than one Node timer can wait).",
      "Heap per job: used heap after a full GC, after registering minus before, ÷ 10,000. " +
        "Timers: live `Timeout` handles the jobs added.",
      ""
    )
    out(
      table(
        [
          "scheduler",
          "registration ms",
          "heap / job",
          "heap ratio",
          "RSS MiB",
          "live timers",
          "CPU ms, 10 s idle",
          "CPU ms, 60 s idle"
        ],
        results.B.map((r) =>
          r.error !== undefined
            ? [r.scheduler, `failed: ${r.error}`, "", "", "", "", "", ""]
            : [
              r.scheduler,
              fixed(r.registrationMs, 0),
              bytes(r.heapPerJobBytes),
              r.scheduler === SELF ? "1×" : ratio(r.heapPerJobBytes, self?.heapPerJobBytes),
              fixed(r.rssMiB, 0),
              String(r.timers) + (r.timers === 0 ? " (**no timer: far jobs never fire**)" : ""),
              fixed(r.idleCpuMs, 0),
              fixed(r.longCpuMs, 0)
            ]
        )
      ),
      ""
    )
  }

  if (results.C?.results !== undefined) {
    out(
      "## C. Next-time speed",
      "",
      "Next fire instant from each of 1000 fixed instants (2026–2030), " +
        "calls per second. Every library's answers were first",
      "compared with cron-worker's for those 1000 instants; disagreements are counted. " +
        "node-cron has no next-time call from an arbitrary instant.",
      ""
    )
    const rows = results.C.results
    const libraries = [...new Set(rows.map((r) => r.library))]
    for (const zone of [...new Set(rows.map((r) => r.zone))]) {
      out(`### ${zone}`, "")
      const expressions = [...new Set(rows.map((r) => r.expression))]
      out(
        table(
          ["library", ...expressions.flatMap((e) => [`\`${e}\` /s`, "ratio"]), "disagreements"],
          libraries.map((library) => {
            const cells = expressions.flatMap((expression) => {
              const r = rows.find((x) => x.library === library && x.zone === zone && x.expression === expression)
              const self = rows.find((x) => x.library === SELF && x.zone === zone && x.expression === expression)
              return [
                r === undefined ? "–" : Math.round(r.perSecond).toLocaleString("en-US"),
                library === SELF ? "1×" : ratio(r?.perSecond, self?.perSecond)
              ]
            })
            const wrong = rows.filter((x) => x.library === library && x.zone === zone && x.disagreements > 0)
            return [
              library,
              ...cells,
              wrong.length === 0
                ? "0"
                : wrong.map((x) => `${x.disagreements} on \`${x.expression}\` (${x.example})`).join("; ")
            ]
          })
        ),
        ""
      )
    }
  } else if (results.C?.error !== undefined) out("## C. Next-time speed", "", `failed: ${results.C.error}`, "")

  if (results.D !== undefined) {
    const d = results.D
    out(
      "## D. Distributed claims",
      "",
      "cron-worker only: no peer has a shared run store. Three worker " +
        "processes on one PostgreSQL database, each with the same",
      "1000 every-second jobs; judged seconds after a warm-up. Round trips: queries the " +
        "three processes sent to PostgreSQL over those seconds ÷ slots.",
      ""
    )
    out(
      d.error !== undefined ? `failed: ${d.error}` : table(
        [
          "workers",
          "jobs",
          "slots judged",
          "succeeded",
          "missed",
          "duplicates",
          "slots / s",
          "round trips / slot",
          "lag p50 ms",
          "lag p99 ms",
          "lag max ms"
        ],
        [[
          String(d.workers),
          String(d.jobs),
          String(d.expected),
          String(d.succeeded),
          String(d.missed),
          String(d.duplicates),
          fixed(d.slotsPerSecond, 0),
          fixed(d.roundTripsPerSlot, 3),
          fixed(d.p50),
          fixed(d.p99),
          fixed(d.max)
        ]]
      ),
      ""
    )
  }

  if (results.E !== undefined) {
    out(
      "## E. Start and shutdown",
      "",
      "cron-worker only (the peers are libraries, not processes). " +
        "`node dist/main.js` from spawn to `worker started successfully`;",
      "SIGTERM to exit. Medians of the rounds; the first start on a fresh " +
        "database or directory (which creates and migrates it) apart.",
      ""
    )
    out(
      results.E.error !== undefined ? `failed: ${results.E.error}` : table(
        [
          "case",
          "first start ms",
          "start ms",
          "SIGTERM → exit, idle, ms",
          "SIGTERM → exit, job running, ms",
          "exit after the run ended, ms"
        ],
        results.E.rows.map((
          r
        ) => [
          r.name,
          fixed(r.firstStartMs, 0),
          fixed(r.startMs, 0),
          fixed(r.idleShutdownMs, 0),
          fixed(r.busyShutdownMs, 0),
          fixed(r.afterRunMs, 0)
        ])
      ),
      ""
    )
  }

  out("## Targets", "", ...targets(results).map(([met, text]) => `- ${met ? "met" : "**missed**"}: ${text}`), "")
  return lines.join("\n")
}

/** [met, sentence] for each target of issue #5 that this run measured. */
export const targets = (results) => {
  const list = []
  for (const jobs of [1000, 10000]) {
    const rows = results.A.filter((r) => r.jobs === jobs && r.error === undefined)
    const self = rows.find((r) => r.scheduler === SELF)
    const peers = rows.filter((r) => PEERS.includes(r.scheduler))
    if (self === undefined || peers.length === 0) continue
    const best = peers.reduce((a, b) => (b.p99 < a.p99 ? b : a))
    list.push([
      self.p99 <= best.p99 && self.missed === 0 && self.duplicates === 0,
      `fire lag p99 at N = ${jobs}: cron-worker ${
        fixed(self.p99)
      } ms (${self.missed} missed, ${self.duplicates} duplicates), best peer ${best.scheduler} ${fixed(best.p99)} ms`
    ])
    const cheapest = peers.reduce((a, b) => (b.cpuPerTickUs < a.cpuPerTickUs ? b : a))
    list.push([
      self.cpuPerTickUs <= cheapest.cpuPerTickUs,
      `CPU per job-tick at N = ${jobs}: cron-worker ${fixed(self.cpuPerTickUs)} µs, best peer ${cheapest.scheduler} ${
        fixed(cheapest.cpuPerTickUs)
      } µs`
    ])
  }
  const self = results.B.find((r) => r.scheduler === SELF && r.error === undefined)
  if (self !== undefined) {
    list.push([
      self.heapPerJobBytes <= 4096,
      `retained memory per idle job: ${bytes(self.heapPerJobBytes)} (target 4 KiB)`
    ])
    list.push([
      self.timers >= self.jobs,
      `a rare job keeps a live timer: ${self.timers} live timers for ${self.jobs} jobs`
    ])
  }
  for (const zone of ["UTC", "America/New_York"]) {
    const rows = results.C?.results?.filter((r) => r.zone === zone) ?? []
    for (const expression of [...new Set(rows.map((r) => r.expression))]) {
      const own = rows.find((r) => r.library === SELF && r.expression === expression)
      const croner = rows.find((r) => r.library === "croner" && r.expression === expression)
      if (own === undefined || croner === undefined) continue
      list.push([
        own.perSecond >= croner.perSecond,
        `next-time speed, \`${expression}\` in ${zone}: cron-worker ${
          Math.round(own.perSecond).toLocaleString("en-US")
        }/s, croner ${Math.round(croner.perSecond).toLocaleString("en-US")}/s`
      ])
    }
  }
  if (results.D !== undefined && results.D.error === undefined) {
    list.push([
      results.D.missed === 0 && results.D.duplicates === 0,
      `distributed: ${results.D.missed} missed and ${results.D.duplicates} duplicate slots over ${results.D.expected}`
    ])
  }
  return list
}
