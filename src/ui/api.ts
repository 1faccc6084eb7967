/**
 * The admin API as the page calls it: `fetch` with the signed-in token, JSON
 * in and out. The types are the API's own schemas, as JSON (`Encoded`: dates
 * are ISO strings), read from the worker's compiled declarations, so that the
 * page and the API cannot drift apart unnoticed.
 */
import type { Schema } from "effect"
import type * as AdminApi from "../../dist/AdminApi.js"

type Json<S extends Schema.Schema.Any> = Schema.Schema.Encoded<S>

export type Job = Json<typeof AdminApi.JobView>
export type Run = Json<typeof AdminApi.RunView>
export type RunDetail = Json<typeof AdminApi.RunDetail>
export type Schedule = Json<typeof AdminApi.ScheduleView>
export type Audit = Json<typeof AdminApi.AuditEntry>
export type Worker = Json<typeof AdminApi.WorkerView>
export type Alert = Json<typeof AdminApi.AlertView>
export type Backfill = Json<typeof AdminApi.BackfillView>
export type RunStatus = Run["status"]
export interface Kind {
  readonly name: string
  readonly description?: string
  readonly payload: unknown
}
export interface Preview {
  readonly expression: string
  readonly timezone: string
  readonly description: string
  readonly next: ReadonlyArray<string>
}

const TOKEN_KEY = "cron-worker.token"

/** The token of this tab's session (sessionStorage: it ends with the tab, and no other site reads it). */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY)
}

/** An answer other than 2xx: the status, the API's error tag and its message (which names what was wrong). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly tag: string, message: string) {
    super(message)
  }
}

/** Called when the API answers 401: the token was revoked or the worker restarted with another. */
let onUnauthorized: () => void = () => {}
export const setOnUnauthorized = (f: () => void) => {
  onUnauthorized = f
}

const describe = (status: number, body: unknown): ApiError => {
  if (typeof body === "object" && body !== null) {
    const record = body as Record<string, unknown>
    const tag = typeof record._tag === "string" ? record._tag : `HTTP ${status}`
    if (typeof record.message === "string") return new ApiError(status, tag, record.message)
    // A request the API's schemas refused (HttpApiDecodeError): the issues name the fields.
    if (Array.isArray(record.issues)) {
      const issues = record.issues.map((issue: { path?: Array<unknown>; message?: string }) =>
        `${(issue.path ?? []).join(".")}: ${issue.message ?? "invalid"}`
      )
      return new ApiError(status, tag, issues.join("; "))
    }
  }
  return new ApiError(status, `HTTP ${status}`, `the worker answered ${status}`)
}

export const request = async <A>(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  bearer: string | null = token.get()
): Promise<A> => {
  const headers: Record<string, string> = { accept: "application/json" }
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`
  if (body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    cache: "no-store"
  })
  const text = await response.text()
  let parsed: unknown = undefined
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {
    parsed = text
  }
  if (!response.ok) {
    if (response.status === 401 && bearer === token.get()) onUnauthorized()
    throw describe(response.status, parsed)
  }
  return parsed as A
}

const query = (params: Record<string, string | number | undefined>): string => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value))
  }
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

const enc = encodeURIComponent

export const api = {
  worker: (bearer?: string) => request<Worker>("GET", "/api/worker", undefined, bearer ?? token.get()),
  jobs: (
    params: {
      recent?: number
      source?: "code" | "schedule" | undefined
      name?: string | undefined
      limit?: number
      after?: string | undefined
    } = {}
  ) => request<ReadonlyArray<Job>>("GET", `/api/jobs${query(params)}`),
  job: (name: string, params: { next?: number; recent?: number } = {}) =>
    request<Job>("GET", `/api/jobs/${enc(name)}${query(params)}`),
  pause: (name: string, body: { reason?: string; until?: string }) =>
    request<Job>("POST", `/api/jobs/${enc(name)}/pause`, body),
  resume: (name: string) => request<Job>("POST", `/api/jobs/${enc(name)}/resume`),
  trigger: (name: string, body: { overlap?: "skip" | "allow" | "queue"; wait?: boolean }) =>
    request<Run>("POST", `/api/jobs/${enc(name)}/trigger`, body),
  backfill: (name: string, body: { from: string; to: string; overlap?: "skip" | "allow" | "queue" }) =>
    request<Backfill>("POST", `/api/jobs/${enc(name)}/backfill`, body),
  runs: (params: {
    job?: string | undefined
    status?: string | undefined
    from?: string | undefined
    to?: string | undefined
    cursor?: string | undefined
    limit?: number
  }) => request<{ runs: ReadonlyArray<Run>; next?: string }>("GET", `/api/runs${query(params)}`),
  run: (id: string) => request<RunDetail>("GET", `/api/runs/${enc(id)}`),
  cancel: (id: string) => request<Run>("POST", `/api/runs/${enc(id)}/cancel`),
  schedules: (params: { after?: string | undefined; limit?: number }) =>
    request<{ schedules: ReadonlyArray<Schedule>; next?: string }>("GET", `/api/schedules${query(params)}`),
  schedule: (id: string) => request<Schedule>("GET", `/api/schedules/${enc(id)}`),
  createSchedule: (body: Record<string, unknown>) =>
    request<{ schedule: Schedule; created: boolean }>("POST", "/api/schedules", body),
  updateSchedule: (id: string, body: Record<string, unknown>) =>
    request<Schedule>("PUT", `/api/schedules/${enc(id)}`, body),
  deleteSchedule: (id: string) => request<Schedule>("DELETE", `/api/schedules/${enc(id)}`),
  kinds: () => request<ReadonlyArray<Kind>>("GET", "/api/kinds"),
  preview: (body: { expression: string; timezone?: string; count?: number }) =>
    request<Preview>("POST", "/api/preview", body),
  audit: (limit = 200) => request<ReadonlyArray<Audit>>("GET", `/api/audit${query({ limit })}`),
  alerts: (params: { state?: "active" | "resolved" | "all"; job?: string; limit?: number } = {}) =>
    request<ReadonlyArray<Alert>>("GET", `/api/alerts${query(params)}`)
}
