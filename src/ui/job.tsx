/**
 * One job: what it is, its next 10 fire times in its zone with the DST
 * transitions between them marked, pause (reason, expiry), resume, trigger,
 * backfill, and its history with filters and pages (the API's cursor: a page
 * costs the same at the millionth run as at the first).
 */
import { useState } from "preact/hooks"
import { api, type Job, type Run } from "./api.js"
import { Action, errorText, Notice, Pager, Show, Status, Time, useCanWrite, useLoad, usePages } from "./components.js"
import { dateTime, duration, fromLocalInput, offset, relative, toLocalInput, wallClock } from "./format.js"
import { State } from "./jobs.js"

const hours = (from: string, to: string): number => {
  const minutes = (text: string) => {
    const match = /^UTC([+-])(\d\d):(\d\d)$/.exec(text)
    return match === null ? 0 : (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]))
  }
  return (minutes(to) - minutes(from)) / 60
}

/** The next fire times, each in the job's zone with its offset; a row where the offset changed is marked. */
const NextRuns = ({ job }: { job: Job }) => {
  let previous = offset(new Date(), job.timezone)
  return (
    <table class="next-runs">
      <thead>
        <tr>
          <th>#</th>
          <th>In {job.timezone}</th>
          <th>Offset</th>
          <th>UTC</th>
          <th>When</th>
        </tr>
      </thead>
      <tbody>
        {job.nextRuns.map((at, i) => {
          const current = offset(new Date(at), job.timezone)
          const changed = current !== previous
          const shift = hours(previous, current)
          const row = (
            <tr key={at} class={changed ? "dst" : ""} data-dst={changed ? "true" : undefined}>
              <td>{i + 1}</td>
              <td class="nowrap">{wallClock(at, job.timezone)}</td>
              <td class="nowrap">
                {current}
                {changed
                  ? (
                    <div class="dst-note">
                      DST transition: {previous} → {current} (clocks go {shift > 0 ? "forward" : "back"}{" "}
                      {Math.abs(shift)} h)
                    </div>
                  )
                  : null}
              </td>
              <td class="nowrap mono">{at}</td>
              <td>{relative(at)}</td>
            </tr>
          )
          previous = current
          return row
        })}
      </tbody>
    </table>
  )
}

const Actions = ({ job, onChange }: { job: Job; onChange: () => void }) => {
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | undefined>(undefined)
  const [reason, setReason] = useState("")
  const [until, setUntil] = useState("")
  const [overlap, setOverlap] = useState<"" | "skip" | "allow" | "queue">("")
  const [from, setFrom] = useState(toLocalInput(new Date(Date.now() - 3_600_000)))
  const [to, setTo] = useState(toLocalInput(new Date()))
  const attempt = (f: () => Promise<string | undefined>) => async () => {
    try {
      const text = await f()
      setNotice(text === undefined ? undefined : { kind: "ok", text })
      onChange()
    } catch (error) {
      setNotice({ kind: "error", text: errorText(error) })
    }
  }
  const overrides = overlap === "" ? {} : { overlap }
  return (
    <div class="panel">
      <h2>Operate</h2>
      {notice !== undefined ? <Notice kind={notice.kind}>{notice.text}</Notice> : null}
      <div class="row">
        {job.paused === undefined
          ? (
            <>
              <label>
                Pause reason
                <input name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              <label>
                Until (optional)
                <input
                  name="until"
                  type="datetime-local"
                  value={until}
                  onInput={(e) => setUntil(e.currentTarget.value)}
                />
              </label>
              <Action
                action={attempt(async () => {
                  const untilIso = fromLocalInput(until)
                  await api.pause(job.name, {
                    ...(reason !== "" ? { reason } : {}),
                    ...(untilIso !== undefined ? { until: untilIso } : {})
                  })
                  return `Paused ${job.name}.`
                })}
              >
                Pause
              </Action>
            </>
          )
          : (
            <Action
              action={attempt(async () => {
                await api.resume(job.name)
                return `Resumed ${job.name}.`
              })}
            >
              Resume
            </Action>
          )}
      </div>
      <div class="row">
        <label>
          Overlap (this run or backfill)
          <select name="overlap" value={overlap} onChange={(e) => setOverlap(e.currentTarget.value as typeof overlap)}>
            <option value="">the job's ({job.overlap})</option>
            <option value="skip">skip</option>
            <option value="allow">allow</option>
            <option value="queue">queue</option>
          </select>
        </label>
        <Action
          action={attempt(async () => {
            const run = await api.trigger(job.name, { ...overrides, wait: false })
            return `Triggered: run ${run.runId} is ${run.status}.`
          })}
        >
          Trigger now
        </Action>
      </div>
      <div class="row">
        <label>
          Backfill from
          <input name="from" type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          to (exclusive)
          <input name="to" type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <Action
          kind="secondary"
          action={attempt(async () => {
            const fromIso = fromLocalInput(from)
            const toIso = fromLocalInput(to)
            if (fromIso === undefined || toIso === undefined) throw new Error("backfill: give both from and to")
            const backfill = await api.backfill(job.name, { from: fromIso, to: toIso, ...overrides })
            return `Backfill ${backfill.id}: ${backfill.slots.length} slot(s) to run, oldest first.`
          })}
        >
          Backfill
        </Action>
      </div>
    </div>
  )
}

const STATUSES: ReadonlyArray<Run["status"]> = [
  "running",
  "queued",
  "succeeded",
  "failed",
  "timed_out",
  "interrupted",
  "skipped",
  "abandoned"
]

