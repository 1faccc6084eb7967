/**
 * `schedules`: the schedules created at run time, on the command line: `list`, `get`, `kinds`, `create`, `update`,
 * `delete`. Through the running worker's admin API when one runs on this database (`Remote.ts`), else on the
 * database (a change made there is announced to the running instances of a PostgreSQL database). A definition is
 * the JSON the API takes.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, JSONSchema, Option, ParseResult, Schema } from "effect"
import type { ScheduleView } from "../AdminApi.js"
import type * as Kind from "../Kind.js"
import * as Schedules from "../Schedules.js"
import * as ScheduleStore from "../Schedules/Store.js"
import { CliExit, escapeControl, jsonArray, quote, readConfig, table, usage, withDatabase } from "./Common.js"
import * as Remote from "./Remote.js"

/** The schedules of `kinds` on the database, for a command run without a worker. */
const onDatabase = <A, E>(
  command: string,
  kinds: ReadonlyArray<Kind.Any>,
  f: (schedules: Schedules.SchedulesShape) => Effect.Effect<A, E>
) =>
  withDatabase(
    command,
    Effect.flatMap(Schedules.Schedules, f).pipe(
      Effect.provide(Schedules.layer(kinds)),
      Effect.provide(ScheduleStore.layerPg)
    )
  )

