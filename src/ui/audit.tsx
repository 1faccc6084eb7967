/** The audit log: every change made through the API, newest first, with the record before and after. */
import { useState } from "preact/hooks"
import { api } from "./api.js"
import { Show, Time, useLoad } from "./components.js"

export const AuditPage = () => {
  const [limit, setLimit] = useState(100)
  const [loaded] = useLoad(() => api.audit(limit), [limit], 10_000)
  return (
    <>
      <h1>Audit log</h1>
      <div class="row">
        <label>
          Entries
          <select name="limit" value={String(limit)} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            {[50, 100, 200, 500].map((n) => <option key={n} value={String(n)}>{n}</option>)}
          </select>
        </label>
      </div>
      <Show loaded={loaded}>
        {(entries) => (
          <table class="audit">
            <thead>
              <tr>
                <th>At</th>
                <th>Token</th>
                <th>Action</th>
                <th>Target</th>
                <th>Change</th>
              </tr>
            </thead>
            <tbody>
              {entries.length === 0
                ? (
                  <tr>
                    <td colSpan={5} class="muted">Nothing changed through the API yet.</td>
                  </tr>
                )
                : null}
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td>
                    <Time iso={entry.at} />
                  </td>
                  <td>{entry.token}</td>
                  <td>{entry.action}</td>
                  <td class="mono">{entry.target}</td>
                  <td>
                    {entry.before !== undefined || entry.after !== undefined
                      ? (
                        <details>
                          <summary>before / after</summary>
                          <pre>{JSON.stringify({ before: entry.before, after: entry.after }, null, 2)}</pre>
                        </details>
                      )
                      : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </>
  )
}
