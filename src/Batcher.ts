/**
 * Gathers requests made at the same moment into one call: what lets claims
 * for slots that fall due together reach the database in one statement.
 * A batch stays open `minWaitMillis` (timers due in the same few
 * milliseconds land in different turns of the event loop, more so on a busy
 * process), then closes when a turn brings no new request, or after
 * `maxWaitMillis`.
 */
import { Deferred, Effect, Exit, type Scope } from "effect"

/** Waits until the event loop has run its pending callbacks (I/O and timers included). */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Waits `millis` of real time (a batch window is not the scheduler's clock). */
const pause = (millis: number) =>
  Effect.async<void>((resume) => {
    const handle = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(handle))
  })

/**
 * A function that submits one item and gets its result, calling `run` once per
 * batch. `run` returns one result per item, in order. Batches run in `scope`.
 */
export const make = <A, B, E>(
  run: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>,
  options: { readonly maxSize: number; readonly minWaitMillis: number; readonly maxWaitMillis: number }
): Effect.Effect<(item: A) => Effect.Effect<B, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pending: Array<{ readonly item: A; readonly result: Deferred.Deferred<B, E> }> = []
    let open = false
    const flush = (batch: typeof pending) =>
      Effect.flatMap(Effect.exit(run(batch.map((entry) => entry.item))), (exit) =>
        Effect.forEach(batch, (entry, index) =>
          Deferred.done(
            entry.result,
            Exit.flatMap(exit, (results) =>
              index < results.length
                ? Exit.succeed(results[index]!)
                : Exit.die(new Error("batch returned too few results")))
          ), { discard: true }))
    const collect: Effect.Effect<void> = Effect.gen(function*() {
      const started = Date.now()
      if (options.minWaitMillis > 0) {
        yield* pause(options.minWaitMillis)
      }
      let seen = -1
      while (
        pending.length !== seen && pending.length < options.maxSize && Date.now() - started < options.maxWaitMillis
      ) {
        seen = pending.length
        yield* nextTurn
      }
      // At most `maxSize` per call; what is left over opens the next batch at once.
      const batch = pending.splice(0, options.maxSize)
      open = pending.length > 0
      if (open) {
        yield* Effect.forkIn(collect, scope)
      }
      yield* flush(batch)
    })
    const scope = yield* Effect.scope
    return (item: A) =>
      Effect.gen(function*() {
        const result = yield* Deferred.make<B, E>()
        pending.push({ item, result })
        if (!open) {
          open = true
          yield* Effect.forkIn(collect, scope)
        }
        return yield* Deferred.await(result)
      })
  })
