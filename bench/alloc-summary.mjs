// Bytes allocated by function (self) of a sampling heap profile: node bench/alloc-summary.mjs file.heapprofile [top]
import { readFileSync } from "node:fs"

const { head } = JSON.parse(readFileSync(process.argv[2], "utf8"))
const top = Number(process.argv[3] ?? "40")
const byFn = new Map()
let total = 0
const walk = (node) => {
  const f = node.callFrame
  const url = f.url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "").replace(/.*wt-perf-run\//, "")
  const key = `${f.functionName || "(anon)"} ${url}:${f.lineNumber + 1}`
  byFn.set(key, (byFn.get(key) ?? 0) + node.selfSize)
  total += node.selfSize
  for (const child of node.children) walk(child)
}
walk(head)
console.log(`total ${(total / 1048576).toFixed(0)} MiB`)
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(100 * v / total).toFixed(1).padStart(5)}%  ${(v / 1048576).toFixed(1).padStart(7)} MiB  ${k}`)
}

// Bytes by the innermost frame of this project's code (dist/) on the allocating stack.
const ours = new Map()
const walkOurs = (node, owner) => {
  const f = node.callFrame
  const here = f.url.includes("/dist/") && !f.url.includes("node_modules")
    ? `${f.functionName || "(anon)"} ${f.url.replace(/.*\/dist\//, "dist/")}:${f.lineNumber + 1}`
    : owner
  ours.set(here, (ours.get(here) ?? 0) + node.selfSize)
  for (const child of node.children) walkOurs(child, here)
}
walkOurs(head, "(outside dist)")
console.log("-- by innermost dist/ frame --")
for (const [k, v] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(100 * v / total).toFixed(1).padStart(5)}%  ${(v / 1048576).toFixed(1).padStart(7)} MiB  ${k}`)
}
