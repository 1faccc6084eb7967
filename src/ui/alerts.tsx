/** Alerts: those firing now, then those resolved, newest first. */
import { useState } from "preact/hooks"
import { api } from "./api.js"
import { Badge, Show, Time, useLoad } from "./components.js"
import { relative } from "./format.js"

export const AlertsPage = () => {
  const [state, setState] = useState<"active" | "resolved" | "all">("all")
  const [loaded] = useLoad(() => api.alerts({ state, limit: 200 }), [state], 5_000)
  return (
    <>
      <h1>Alerts</h1>
      <div class="row">
        <label>
          Show
          <select name="state" value={state} onChange={(e) => setState(e.currentTarget.value as typeof state)}>
            <option value="all">all</option>
            <option value="active">firing</option>
            <option value="resolved">resolved</option>
          </select>
        </label>
      </div>
      <Show loaded={loaded}>
        {(alerts) => {
          const sorted = [...alerts].sort((a, b) =>
            Number(a.resolvedAt !== undefined) - Number(b.resolvedAt !== undefined)
          )
          return (
            <table class="alerts">
              <thead>
                <tr>
                  <th>State</th>
                  <th>Rule</th>
                  <th>Job</th>
                  <th>Since</th>
                  <th>Resolved</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
                {sorted.length === 0
                  ? (
                    <tr>
                      <td colSpan={6} class="muted">No alerts.</td>
                    </tr>
                  )
                  : null}
                {sorted.map((alert) => (
                  <tr key={alert.id}>
                    <td>
                      {alert.resolvedAt === undefined
                        ? <Badge kind="alert">firing</Badge>
                        : <Badge kind="succeeded">resolved</Badge>}
                    </td>
                    <td>{alert.rule}</td>
                    <td>
                      <a href={`#/jobs/${encodeURIComponent(alert.job)}`}>{alert.job}</a>
                    </td>
                    <td>
                      <Time iso={alert.since} /> <span class="muted">{relative(alert.since)}</span>
                    </td>
                    <td>
                      <Time iso={alert.resolvedAt} />
                    </td>
                    <td>{alert.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }}
      </Show>
    </>
  )
}
