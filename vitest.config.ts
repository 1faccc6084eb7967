import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and end-to-end tests spawn processes and talk to real services.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Says once per run which services are unreachable, when suites skip for that reason.
    globalSetup: ["test/globalSetup.ts"]
  }
})
