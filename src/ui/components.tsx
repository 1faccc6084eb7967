/** Pieces every page uses: loading data, badges, the outcome strip, notices. */
import { type ComponentChildren, createContext } from "preact"
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks"
import { ApiError, type Run, type Worker } from "./api.js"
import { dateTime } from "./format.js"

/** Who is signed in: the worker answering and the token's role. */
export const Session = createContext<Worker | undefined>(undefined)

/** Whether the signed-in token may change things (the admin token). */
export const useCanWrite = (): boolean => useContext(Session)?.caller === "admin"

export type Loaded<A> =
  | { readonly state: "loading" }
  | { readonly state: "error"; readonly error: ApiError | Error }
  | { readonly state: "ready"; readonly value: A }

/**
 * Loads `load()` now and whenever `deps` change; `reload()` loads again. With
 * `everyMs`, it reloads on that period while the page is visible, keeping
 * what it shows until the new answer arrives.
 */
export function useLoad<A>(
  load: () => Promise<A>,
  deps: ReadonlyArray<unknown>,
  everyMs?: number
): [Loaded<A>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<A>>({ state: "loading" })
  const generation = useRef(0)
  const reload = useCallback(() => {
    const mine = ++generation.current
    load().then(
      (value) => mine === generation.current && setLoaded({ state: "ready", value }),
      (error: unknown) =>
        mine === generation.current &&
        setLoaded({ state: "error", error: error instanceof Error ? error : new Error(String(error)) })
    )
  }, deps)
  useEffect(() => {
    setLoaded({ state: "loading" })
    reload()
    if (everyMs === undefined) return
    const timer = setInterval(() => document.visibilityState === "visible" && reload(), everyMs)
    return () => clearInterval(timer)
  }, [reload])
  return [loaded, reload]
}

/** Renders `ready` with the value; a spinner line while loading; the error, named, when it failed. */
export function Show<A>({ children, loaded }: { loaded: Loaded<A>; children: (value: A) => ComponentChildren }) {
  return loaded.state === "loading"
    ? <p class="muted">Loading…</p>
    : loaded.state === "error"
    ? <Notice kind="error">{errorText(loaded.error)}</Notice>
    : <>{children(loaded.value)}</>
}

export const errorText = (error: unknown): string =>
  error instanceof ApiError
    ? `${error.message} (${error.tag}, ${error.status})`
    : error instanceof Error
    ? error.message
    : String(error)

export const Notice = ({ children, kind }: { kind?: "error" | "ok"; children: ComponentChildren }) => (
  <div class={`notice ${kind ?? ""}`} role={kind === "error" ? "alert" : "status"}>{children}</div>
)

export const Badge = ({ children, kind }: { kind: string; children?: ComponentChildren }) => (
  <span class={`badge ${kind}`}>{children ?? kind.replace("_", " ")}</span>
)

/** A run's status badge, with the skip reason when it was skipped. */
export const Status = ({ run }: { run: Pick<Run, "status" | "skipReason"> }) => (
  <Badge kind={run.status}>
    {run.status.replace("_", " ")}
    {run.skipReason !== undefined ? ` (${run.skipReason})` : ""}
  </Badge>
)

/** The last runs as small squares, oldest at the left, each a link to its run. */
export const Strip = (
  { runs }: { runs: ReadonlyArray<{ runId: string; status: string; nominalAt: string; reason: string }> }
) => (
  <span class="strip" aria-label="recent outcomes">
    {[...runs].reverse().map((run) => (
      <a
        key={run.runId}
        class={run.status}
        href={`#/runs/${encodeURIComponent(run.runId)}`}
        title={`${run.status} · ${run.reason} · ${dateTime(run.nominalAt)}`}
      />
    ))}
  </span>
)

export const Time = ({ iso, zone }: { iso: string | undefined; zone?: string }) => (
  <span class="nowrap" title={iso}>{dateTime(iso, zone)}</span>
)

/** A button that runs `action`, disabled while it runs. */
export const Action = (
  { action, children, disabled, kind, label }: {
    action: () => Promise<void>
    children: ComponentChildren
    disabled?: boolean
    kind?: "secondary" | "danger"
    label?: string
  }
) => {
  const [busy, setBusy] = useState(false)
  return (
    <button
      type="button"
      class={kind ?? ""}
      aria-label={label}
      disabled={busy || disabled === true}
      onClick={() => {
        setBusy(true)
        action().finally(() => setBusy(false))
      }}
    >
      {children}
    </button>
  )
}

/**
 * Pages by cursor: the cursors of the pages before this one, `current` the one to ask with (undefined: the first
 * page). `forward` pushes the next page's cursor, `back` pops, `reset` returns to the first page (a new filter).
 */
export const usePages = () => {
  const [cursors, setCursors] = useState<ReadonlyArray<string | undefined>>([undefined])
  return {
    current: cursors[cursors.length - 1],
    number: cursors.length,
    back: () => setCursors((c) => c.slice(0, -1)),
    forward: (next: string | undefined) => setCursors((c) => [...c, next]),
    reset: () => setCursors([undefined])
  }
}

/** The buttons of {@link usePages}: back, the page number, forward (to `next`; none: this is the last page). */
export const Pager = (
  { labels = ["← Previous", "Next →"], next, pages }: {
    pages: ReturnType<typeof usePages>
    next: string | undefined
    labels?: readonly [string, string]
  }
) => (
  <div class="row pager">
    <button type="button" class="secondary" disabled={pages.number === 1} onClick={pages.back}>
      {labels[0]}
    </button>
    <span class="muted">Page {pages.number}</span>
    <button type="button" class="secondary" disabled={next === undefined} onClick={() => pages.forward(next)}>
      {labels[1]}
    </button>
  </div>
)
