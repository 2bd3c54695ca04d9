import fp from 'fastify-plugin'
import { escapePointer } from './error-handler.js'

function problemOf(text: string): string | undefined {
  if (text.includes('\u0000')) return 'a NUL (\\u0000) character'
  if (!text.isWellFormed()) return 'an unpaired surrogate (\\ud800-\\udfff)'
  return undefined
}

/**
 * The first text (key or value) PostgreSQL text and jsonb cannot hold, U+0000 or an unpaired surrogate, with its JSON
 * pointer. Walked with a stack, not recursion, so no nesting depth can overflow it.
 */
export function findUnstorableText(value: unknown): { pointer: string; problem: string } | undefined {
  // An item's pointer is written only when needed (a problem, or an object's children): most requests have none.
  const pending: [parent: string, key: string | undefined, item: unknown][] = [['', undefined, value]]
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [parent, key, item] = next
    const problem = (key === undefined ? undefined : problemOf(key)) ?? (typeof item === 'string' ? problemOf(item) : undefined)
    if (problem) return { pointer: pointerOf(parent, key), problem }
    if (item !== null && typeof item === 'object') {
      const pointer = pointerOf(parent, key)
      for (const [childKey, child] of Object.entries(item)) pending.push([pointer, childKey, child])
    }
  }
  return undefined
}

const pointerOf = (parent: string, key: string | undefined) => (key === undefined ? parent : `${parent}/${escapePointer(key)}`)

/**
 * A 400 shaped like a schema validation failure, so the error handler names the field (pointer, fieldName, `in`) the
 * same way for every part of the request.
 */
export function invalidInput(part: string, pointer: string, keyword: string, message: string) {
  return Object.assign(new Error(message), {
    statusCode: 400,
    validation: [{ instancePath: pointer, keyword, message, params: {} }],
    validationContext: part,
  })
}

/** The 400 for text in this part of the request that cannot be stored, if there is any. */
export function unstorableTextError(part: string, value: unknown) {
  const found = findUnstorableText(value)
  return found && invalidInput(part, found.pointer, 'storable', `contains ${found.problem}, which cannot be stored`)
}

/**
 * Path segments and query values reach SQL as they are; one check for every route, present and future, instead of a
 * rule in each schema. Bodies are checked by their parsers, which see the raw text.
 */
export default fp(
  async (app) => {
    app.addHook('preValidation', (request, _reply, done) => {
      done(unstorableTextError('params', request.params) ?? unstorableTextError('querystring', request.query))
    })
  },
  { name: 'storable-text' },
)