/** A definition given as JSON on the command line, decoded as the API would: exit 2 naming the field. */
const decode = <A, I>(schema: Schema.Schema<A, I>, text: string) =>
  Either.match(Schema.decodeUnknownEither(Schema.parseJson(schema))(text), {
    onLeft: (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const path = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `
      return Effect.fail(usage(`definition: ${path}${issue?.message ?? error.message}`))
    },
    onRight: Effect.succeed
  })

/** A failure of the schedules, named as the API names it: exit 2 for a definition that cannot work, else 1. */
const named = (error: { readonly _tag: string; readonly message: string }) =>
  Effect.fail(
    new CliExit({
      code: error._tag === "InvalidSchedule" || error._tag === "UnknownKind" ? 2 : 1,
      lines: [error.message]
    })
  )

const nextOf = (schedule: Pick<ScheduleView, "nextRuns">) => schedule.nextRuns[0]?.toISOString() ?? ""

/** A schedule as `--json` prints it: the API's view, instants as ISO strings. */
const json = (schedule: ScheduleView | Schedules.ScheduleView) => JSON.parse(JSON.stringify(schedule)) as unknown

const idArgument = Args.text({ name: "id" }).pipe(Args.withDescription("the schedule's id (see `schedules list`)"))
const definitionArgument = Args.text({ name: "definition" }).pipe(
  Args.withDescription(
    "the schedule as JSON: {\"kind\", \"expression\", \"timezone\", \"payload\", \"overlap\", \"timeout\", …} " +
      "(README \"Schedules created at run time\")"
  )
)
const jsonOption = Options.boolean("json").pipe(Options.withDescription("print JSON instead of a table (default off)"))

export const schedulesCommand = (kinds: ReadonlyArray<Kind.Any>) => {
  const list = Command.make(
    "list",
    {
      json: jsonOption,
      limit: Options.integer("limit").pipe(
        Options.withDescription("how many, by id, 1 to 500 (default 100)"),
        Options.withDefault(100)
      )
    },
    ({ json: asJson, limit }) =>
      Effect.gen(function*() {
        if (limit < 1 || limit > 500) return yield* Effect.fail(usage(`--limit must be 1 to 500, got ${limit}`))
        const remote = yield* Effect.flatMap(readConfig, Remote.connect)
        const schedules: ReadonlyArray<ScheduleView | Schedules.ScheduleView> = Option.isSome(remote)
          ? (yield* Remote.call("schedules list", remote.value.schedules.list({ urlParams: { limit } }))).schedules
          : yield* onDatabase("schedules list", kinds, (s) => s.list({ limit }))
        if (asJson) return yield* Console.log(jsonArray(schedules.map(json)))
        if (schedules.length === 0) return yield* Console.log("no schedules")
        yield* Console.log(table(
          ["ID", "KIND", "SCHEDULE", "TIMEZONE", "VERSION", "STATE", "NEXT RUN"],
          schedules.map((s) => [
            escapeControl(s.id),
            escapeControl(s.kind),
            escapeControl(s.expression),
            s.timezone ?? "",
            String(s.version),
            s.state,
            nextOf(s)
          ])
        ))
      })
  ).pipe(Command.withDescription("The schedules created at run time, by id"))

  const get = Command.make("get", { id: idArgument }, ({ id }) =>
    Effect.gen(function*() {
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      const schedule = Option.isSome(remote)
        ? yield* Remote.call("schedules get", remote.value.schedules.get({ path: { id } }))
        : yield* onDatabase("schedules get", kinds, (s) => Effect.catchAll(s.get(id), named))
      yield* Console.log(JSON.stringify(json(schedule), null, 2))
    })).pipe(Command.withDescription("One schedule as JSON, with its next fire times"))

  const kindsCommand = Command.make("kinds", {}, () =>
    Console.log(JSON.stringify(
      kinds.map((kind) => ({ name: kind.name, description: kind.description, payload: JSONSchema.make(kind.payload) })),
      null,
      2
    ))).pipe(Command.withDescription("The job kinds of this worker, with the JSON Schema of their payloads"))

  const create = Command.make("create", { definition: definitionArgument }, ({ definition }) =>
    Effect.gen(function*() {
      const input = yield* decode(Schedules.CreateInput, definition)
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      const result = Option.isSome(remote)
        ? yield* Remote.call("schedules create", remote.value.schedules.create({ payload: input }))
        : yield* onDatabase("schedules create", kinds, (s) => Effect.catchAll(s.create(input), named))
      const { schedule } = result
      yield* Console.log(
        result.created
          ? `schedule ${quote(schedule.id)} created (version 1), next run ${nextOf(schedule) || "none"}`
          : `schedule ${quote(schedule.id)} has the key ${quote(schedule.key ?? "")} already: nothing changed`
      )
    })).pipe(Command.withDescription("Create a schedule of a job kind (with a key: one schedule per key)"))

  const update = Command.make(
    "update",
    { id: idArgument, definition: definitionArgument },
    ({ definition, id }) =>
      Effect.gen(function*() {
        const input = yield* decode(Schedules.UpdateInput, definition)
        const remote = yield* Effect.flatMap(readConfig, Remote.connect)
        const after = Option.isSome(remote)
          ? yield* Remote.call("schedules update", remote.value.schedules.update({ path: { id }, payload: input }))
          : (yield* onDatabase("schedules update", kinds, (s) => Effect.catchAll(s.update(id, input), named))).after
        yield* Console.log(
          `schedule ${quote(id)} changed (version ${after.version}), next run ${nextOf(after) || "none"}`
        )
      })
  ).pipe(
    Command.withDescription(
      "Replace a schedule's definition: next run from now, no past slot run, a run going on kept. " +
        "\"version\" in the definition: refused if the schedule has moved on"
    )
  )

  const remove = Command.make("delete", { id: idArgument }, ({ id }) =>
    Effect.gen(function*() {
      const remote = yield* Effect.flatMap(readConfig, Remote.connect)
      yield* Option.isSome(remote)
        ? Remote.call("schedules delete", remote.value.schedules.delete({ path: { id } }))
        : onDatabase("schedules delete", kinds, (s) => Effect.catchAll(s.remove(id), named))
      yield* Console.log(`schedule ${quote(id)} deleted: a run going on finishes, none starts; its history stays`)
    })).pipe(Command.withDescription("Delete a schedule"))

  return Command.make("schedules").pipe(
    Command.withDescription("Schedules created at run time: list, get, kinds, create, update, delete"),
    Command.withSubcommands([list, get, kindsCommand, create, update, remove])
  )
}
