/**
 * A form for a payload, derived from the JSON Schema of its kind's `Schema`
 * (`GET /api/kinds`): a field per property, its input by type (text, number,
 * checkbox, a choice for literals, a list for arrays of text), nested objects
 * as fieldsets, anything else as JSON. The worker decodes the payload with the
 * kind's Schema when the schedule is saved and names the field it refuses
 * (`payload.userId: …`), which the form marks.
 */
import type { ComponentChildren } from "preact"
import { useState } from "preact/hooks"

type JsonSchema = {
  readonly $ref?: string
  readonly allOf?: ReadonlyArray<JsonSchema>
  readonly type?: string | ReadonlyArray<string>
  readonly enum?: ReadonlyArray<unknown>
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly required?: ReadonlyArray<string>
  readonly items?: JsonSchema
  readonly description?: string
  readonly title?: string
  readonly minimum?: number
  readonly maximum?: number
  readonly minLength?: number
  readonly default?: unknown
  readonly $defs?: Readonly<Record<string, JsonSchema>>
}

/** `schema` with its `$ref` and `allOf` folded in (the outer keys win), within the document `root`. */
const resolve = (schema: JsonSchema, root: JsonSchema, depth = 0): JsonSchema => {
  if (depth > 20) return schema
  let merged: JsonSchema = schema
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/\$defs\//, "")
    const target = root.$defs?.[name]
    if (target !== undefined) {
      const { $ref: _, ...rest } = schema
      merged = { ...resolve(target, root, depth + 1), ...rest }
    }
  }
  if (merged.allOf !== undefined) {
    const { allOf, ...rest } = merged
    merged = allOf.reduce<JsonSchema>((acc, part) => ({ ...resolve(part, root, depth + 1), ...acc }), rest)
  }
  return merged
}

const typeOf = (schema: JsonSchema): string | undefined =>
  Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : (schema.type as string | undefined)

/** The form's field name for a path: `payload.user.id`, as the worker names it in its errors. */
const fieldName = (path: ReadonlyArray<string>) => ["payload", ...path].join(".")

interface FieldProps {
  readonly path: ReadonlyArray<string>
  readonly schema: JsonSchema
  readonly root: JsonSchema
  readonly value: unknown
  readonly required: boolean
  /** The field the worker refused, and why. */
  readonly invalid: Invalid | undefined
  readonly onChange: (value: unknown) => void
}

export interface Invalid {
  readonly field: string
  readonly reason: string
}

/** The schema's own description, else its bounds. */
const describeField = (schema: JsonSchema): string | undefined =>
  schema.description !== undefined && schema.description !== ""
    ? schema.description
    : schema.minimum !== undefined || schema.maximum !== undefined
    ? `${schema.minimum ?? "…"} to ${schema.maximum ?? "…"}`
    : undefined

