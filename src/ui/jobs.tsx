/** The jobs page: every job with its state, schedule in words, next fire, last outcome, recent outcomes, alerts. */
import { useEffect, useState } from "preact/hooks"
import { type Alert, api, type Job } from "./api.js"
import { Badge, Pager, Show, Status, Strip, useLoad, usePages } from "./components.js"
import { dateTime, relative } from "./format.js"

const RECENT = 20

const alertsByJob = (alerts: ReadonlyArray<Alert>): Map<string, Array<Alert>> => {
  const byJob = new Map<string, Array<Alert>>()
  for (const alert of alerts) byJob.set(alert.job, [...(byJob.get(alert.job) ?? []), alert])
  return byJob
}

export const State = ({ job }: { job: Job }) =>
  job.paused !== undefined
    ? (
      <Badge kind="paused">
        paused{job.paused.until !== undefined ? ` until ${dateTime(job.paused.until)}` : ""}
      </Badge>
    )
    : job.lastRun?.status === "running"
    ? <Badge kind="running" />
    : <Badge kind="active" />

const PAGE = 100

export const JobsPage = () => {
  const [filter, setFilter] = useState("")
  const [name, setName] = useState("")
  const [source, setSource] = useState<"" | "code" | "schedule">("")
  // Pages of 100 by name (each page's cursor the last name of the one before), however many schedules there are.
  const pages = usePages()
  const after = pages.current
  useEffect(() => {
    const timer = setTimeout(() => {
      setName(filter.trim())
      pages.reset()
    }, 250)
    return () => clearTimeout(timer)
  }, [filter])
  const [loaded] = useLoad(
    () =>
      Promise.all([
        api.jobs({
          recent: RECENT,
          limit: PAGE,
          after,
          name: name === "" ? undefined : name,
          source: source === "" ? undefined : source
        }),
        api.alerts({ state: "active", limit: 500 })
      ]),
    [source, name, after],
    5_000
  )
  return (
    <>
      <h1>Jobs</h1>
      <div class="row">
        <label>
          Name contains
          <input
            type="search"
            name="filter"
            value={filter}
            onInput={(e) => setFilter(e.currentTarget.value)}
            placeholder="report"
          />
        </label>
        <label>
          Source
          <select
            name="source"
            value={source}
            onChange={(e) => {
              setSource(e.currentTarget.value as typeof source)
              pages.reset()
            }}
          >
            <option value="">all</option>
            <option value="code">code</option>
            <option value="schedule">schedules</option>
          </select>
        </label>
      </div>
      <Show loaded={loaded}>
        {([jobs, alerts]) => {
          const alerting = alertsByJob(alerts)
          return (
            <>
              <table class="jobs">
                <thead>
                  <tr>
                    <th>Job</th>
                    <th>State</th>
                    <th>Schedule</th>
                    <th>Next fire</th>
                    <th>Last outcome</th>
                    <th>Recent</th>
                    <th>Alerts</th>
                  </tr>
                </thead>
                <tbody>
                  {jobs.length === 0
                    ? (
                      <tr>
                        <td colSpan={7} class="muted">No jobs match.</td>
                      </tr>
                    )
                    : null}
                  {jobs.map((job) => (
                    <tr key={job.name} data-job={job.name}>
                      <td>
                        <a href={`#/jobs/${encodeURIComponent(job.name)}`}>{job.name}</a>
                        {job.description !== undefined ? <div class="muted">{job.description}</div> : null}
                      </td>
                      <td>
                        <State job={job} />
                      </td>
                      <td>
                        <span title={`${job.schedule} (${job.timezone})`}>{job.scheduleInWords}</span>
                        <div class="muted mono">{job.schedule}</div>
                      </td>
                      <td class="nowrap">
                        {job.nextRuns[0] !== undefined
                          ? (
                            <>
                              {relative(job.nextRuns[0])}
                              <div class="muted">{dateTime(job.nextRuns[0], job.timezone)} {job.timezone}</div>
                            </>
                          )
                          : <span class="muted">none</span>}
                      </td>
                      <td>
                        {job.lastRun !== undefined
                          ? (
                            <a href={`#/runs/${encodeURIComponent(job.lastRun.runId)}`}>
                              <Status run={job.lastRun} />
                              <div class="muted">{relative(job.lastRun.startedAt)}</div>
                            </a>
                          )
                          : <span class="muted">never ran</span>}
                        {job.consecutiveFailures > 0
                          ? <div class="error">{job.consecutiveFailures} failed in a row</div>
                          : null}
                      </td>
                      <td>
                        <Strip runs={job.recent ?? []} />
                      </td>
                      <td>
                        {(alerting.get(job.name) ?? []).map((alert) => (
                          <a key={alert.id} href="#/alerts" title={alert.detail}>
                            <Badge kind="alert">{alert.rule}</Badge>
                          </a>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager pages={pages} next={jobs.length < PAGE ? undefined : jobs[jobs.length - 1]?.name} />
            </>
          )
        }}
      </Show>
    </>
  )
}
