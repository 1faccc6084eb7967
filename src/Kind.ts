/**
 * A job kind: the code behind schedules created at run time. A kind is a value, like a job: a name, the `Schema` of
 * its payload and `run: (payload) => Effect`, whose requirements are checked at compile time like a job's. A
 * schedule (data, stored in the database, made through the admin API or the command line) names a kind, a cron
 * expression and a payload; each of its slots runs `run(payload)`.
 */
import { type Effect, Pipeable, type Schema } from "effect"
import type { CurrentRun, JobOptions } from "./Job.js"

/** The options a schedule may take from its kind by default, and override one by one. */
export type Defaults = Pick<
  JobOptions<never, never>,
  "timeout" | "overlap" | "retry" | "jitter" | "catchUp" | "catchUpWindow" | "onAbandoned"
>

/** Options of {@link make}. */
export interface KindOptions<P, I, E, R> {
  /** Unique among the worker's kinds: what a schedule names. Letters, digits, `_ . -`. */
  readonly name: string
  /** The payload of a schedule of this kind: decoded (and so checked) before a schedule is stored, and per run. */
  readonly payload: Schema.Schema<P, I>
  /** The work of one run of a schedule of this kind. */
  readonly run: (payload: P) => Effect.Effect<void, E, R>
  /** Shown by the API and `schedules kinds`. */
  readonly description?: string | undefined
  /** The options of its schedules where a schedule sets none (each as for a job). */
  readonly defaults?: Defaults | undefined
}

const TypeId: unique symbol = Symbol.for("cron-worker/Kind")

/** A job kind: build it with {@link make}. */
export interface Kind<in out P = unknown, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly payload: Schema.Schema<P, unknown>
  readonly run: (payload: P) => Effect.Effect<void, E, R>
  readonly description: string | undefined
  readonly defaults: Defaults
}

/** Any kind: the element type of a worker's kind list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = Kind<any, unknown, unknown>

/** The services a list of kinds needs, less what the scheduler provides itself. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Requirements<K> = K extends Kind<any, infer _E, infer R> ? Exclude<R, CurrentRun> : never

class KindImpl<P, E, R> implements Kind<P, E, R> {
  readonly [TypeId]: typeof TypeId = TypeId
  readonly name: string
  readonly payload: Schema.Schema<P, unknown>
  readonly run: (payload: P) => Effect.Effect<void, E, R>
  readonly description: string | undefined
  readonly defaults: Defaults
  constructor(options: KindOptions<P, unknown, E, R>) {
    this.name = options.name
    this.payload = options.payload
    this.run = options.run
    this.description = options.description
    this.defaults = options.defaults ?? {}
  }
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
}

/** Builds a kind. Nothing is checked here: the worker checks the names of its kinds at start-up. */
export const make = <P, I, E = never, R = never>(options: KindOptions<P, I, E, R>): Kind<P, E, R> =>
  new KindImpl(options as KindOptions<P, unknown, E, R>)

/** A kind name that cannot be used, or two kinds of one name. */
export const invalidNames = (kinds: ReadonlyArray<Any>): Array<string> => {
  const problems: Array<string> = []
  const seen = new Set<string>()
  for (const kind of kinds) {
    if (!NAME.test(kind.name)) problems.push(`job kind "${kind.name}": the name must be 1–100 letters, digits or _ . -`)
    else if (seen.has(kind.name)) problems.push(`job kind "${kind.name}" is declared twice: kind names must be unique`)
    seen.add(kind.name)
  }
  return problems
}

const NAME = /^[\w.-]{1,100}$/
