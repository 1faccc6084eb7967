/**
 * Schedules of job kinds: the list (a page at a time), and the form that
 * creates or edits one: the kind, the expression with a live preview (its
 * words and next fire times, or what is wrong with it), the zone, the payload
 * form derived from the kind's Schema, the options and bounds. A refusal names
 * the field, which the form marks.
 */
import { useEffect, useState } from "preact/hooks"
import { api, ApiError, type Kind, type Preview, type Schedule } from "./api.js"
import { Action, Badge, errorText, Notice, Pager, Show, useCanWrite, useLoad, usePages } from "./components.js"
import { dateTime, fromLocalInput, relative, toLocalInput } from "./format.js"
import { type Invalid, PayloadForm } from "./payload.js"

export const SchedulesPage = () => {
  const canWrite = useCanWrite()
  const pages = usePages()
  const after = pages.current
  const [loaded] = useLoad(() => api.schedules({ after, limit: 50 }), [after], 10_000)
  return (
    <>
      <h1>Schedules</h1>
      <p class="muted">
        Schedules of the worker's job kinds, created at run time. Each runs as the job <code>schedule:&lt;id&gt;</code>.
      </p>
      {canWrite
        ? (
          <p>
            <a class="button" href="#/schedules/new">New schedule</a>
          </p>
        )
        : null}
      <Show loaded={loaded}>
        {(page) => (
          <>
            <table class="schedules">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Kind</th>
                  <th>Expression</th>
                  <th>Zone</th>
                  <th>State</th>
                  <th>Version</th>
                  <th>Next fire</th>
                </tr>
              </thead>
              <tbody>
                {page.schedules.length === 0
                  ? (
                    <tr>
                      <td colSpan={7} class="muted">No schedules yet.</td>
                    </tr>
                  )
                  : null}
                {page.schedules.map((s) => (
                  <tr key={s.id} data-schedule={s.id}>
                    <td>
                      <a href={`#/schedules/${encodeURIComponent(s.id)}`}>{s.id}</a>
                      {s.note !== undefined ? <div class="muted">{s.note}</div> : null}
                    </td>
                    <td>{s.kind}</td>
                    <td class="mono">{s.expression}</td>
                    <td>{s.timezone ?? ""}</td>
                    <td>
                      <Badge kind={s.state === "active" ? "succeeded" : s.state === "ended" ? "skipped" : "failed"}>
                        {s.state}
                      </Badge>
                      {s.stateReason !== undefined ? <div class="muted">{s.stateReason}</div> : null}
                    </td>
                    <td>{s.version}</td>
                    <td class="nowrap">{s.nextRuns[0] !== undefined ? relative(s.nextRuns[0]) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager pages={pages} next={page.next} />
          </>
        )}
      </Show>
    </>
  )
}

/** The expression in words and its next fire times, as the worker reads it, while it is typed. */
const LivePreview = ({ expression, timezone }: { expression: string; timezone: string }) => {
  const [preview, setPreview] = useState<{ ok: Preview } | { error: string } | undefined>(undefined)
  useEffect(() => {
    if (expression.trim() === "") {
      setPreview(undefined)
      return
    }
    let current = true
    const timer = setTimeout(() => {
      api.preview({ expression, ...(timezone !== "" ? { timezone } : {}), count: 5 }).then(
        (ok) => current && setPreview({ ok }),
        (error: unknown) => current && setPreview({ error: error instanceof Error ? error.message : String(error) })
      )
    }, 250)
    return () => {
      current = false
      clearTimeout(timer)
    }
  }, [expression, timezone])
  if (preview === undefined) return null
  if ("error" in preview) return <div class="preview field-error" role="alert">{preview.error}</div>
  return (
    <div class="preview panel">
      <strong>{preview.ok.description}</strong>
      <ol>
        {preview.ok.next.map((at) => (
          <li key={at}>
            {dateTime(at, preview.ok.timezone)} <span class="muted">{preview.ok.timezone} · {relative(at)}</span>
          </li>
        ))}
      </ol>
    </div>
  )
}

const ZONES: ReadonlyArray<string> = (() => {
  try {
    return Intl.supportedValuesOf("timeZone")
  } catch {
    return []
  }
})()

/** The field a refusal names: `payload.userId: must be …` → `payload.userId`. */
const fieldOf = (message: string): Invalid | undefined => {
  const match = /^([A-Za-z_][\w.]*): (.*)$/s.exec(message)
  return match === null ? undefined : { field: match[1]!, reason: match[2]! }
}

type Draft = {
  id: string
  key: string
  kind: string
  expression: string
  timezone: string
  payload: unknown
  overlap: string
  catchUp: string
  timeout: string
  remainingRuns: string
  startAt: string
  endAt: string
  note: string
}

const draftOf = (schedule: Schedule | undefined, kinds: ReadonlyArray<Kind>): Draft => ({
  id: schedule?.id ?? "",
  key: schedule?.key ?? "",
  kind: schedule?.kind ?? kinds[0]?.name ?? "",
  expression: schedule?.expression ?? "0 8 * * 1-5",
  timezone: schedule?.timezone ?? "",
  payload: schedule?.payload ?? {},
  overlap: schedule?.overlap ?? "",
  catchUp: schedule?.catchUp ?? "",
  timeout: schedule?.timeout === undefined ? "" : String(schedule.timeout),
  remainingRuns: schedule?.remainingRuns === undefined ? "" : String(schedule.remainingRuns),
  startAt: schedule?.startAt === undefined ? "" : toLocalInput(new Date(schedule.startAt)),
  endAt: schedule?.endAt === undefined ? "" : toLocalInput(new Date(schedule.endAt)),
  note: schedule?.note ?? ""
})

/** The definition the API takes, from the form: empty fields are left out (the defaults apply). */
const bodyOf = (draft: Draft): Record<string, unknown> => {
  const body: Record<string, unknown> = { kind: draft.kind, expression: draft.expression, payload: draft.payload }
  const optional = (key: string, value: string | undefined, map: (s: string) => unknown = (s) => s) => {
    if (value !== undefined && value.trim() !== "") body[key] = map(value.trim())
  }
  optional("timezone", draft.timezone)
  optional("overlap", draft.overlap)
  optional("catchUp", draft.catchUp)
  optional("timeout", draft.timeout, (s) => (/^\d+$/.test(s) ? Number(s) : s))
  optional("remainingRuns", draft.remainingRuns, Number)
  optional("startAt", fromLocalInput(draft.startAt))
  optional("endAt", fromLocalInput(draft.endAt))
  optional("note", draft.note)
  return body
}

const ScheduleForm = ({ kinds, schedule }: { kinds: ReadonlyArray<Kind>; schedule: Schedule | undefined }) => {
  const canWrite = useCanWrite()
  const [draft, setDraft] = useState<Draft>(() => draftOf(schedule, kinds))
  const [failure, setFailure] = useState<{ text: string; field: Invalid | undefined } | undefined>(undefined)
  const [saved, setSaved] = useState<string | undefined>(undefined)
  const set = <K extends keyof Draft>(key: K) => (value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }))
  const kind = kinds.find((k) => k.name === draft.kind)
  const invalid = (name: string) => (failure?.field?.field === name ? "true" : undefined)
  const submit = async () => {
    setSaved(undefined)
    try {
      if (schedule === undefined) {
        const body = bodyOf(draft)
        if (draft.id.trim() !== "") body.id = draft.id.trim()
        if (draft.key.trim() !== "") body.key = draft.key.trim()
        const created = await api.createSchedule(body)
        setFailure(undefined)
        location.hash = `#/schedules/${encodeURIComponent(created.schedule.id)}`
      } else {
        const updated = await api.updateSchedule(schedule.id, { ...bodyOf(draft), version: schedule.version })
        setFailure(undefined)
        setSaved(`Saved: version ${updated.version}.`)
      }
    } catch (error) {
      const text = errorText(error)
      setFailure({ text, field: error instanceof ApiError ? fieldOf(error.message) : undefined })
    }
  }
  return (
    <form
      class="schedule-form"
      onSubmit={(e) => {
        e.preventDefault()
        void submit()
      }}
    >
      {failure !== undefined ? <Notice kind="error">{failure.text}</Notice> : null}
      {saved !== undefined ? <Notice kind="ok">{saved}</Notice> : null}
      <fieldset>
        <legend>Schedule</legend>
        <div class="form">
          {schedule === undefined
            ? (
              <>
                <label>
                  Id (optional)
                  <input
                    name="id"
                    aria-invalid={invalid("id")}
                    value={draft.id}
                    onInput={(e) => set("id")(e.currentTarget.value)}
                    placeholder="generated"
                  />
                </label>
                <label>
                  Idempotency key (optional)
                  <input name="key" value={draft.key} onInput={(e) => set("key")(e.currentTarget.value)} />
                </label>
              </>
            )
            : null}
          <label>
            Kind
            <select
              name="kind"
              aria-invalid={invalid("kind")}
              value={draft.kind}
              onChange={(e) => setDraft((d) => ({ ...d, kind: e.currentTarget.value, payload: {} }))}
            >
              {kinds.map((k) => <option key={k.name} value={k.name}>{k.name}</option>)}
            </select>
            {kind?.description !== undefined ? <span class="muted">{kind.description}</span> : null}
          </label>
          <label>
            Expression
            <input
              name="expression"
              class="mono"
              aria-invalid={invalid("expression")}
              value={draft.expression}
              onInput={(e) => set("expression")(e.currentTarget.value)}
            />
          </label>
          <label>
            Time zone (default: the worker's)
            <input
              name="timezone"
              list="zones"
              aria-invalid={invalid("timezone")}
              value={draft.timezone}
              onInput={(e) => set("timezone")(e.currentTarget.value)}
            />
            <datalist id="zones">{ZONES.map((z) => <option key={z} value={z} />)}</datalist>
          </label>
        </div>
        <LivePreview expression={draft.expression} timezone={draft.timezone} />
      </fieldset>
      {kind !== undefined
        ? (
          <PayloadForm
            schema={kind.payload}
            value={draft.payload}
            invalid={failure?.field}
            onChange={(payload) => set("payload")(payload ?? {})}
          />
        )
        : null}
      <fieldset>
        <legend>Options</legend>
        <div class="form">
          <label>
            Overlap
            <select name="overlap" value={draft.overlap} onChange={(e) => set("overlap")(e.currentTarget.value)}>
              <option value="">default (skip)</option>
              {["skip", "allow", "queue", "replace"].map((o) => <option key={o} value={o}>{o}</option>)}
            </select>
          </label>
          <label>
            Catch-up
            <select name="catchUp" value={draft.catchUp} onChange={(e) => set("catchUp")(e.currentTarget.value)}>
              <option value="">default</option>
              {["latest", "skip", "all"].map((o) => <option key={o} value={o}>{o}</option>)}
            </select>
          </label>
          <label>
            Timeout ("5 minutes", or ms)
            <input
              name="timeout"
              aria-invalid={invalid("timeout")}
              value={draft.timeout}
              onInput={(e) => set("timeout")(e.currentTarget.value)}
            />
          </label>
          <label>
            Runs left (optional)
            <input
              name="remainingRuns"
              type="number"
              min="1"
              aria-invalid={invalid("remainingRuns")}
              value={draft.remainingRuns}
              onInput={(e) => set("remainingRuns")(e.currentTarget.value)}
            />
          </label>
          <label>
            Start at (optional)
            <input
              name="startAt"
              type="datetime-local"
              aria-invalid={invalid("startAt")}
              value={draft.startAt}
              onInput={(e) => set("startAt")(e.currentTarget.value)}
            />
          </label>
          <label>
            End at (optional)
            <input
              name="endAt"
              type="datetime-local"
              aria-invalid={invalid("endAt")}
              value={draft.endAt}
              onInput={(e) => set("endAt")(e.currentTarget.value)}
            />
          </label>
          <label>
            Note
            <input name="note" value={draft.note} onInput={(e) => set("note")(e.currentTarget.value)} />
          </label>
        </div>
      </fieldset>
      {canWrite
        ? (
          <div class="actions">
            <button type="submit">{schedule === undefined ? "Create schedule" : "Save changes"}</button>
            {schedule !== undefined
              ? (
                <Action
                  kind="danger"
                  action={async () => {
                    if (!confirm(`Delete schedule ${schedule.id}? Its history stays.`)) return
                    try {
                      await api.deleteSchedule(schedule.id)
                      location.hash = "#/schedules"
                    } catch (error) {
                      setFailure({ text: errorText(error), field: undefined })
                    }
                  }}
                >
                  Delete
                </Action>
              )
              : null}
          </div>
        )
        : null}
    </form>
  )
}

export const SchedulePage = ({ id }: { id: string | undefined }) => {
  const [loaded] = useLoad(
    () => Promise.all([api.kinds(), id === undefined ? Promise.resolve(undefined) : api.schedule(id)]),
    [id]
  )
  return (
    <Show loaded={loaded}>
      {([kinds, schedule]) => (
        <>
          <h1>{schedule === undefined ? "New schedule" : `Schedule ${schedule.id}`}</h1>
          {schedule !== undefined
            ? (
              <p>
                Job <a href={`#/jobs/${encodeURIComponent(schedule.job)}`}>{schedule.job}</a> · version{" "}
                {schedule.version} · {schedule.state} · updated {dateTime(schedule.updatedAt)}
              </p>
            )
            : null}
          {kinds.length === 0
            ? <Notice kind="error">This worker declares no job kinds: there is nothing to schedule.</Notice>
            : <ScheduleForm key={schedule?.version ?? "new"} kinds={kinds} schedule={schedule} />}
        </>
      )}
    </Show>
  )
}
