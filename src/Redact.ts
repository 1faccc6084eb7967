/**
 * Keeps secrets out of log lines, error messages and the run history:
 * credentials inside URLs (`amqp://user:secret@host`), `password=…`-style
 * pairs, and every value registered as secret (the configuration registers
 * its redacted variables) are replaced by `***`.
 */

const known = new Set<string>()

/** Registers a value that must never be written anywhere; too short a value would mask ordinary text. */
export const register = (secret: string): void => {
  if (secret.length < 4) return
  known.add(secret)
  // As it appears inside a JSON string (log lines are JSON): quotes and backslashes escaped.
  known.add(JSON.stringify(secret).slice(1, -1))
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/'"]*):([^\s@/'"]*)@/gi
const KEY_VALUE = /\b([\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key))=([^\s&;,'"]+)/gi

/** `text` with every secret replaced by `***`. */
export const scrub = (text: string): string => {
  // Each pattern only where it could match: most lines have neither a URL with credentials nor a `key=value`.
  let out = text.includes("://") && text.includes("@") ? text.replace(URL_CREDENTIALS, "$1$2:***@") : text
  if (out.includes("=")) out = out.replace(KEY_VALUE, "$1=***")
  for (const secret of known) {
    if (out.includes(secret)) out = out.split(secret).join("***")
  }
  return out
}
