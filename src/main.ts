#!/usr/bin/env node
/**
 * The worker's composition root: its jobs and the services they need.
 * `node dist/main.js [worker|next|jobs|check]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Cli from "./Cli.js"
import { heartbeat } from "./jobs/heartbeat.js"

const jobs = [heartbeat] as const

Cli.main({ jobs }).pipe(NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true }))
