import { describe as group, expect, it } from "@effect/vitest"
import { describe } from "../src/CronSpec/Describe.js"

group("CronSpec/Describe: an expression in words", () => {
  it.each([
    ["0 8 * * 1", "America/Sao_Paulo", "at 08:00 on Monday, America/Sao_Paulo"],
    ["30 9 * * 1-5", "UTC", "at 09:30 on Monday to Friday, UTC"],
    ["0 0 17 * * MON,FRI", "Europe/Berlin", "at 17:00 on Monday and Friday, Europe/Berlin"],
    ["10 0 2 * * *", "UTC", "at 02:00:10 every day, UTC"],
    ["10 30 0 2 * *", "UTC", "at 00:30:10 on day 2 of the month, UTC"],
    ["0 2 * * *", "UTC", "at 02:00 every day, UTC"],
    ["0 0 1 * *", "UTC", "at 00:00 on day 1 of the month, UTC"],
    ["0 12 * 12 *", "UTC", "at 12:00 every day in December, UTC"],
    ["23 * * * *", "UTC", "at minute 23 of every hour, UTC"],
    ["* * * * *", "UTC", "every minute, UTC"],
    ["* * * * * *", "UTC", "every second, UTC"],
    ["@daily", "Asia/Tokyo", "at 00:00 every day, Asia/Tokyo"],
    ["@every 1h30m", "UTC", "every 1h30m, UTC"],
    ["CRON_TZ=Asia/Kolkata 0 9 * * *", "UTC", "at 09:00 every day, Asia/Kolkata"],
    // Shapes not put in words are shown as written, never described wrongly.
    ["*/15 9-17 * * 1-5", "UTC", "*/15 9-17 * * 1-5, UTC"],
    ["0 0 L * *", "UTC", "0 0 L * *, UTC"],
    ["0 8 1 * 1", "UTC", "0 8 1 * 1, UTC"]
  ])("%s in %s: %s", (expression, zone, words) => {
    expect(describe(expression, zone)).toBe(words)
  })
})
