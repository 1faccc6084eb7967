/**
 * Once per vitest run (registered in vitest.config.ts): the suites that need PostgreSQL or RabbitMQ skip
 * when it is unreachable (test/services.ts), so a run can pass having skipped most of its integration
 * tests. This says so in one line on stderr, naming each unreachable service, its address and why.
 * Quiet with `REQUIRE_SERVICES=1` (those suites fail and say why) and in runs whose files are known and
 * include no integration or end-to-end test (the file list is vitest's experimental state API: should it
 * come back empty, the services are probed anyway rather than the line going silent).
 */
import type { TestProject } from "vitest/node"
import { probe, REQUIRE_SERVICES, skipNotice } from "./services.js"

/** Files whose suites probe the services: `*.integration.test.ts` and the end-to-end tests. */
const needsServices = (file: string): boolean =>
  file.endsWith(".integration.test.ts") || /[\\/]test[\\/]e2e[\\/]/.test(file)

export const setup = async (project: TestProject): Promise<void> => {
  if (REQUIRE_SERVICES) return
  const files = project.vitest.state.getPaths()
  if (files.length > 0 && !files.some(needsServices)) return
  const notice = skipNotice(await Promise.all([probe("postgres"), probe("rabbitmq")]))
  if (notice !== undefined) process.stderr.write(`${notice}\n`)
}
