// The password_hash of a user in definitions.json, computed as RabbitMQ does
// (rabbit_password_hashing_sha256): base64(salt ++ sha256(salt ++ utf8(password))), a random 4-byte salt.
// Usage: node deploy/rabbitmq/password-hash.mjs <password>
import { createHash, randomBytes } from "node:crypto"

const password = process.argv[2]
if (password === undefined || password === "") {
  process.stderr.write("usage: node deploy/rabbitmq/password-hash.mjs <password>\n")
  process.exit(2)
}
const salt = randomBytes(4)
const digest = createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest()
process.stdout.write(`${Buffer.concat([salt, digest]).toString("base64")}\n`)
