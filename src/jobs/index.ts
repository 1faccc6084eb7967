/** The example app, modelled on the finance app: its jobs, its tables and its demo data. */
export { databaseCleanup } from "./databaseCleanup.js"
export { reportGenerator } from "./reportGenerator.js"
export { migrations } from "./schema.js"
export { seedDemoCommand } from "./seedDemo.js"
export { userDigest } from "./userDigest.js"
