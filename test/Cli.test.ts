import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { parseInstant } from "../src/Cli.js"

describe("parseInstant (--from)", () => {
  it.each([
    ["2026-03-08T07:00:00Z", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08T07:00:00.250Z", "2026-03-08T07:00:00.250Z"],
    ["2026-03-08T02:00:00-05:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08T07:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08 07:00:00", "2026-03-08T07:00:00.000Z"],
    ["2026-03-08", "2026-03-08T00:00:00.000Z"]
  ])("reads %s (no offset: UTC)", (text, iso) => {
    expect(Either.map(parseInstant(text), (ms) => new Date(ms).toISOString())).toEqual(Either.right(iso))
  })

  it.each(["tomorrow", "2026-02-30", "2026-13-01", "2026-03-08T24:00", "08/03/2026", ""])(
    "rejects %j, naming it",
    (text) => {
      const result = parseInstant(text)
      expect(Either.isLeft(result)).toBe(true)
      expect(Either.isLeft(result) && result.left).toContain(`--from "${text}"`)
    }
  )
})