const Field = ({ invalid, onChange, path, required, root, schema: raw, value }: FieldProps) => {
  const schema = resolve(raw, root)
  const name = fieldName(path)
  const label = path[path.length - 1] ?? "Payload"
  const hint = describeField(schema)
  const isInvalid = invalid?.field === name ? "true" : undefined
  const why = isInvalid !== undefined ? <span class="field-error">{invalid?.reason}</span> : null
  const type = typeOf(schema)
  const caption = (
    <>
      {label}
      {required ? " *" : ""}
      {hint !== undefined ? <span class="muted">({hint})</span> : null}
    </>
  )
  if (schema.enum !== undefined) {
    return (
      <label>
        {caption}
        <select
          name={name}
          aria-invalid={isInvalid}
          value={value === undefined ? "" : JSON.stringify(value)}
          onChange={(e) => onChange(e.currentTarget.value === "" ? undefined : JSON.parse(e.currentTarget.value))}
        >
          <option value="">{required ? "choose…" : "(none)"}</option>
          {schema.enum.map((option) => (
            <option key={JSON.stringify(option)} value={JSON.stringify(option)}>{String(option)}</option>
          ))}
        </select>
        {why}
      </label>
    )
  }
  if (type === "object" && schema.properties !== undefined) {
    const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {}
    return (
      <fieldset>
        <legend>{caption}</legend>
        <div class="form">
          {Object.entries(schema.properties).map(([key, child]) => (
            <Field
              key={key}
              path={[...path, key]}
              schema={child}
              root={root}
              value={record[key]}
              required={schema.required?.includes(key) ?? false}
              invalid={invalid}
              onChange={(v) => {
                const next = { ...record }
                if (v === undefined) delete next[key]
                else next[key] = v
                onChange(next)
              }}
            />
          ))}
        </div>
      </fieldset>
    )
  }
  if (type === "boolean") {
    return (
      <label class="inline">
        <input
          type="checkbox"
          name={name}
          aria-invalid={isInvalid}
          checked={value === true}
          onChange={(e) => onChange(e.currentTarget.checked)}
        />
        {caption}
        {why}
      </label>
    )
  }
  if (type === "integer" || type === "number") {
    return (
      <label>
        {caption}
        <input
          type="number"
          name={name}
          aria-invalid={isInvalid}
          step={type === "integer" ? 1 : "any"}
          {...(schema.minimum !== undefined ? { min: schema.minimum } : {})}
          {...(schema.maximum !== undefined ? { max: schema.maximum } : {})}
          value={typeof value === "number" ? String(value) : ""}
          onInput={(e) => onChange(e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value))}
        />
        {why}
      </label>
    )
  }
  if (type === "string") {
    return (
      <label>
        {caption}
        <input
          type="text"
          name={name}
          aria-invalid={isInvalid}
          value={typeof value === "string" ? value : ""}
          onInput={(e) => onChange(e.currentTarget.value === "" && !required ? undefined : e.currentTarget.value)}
        />
        {why}
      </label>
    )
  }
  if (type === "array" && schema.items !== undefined && typeOf(resolve(schema.items, root)) === "string") {
    return (
      <label>
        {caption} <span class="muted">(one per line)</span>
        <textarea
          name={name}
          aria-invalid={isInvalid}
          value={Array.isArray(value) ? value.join("\n") : ""}
          onInput={(e) =>
            onChange(e.currentTarget.value === "" ? (required ? [] : undefined) : e.currentTarget.value.split("\n"))}
        />
        {why}
      </label>
    )
  }
  return (
    <JsonField caption={caption} name={name} invalid={isInvalid} value={value} onChange={onChange}>{why}</JsonField>
  )
}

const JsonField = (
  { caption, children, invalid, name, onChange, value }: {
    caption: ComponentChildren
    children: ComponentChildren
    name: string
    invalid: "true" | undefined
    value: unknown
    onChange: (value: unknown) => void
  }
) => {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2))
  const [error, setError] = useState<string | undefined>(undefined)
  return (
    <label>
      {caption} <span class="muted">(JSON)</span>
      <textarea
        name={name}
        aria-invalid={error !== undefined ? "true" : invalid}
        value={text}
        onInput={(e) => {
          const next = e.currentTarget.value
          setText(next)
          try {
            onChange(next.trim() === "" ? undefined : JSON.parse(next))
            setError(undefined)
          } catch (cause) {
            setError(cause instanceof Error ? cause.message : "not JSON")
          }
        }}
      />
      {error !== undefined ? <span class="field-error">{error}</span> : children}
    </label>
  )
}

/** The payload form of a kind: fields when the schema is an object, one JSON field otherwise. */
export const PayloadForm = (
  { invalid, onChange, schema, value }: {
    schema: unknown
    value: unknown
    invalid: Invalid | undefined
    onChange: (value: unknown) => void
  }
) => {
  const root = (typeof schema === "object" && schema !== null ? schema : {}) as JsonSchema
  return (
    <Field path={[]} schema={root} root={root} value={value} required={true} invalid={invalid} onChange={onChange} />
  )
}
