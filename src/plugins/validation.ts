import { Ajv, type Options as AjvOptions } from 'ajv'
import addFormats from 'ajv-formats'
import { isDateTime } from '../schemas/date-time.js'

/**
 * Ajv for each request part: bodies are checked as sent (a number is not a string, null is not ""), while path and
 * query values, which always arrive as text, are coerced to the declared types. Every problem is reported.
 */
export function validatorCompiler() {
  const base: AjvOptions = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false }
  // ajv-formats' date-time admits instants that Date or PostgreSQL cannot hold; they would fail as a 500 later.
  const withFormats = (ajv: Ajv) => addFormats.default(ajv).addFormat('date-time', { type: 'string', validate: isDateTime })
  const body = withFormats(new Ajv({ ...base, coerceTypes: false }))
  const other = withFormats(new Ajv({ ...base, coerceTypes: 'array' }))
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? body : other).compile(schema)
}
