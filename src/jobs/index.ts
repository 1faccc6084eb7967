/** This worker's jobs, in registration order. */
import { databaseCleanup } from "./databaseCleanup.js"
import { reportGenerator } from "./reportGenerator.js"

export const jobs = [databaseCleanup, reportGenerator] as const

export { databaseCleanup, reportGenerator }
