/**
 * The dashboard's entry: the sign-in page until a token is accepted, then the
 * pages by the address's hash (`#/jobs`, `#/jobs/<name>`, `#/runs`,
 * `#/runs/<id>`, `#/schedules`, `#/schedules/new`, `#/schedules/<id>`,
 * `#/alerts`, `#/audit`).
 */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { AlertsPage } from "./alerts.js"
import { api, setOnUnauthorized, token, type Worker } from "./api.js"
import { AuditPage } from "./audit.js"
import { errorText, Notice, Session } from "./components.js"
import { History, JobPage } from "./job.js"
import { JobsPage } from "./jobs.js"
import { RunPage } from "./run.js"
import { SchedulePage, SchedulesPage } from "./schedules.js"

const Login = ({ onSignedIn, reason }: { onSignedIn: (worker: Worker) => void; reason: string | undefined }) => {
  const [value, setValue] = useState("")
  const [failure, setFailure] = useState<string | undefined>(reason)
  const [busy, setBusy] = useState(false)
  return (
    <main class="login panel">
      <h1>cron-worker</h1>
      <p class="muted">
        Sign in with the worker's admin token (<code>ADMIN_TOKEN</code>, or the file <code>ADMIN_TOKEN_FILE</code>{" "}
        on its first start) or its read-only viewer token (<code>VIEWER_TOKEN</code>).
      </p>
      {failure !== undefined ? <Notice kind="error">{failure}</Notice> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault()
          setBusy(true)
          const candidate = value.trim()
          api.worker(candidate).then(
            (worker) => {
              token.set(candidate)
              onSignedIn(worker)
            },
            (error: unknown) => {
              setBusy(false)
              setFailure(
                error instanceof Error && "status" in error && error.status === 401
                  ? "The worker does not accept this token."
                  : errorText(error)
              )
            }
          )
        }}
      >
        <label>
          Token
          <input
            name="token"
            type="password"
            autocomplete="current-password"
            required
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </label>
        <p>
          <button type="submit" disabled={busy}>Sign in</button>
        </p>
      </form>
    </main>
  )
}

const useHash = (): string => {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const update = () => setHash(location.hash)
    addEventListener("hashchange", update)
    return () => removeEventListener("hashchange", update)
  }, [])
  return hash
}

const Page = ({ path }: { path: ReadonlyArray<string> }) => {
  const [section, id] = path
  switch (section) {
    case undefined:
    case "":
    case "jobs":
      return id === undefined ? <JobsPage /> : <JobPage name={id} />
    case "runs":
      return id === undefined
        ? (
          <>
            <h1>Runs</h1>
            <History />
          </>
        )
        : <RunPage id={id} />
    case "schedules":
      return id === undefined ? <SchedulesPage /> : <SchedulePage id={id === "new" ? undefined : id} />
    case "alerts":
      return <AlertsPage />
    case "audit":
      return <AuditPage />
    default:
      return <Notice kind="error">No page at #{path.join("/")}.</Notice>
  }
}

const NAV: ReadonlyArray<readonly [string, string]> = [
  ["jobs", "Jobs"],
  ["runs", "Runs"],
  ["schedules", "Schedules"],
  ["alerts", "Alerts"],
  ["audit", "Audit log"]
]

const App = () => {
  const [worker, setWorker] = useState<Worker | undefined>(undefined)
  const [checking, setChecking] = useState(token.get() !== null)
  const [signedOut, setSignedOut] = useState<string | undefined>(undefined)
  const hash = useHash()
  useEffect(() => {
    setOnUnauthorized(() => {
      token.clear()
      setWorker(undefined)
      setSignedOut("The worker no longer accepts this token: sign in again.")
    })
    if (token.get() === null) return
    api.worker().then(
      (w) => {
        setWorker(w)
        setChecking(false)
      },
      () => {
        token.clear()
        setChecking(false)
      }
    )
  }, [])
  if (checking) return <p class="muted pad">Signing in…</p>
  if (worker === undefined) {
    return (
      <Login
        reason={signedOut}
        onSignedIn={(w) => {
          setSignedOut(undefined)
          setWorker(w)
        }}
      />
    )
  }
  const path = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent)
  const section = path[0] === "" || path[0] === undefined ? "jobs" : path[0]
  return (
    <Session.Provider value={worker}>
      <header class="top">
        <span class="brand">cron-worker</span>
        <nav>
          {NAV.map(([key, label]) => <a key={key} href={`#/${key}`} class={section === key ? "active" : ""}>{label}
          </a>)}
        </nav>
        <span class="muted" title={worker.database}>
          {worker.service} · {worker.caller}
        </span>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            token.clear()
            setWorker(undefined)
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Page key={hash} path={path} />
      </main>
    </Session.Provider>
  )
}

const root = document.getElementById("app")
if (root !== null) {
  root.textContent = ""
  render(<App />, root)
}
