/** One run: its slot, outcome, attempts, error and stack, instance, and its trace when a trace viewer is set. */
import { useState } from "preact/hooks"
import { api } from "./api.js"
import { Action, errorText, Notice, Show, Status, Time, useCanWrite, useLoad } from "./components.js"
import { duration } from "./format.js"

export const RunPage = ({ id }: { id: string }) => {
  const canWrite = useCanWrite()
  const [failure, setFailure] = useState<string | undefined>(undefined)
  const [loaded, reload] = useLoad(() => api.run(id), [id], 3_000)
  return (
    <Show loaded={loaded}>
      {(run) => (
        <>
          <h1>
            Run of <a href={`#/jobs/${encodeURIComponent(run.job)}`}>{run.job}</a> <Status run={run} />
          </h1>
          {failure !== undefined ? <Notice kind="error">{failure}</Notice> : null}
          <div class="panel">
            <dl class="grid run-detail">
              <dt>Run id</dt>
              <dd class="mono">{run.runId}</dd>
              <dt>Slot</dt>
              <dd>
                <Time iso={run.nominalAt} /> <span class="muted">({run.reason})</span>
              </dd>
              <dt>Started</dt>
              <dd>
                <Time iso={run.startedAt} />
              </dd>
              <dt>Finished</dt>
              <dd>
                <Time iso={run.finishedAt} />
              </dd>
              <dt>Duration</dt>
              <dd>{duration(run.durationMs)}</dd>
              <dt>Attempt</dt>
              <dd>{run.attempt}</dd>
              <dt>Instance</dt>
              <dd class="mono">{run.instance}</dd>
              {run.scheduleVersion !== undefined
                ? (
                  <>
                    <dt>Schedule version</dt>
                    <dd>{run.scheduleVersion}</dd>
                  </>
                )
                : null}
              {run.backfillId !== undefined
                ? (
                  <>
                    <dt>Backfill</dt>
                    <dd class="mono">{run.backfillId}</dd>
                  </>
                )
                : null}
              <dt>Trace</dt>
              <dd>
                {run.traceUrl !== undefined
                  ? (
                    <a class="trace" href={run.traceUrl} target="_blank" rel="noopener noreferrer">
                      {run.traceId} ↗
                    </a>
                  )
                  : run.traceId !== undefined
                  ? (
                    <span class="mono" title="Set OTEL_TRACES_URL to link traces to a viewer such as Jaeger">
                      {run.traceId}
                    </span>
                  )
                  : <span class="muted">none</span>}
              </dd>
            </dl>
            {canWrite && run.status === "running"
              ? (
                <div class="actions">
                  <Action
                    kind="danger"
                    action={async () => {
                      try {
                        await api.cancel(run.runId)
                        setFailure(undefined)
                      } catch (error) {
                        setFailure(errorText(error))
                      }
                      reload()
                    }}
                  >
                    Cancel run
                  </Action>
                </div>
              )
              : null}
          </div>
          {run.error !== undefined
            ? (
              <>
                <h2>Error</h2>
                <pre class="run-error">{run.error}</pre>
              </>
            )
            : null}
          {run.stack !== undefined
            ? (
              <>
                <h2>Stack</h2>
                <pre class="run-stack">{run.stack}</pre>
              </>
            )
            : null}
          <h2>Failed attempts</h2>
          {run.attempts.length === 0
            ? <p class="muted">None: the run's first attempt is its outcome.</p>
            : (
              <table class="attempts">
                <thead>
                  <tr>
                    <th>Attempt</th>
                    <th>At</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {run.attempts.map((a) => (
                    <tr key={a.attempt}>
                      <td>{a.attempt}</td>
                      <td>
                        <Time iso={a.at} />
                      </td>
                      <td class="error">{a.error}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
        </>
      )}
    </Show>
  )
}
