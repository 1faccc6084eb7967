import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and end-to-end tests spawn processes and talk to real services.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks"
  }
})
