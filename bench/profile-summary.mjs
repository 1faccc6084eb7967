// Self time of a .cpuprofile by function and by module: node bench/profile-summary.mjs file.cpuprofile [top]
import { readFileSync } from "node:fs"

const profile = JSON.parse(readFileSync(process.argv[2], "utf8"))
const top = Number(process.argv[3] ?? "40")
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const fns = new Map()
const modules = new Map()
for (const [id, micros] of self) {
  const { callFrame: f } = byId.get(id)
  const url = f.url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "").replace(/.*wt-perf-run\//, "")
  const key = `${f.functionName || "(anon)"} ${url}:${f.lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + micros)
  const module = url === "" ? f.functionName : url.replace(/^(effect|@[^/]+\/[^/]+|[^/]+)\/.*$/, "$1")
    .replace(/^dist\/.*$/, url)
  modules.set(module, (modules.get(module) ?? 0) + micros)
}
const show = (map, n) =>
  [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) =>
    `${(100 * v / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`
  ).join("\n")
console.log(`total ${(total / 1000).toFixed(0)} ms`)
console.log(`-- by module --\n${show(modules, 25)}\n-- by function --\n${show(fns, top)}`)

// Self time by the innermost frame of this project's code (dist/) on the sampled stack.
const parent = new Map()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
const owner = new Map()
const ownerOf = (id) => {
  if (owner.has(id)) return owner.get(id)
  const { callFrame: f } = byId.get(id)
  const result = f.url.includes("/dist/") && !f.url.includes("node_modules")
    ? `${f.functionName || "(anon)"} ${f.url.replace(/.*\/dist\//, "dist/")}:${f.lineNumber + 1}`
    : parent.has(id)
    ? ownerOf(parent.get(id))
    : "(outside dist)"
  owner.set(id, result)
  return result
}
const ours = new Map()
for (const [id, micros] of self) ours.set(ownerOf(id), (ours.get(ownerOf(id)) ?? 0) + micros)
console.log(`-- by innermost dist/ frame --\n${show(ours, top)}`)
