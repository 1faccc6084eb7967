import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and end-to-end tests spawn processes and talk to real services.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Most of the time of the slow files is waiting (on real seconds, on spawned processes): two files at
    // a time on two cores keep the run short without starving the timing-sensitive ones.
    maxWorkers: 2,
    minWorkers: 1,
    // Says once per run which services are unreachable, when suites skip for that reason.
    globalSetup: ["test/globalSetup.ts"]
  }
})
