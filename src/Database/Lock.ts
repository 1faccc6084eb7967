/**
 * An exclusive lock on a data directory, as a file beside it that its holder
 * keeps fresh. A lock is stale, and may be taken over, when its holder stopped
 * refreshing it (it died, on this host or in another container on a shared
 * volume), or when it names a process of this host that no longer exists (or
 * this very process id: a restarted container's PID 1). The lock appears
 * whole (written, then linked into place), and a takeover renames the stale
 * file away first, so that two starters cannot both win.
 */
import { Effect, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"

/** How often the holder refreshes the lock. */
const REFRESH_MILLIS = 5_000
/** A lock not refreshed for this long is stale, whoever holds it. */
const STALE_MILLIS = 20_000

interface Holder {
  readonly token: string
  readonly pid: number
  readonly host: string
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return errno(error) === "EPERM"
  }
}

const read = (path: string): { readonly holder: Holder | undefined; readonly age: number } => {
  const age = Date.now() - statSync(path).mtimeMs
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"))
    const holder =
      typeof parsed === "object" && parsed !== null && "token" in parsed && "pid" in parsed && "host" in parsed
        ? { token: String(parsed.token), pid: Number(parsed.pid), host: String(parsed.host) }
        : undefined
    return { holder, age }
  } catch {
    return { holder: undefined, age }
  }
}

const isStale = (holder: Holder | undefined, age: number) =>
  age > STALE_MILLIS ||
  (holder !== undefined && holder.host === hostname() && (holder.pid === process.pid || !isAlive(holder.pid)))

/**
 * Takes the lock at `path` once; `undefined` when taken, else the reason it
 * is not (naming the holder). Throws on file-system errors.
 */
const tryTake = (path: string, self: Holder): string | undefined => {
  const draft = `${path}.${self.token}`
  writeFileSync(draft, JSON.stringify(self))
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(draft, path)
        return undefined
      } catch (error) {
        if (errno(error) !== "EEXIST") throw error
      }
      const { age, holder } = read(path)
      if (!isStale(holder, age)) {
        const who = holder === undefined ? "another worker" : `another worker (pid ${holder.pid} on ${holder.host})`
        return `${who} is using it; stop that worker, or set PGLITE_DATA_DIR to another directory`
      }
      // Move the stale lock aside; if what moved is not what was judged stale, someone took it first.
      const aside = `${path}.stale.${self.token}`
      try {
        renameSync(path, aside)
      } catch (error) {
        if (errno(error) === "ENOENT") continue
        throw error
      }
      const moved = read(aside).holder
      if (holder !== undefined && moved?.token !== holder.token) {
        renameSync(aside, path)
        return "another worker took the lock at the same moment"
      }
      unlinkSync(aside)
    }
    return "the lock keeps changing hands; try again"
  } finally {
    unlinkSync(draft)
  }
}

/** Holds the lock at `path` for the scope, or fails with why not. Refreshed while held. */
export const hold = (path: string): Effect.Effect<void, string, Scope.Scope> => {
  const self: Holder = { token: randomUUID(), pid: process.pid, host: hostname() }
  return Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dirname(path), { recursive: true })
        return tryTake(path, self)
      },
      catch: (error) => `cannot lock ${path}: ${error instanceof Error ? error.message : String(error)}`
    }).pipe(
      Effect.flatMap((refusal) => (refusal === undefined ? Effect.void : Effect.fail(refusal))),
      Effect.map(() => {
        const refresh = setInterval(() => {
          try {
            const now = new Date()
            utimesSync(path, now, now)
          } catch {
            // The file vanished (an operator removed it): the next starter will see no lock.
          }
        }, REFRESH_MILLIS)
        refresh.unref()
        return refresh
      })
    ),
    (refresh) =>
      Effect.sync(() => {
        clearInterval(refresh)
        try {
          if (read(path).holder?.token === self.token) unlinkSync(path)
        } catch {
          // Already gone: nothing to release.
        }
      })
  ).pipe(Effect.asVoid)
}