/** A job's runs (or every job's, without `job`), newest first, filtered, a page at a time. */
export const History = ({ job, refresh }: { job?: string; refresh?: number }) => {
  const [status, setStatus] = useState("")
  const [from, setFrom] = useState("")
  const [to, setTo] = useState("")
  const [limit, setLimit] = useState(25)
  const pages = usePages()
  const cursor = pages.current
  const [loaded, reload] = useLoad(
    () =>
      api.runs({
        job,
        status: status === "" ? undefined : status,
        from: fromLocalInput(from),
        to: fromLocalInput(to),
        cursor,
        limit
      }),
    [job, status, from, to, limit, cursor, refresh],
    pages.number === 1 ? 5_000 : undefined
  )
  function refilter<A>(set: (a: A) => void) {
    return (a: A) => {
      set(a)
      pages.reset()
    }
  }
  return (
    <div class="history">
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select name="status" value={status} onChange={(e) => refilter(setStatus)(e.currentTarget.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.replace("_", " ")}</option>)}
          </select>
        </label>
        <label>
          Started from
          <input
            name="from"
            type="datetime-local"
            value={from}
            onInput={(e) => refilter(setFrom)(e.currentTarget.value)}
          />
        </label>
        <label>
          Started before
          <input name="to" type="datetime-local" value={to} onInput={(e) => refilter(setTo)(e.currentTarget.value)} />
        </label>
        <label>
          Per page
          <select
            name="limit"
            value={String(limit)}
            onChange={(e) => refilter(setLimit)(Number(e.currentTarget.value))}
          >
            {[25, 50, 100, 200].map((n) => <option key={n} value={String(n)}>{n}</option>)}
          </select>
        </label>
        <button type="button" class="secondary" onClick={reload}>Refresh</button>
      </form>
      <Show loaded={loaded}>
        {(page) => (
          <>
            <table class="runs">
              <thead>
                <tr>
                  {job === undefined ? <th>Job</th> : null}
                  <th>Slot</th>
                  <th>Reason</th>
                  <th>Status</th>
                  <th>Started</th>
                  <th>Duration</th>
                  <th>Attempt</th>
                  <th>Instance</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {page.runs.length === 0
                  ? (
                    <tr>
                      <td colSpan={9} class="muted">No runs match.</td>
                    </tr>
                  )
                  : null}
                {page.runs.map((run) => (
                  <tr key={run.runId} data-run={run.runId} data-status={run.status}>
                    {job === undefined
                      ? (
                        <td>
                          <a href={`#/jobs/${encodeURIComponent(run.job)}`}>{run.job}</a>
                        </td>
                      )
                      : null}
                    <td class="nowrap">
                      <a href={`#/runs/${encodeURIComponent(run.runId)}`}>{dateTime(run.nominalAt)}</a>
                    </td>
                    <td>{run.reason}</td>
                    <td>
                      <Status run={run} />
                    </td>
                    <td>
                      <Time iso={run.startedAt} />
                    </td>
                    <td class="right">{duration(run.durationMs)}</td>
                    <td class="right">{run.attempt}</td>
                    <td class="mono">{run.instance}</td>
                    <td class="error">{run.error !== undefined ? run.error.slice(0, 140) : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager pages={pages} next={page.next} labels={["← Newer", "Older →"]} />
          </>
        )}
      </Show>
    </div>
  )
}

export const JobPage = ({ name }: { name: string }) => {
  const canWrite = useCanWrite()
  const [loaded, reload] = useLoad(() => api.job(name, { next: 10 }), [name], 10_000)
  // Bumped by an action, so that the history shows a triggered run at once.
  const [changes, setChanges] = useState(0)
  return (
    <Show loaded={loaded}>
      {(job) => (
        <>
          <h1>
            {job.name} <State job={job} />
          </h1>
          <div class="panel">
            <dl class="grid">
              {job.description !== undefined
                ? (
                  <>
                    <dt>Description</dt>
                    <dd>{job.description}</dd>
                  </>
                )
                : null}
              <dt>Schedule</dt>
              <dd>
                {job.scheduleInWords} <span class="muted mono">({job.schedule})</span>
              </dd>
              <dt>Time zone</dt>
              <dd>{job.timezone}</dd>
              <dt>Overlap</dt>
              <dd>{job.overlap}</dd>
              <dt>Timeout</dt>
              <dd>{job.timeoutSeconds !== undefined ? `${job.timeoutSeconds} s` : "none"}</dd>
              <dt>Source</dt>
              <dd>
                {job.source === "schedule"
                  ? <a href={`#/schedules/${encodeURIComponent(job.name.slice("schedule:".length))}`}>schedule</a>
                  : "code"}
              </dd>
              {job.paused !== undefined
                ? (
                  <>
                    <dt>Paused</dt>
                    <dd>
                      since <Time iso={job.paused.at} />
                      {job.paused.by !== undefined ? ` by ${job.paused.by}` : ""}
                      {job.paused.reason !== undefined ? `: ${job.paused.reason}` : ""}
                      {job.paused.until !== undefined
                        ? (
                          <>
                            , until <Time iso={job.paused.until} />
                          </>
                        )
                        : null}
                    </dd>
                  </>
                )
                : null}
              <dt>Failures in a row</dt>
              <dd>{job.consecutiveFailures}</dd>
            </dl>
          </div>
          {canWrite
            ? (
              <Actions
                job={job}
                onChange={() => {
                  reload()
                  setChanges((n) => n + 1)
                }}
              />
            )
            : null}
          <h2>Next {job.nextRuns.length} fire times</h2>
          <NextRuns job={job} />
          <h2>History</h2>
          <History job={job.name} refresh={changes} />
        </>
      )}
    </Show>
  )
}
