#!/usr/bin/env node
/**
 * The worker's composition root: its jobs. The worker provides what they
 * need (configuration, the database, the publisher). `node dist/main.js
 * [worker|run|next|jobs|check|history|pause|resume|migrate|seed-demo|outbox]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Cli from "./Cli.js"
import { jobs } from "./jobs/index.js"

Cli.main({ jobs, serviceName: "financial-worker" }).pipe(
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
