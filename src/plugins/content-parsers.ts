import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import { invalidInput, unstorableTextError } from './storable-text.js'

const badRequest = (message: string) => Object.assign(new Error(message), { statusCode: 400 })

/**
 * How deeply arrays and objects may nest in a JSON body. The deepest legitimate body (rich content of a messaging
 * message in a transcript of a recording) is far shallower; much deeper ones would overflow the stack of JSON.parse
 * and of every recursive walk after it (validation, JSON.stringify).
 */
export const MAX_JSON_DEPTH = 64

/** Whether JSON text nests deeper than `limit`: one pass over the text, brackets inside strings not counted. */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === 0x5c) i++ // a backslash escapes the next character, so \" does not end the string
      else if (char === 0x22) inString = false
    } else if (char === 0x22) inString = true
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > limit) return true
    } else if (char === 0x5d || char === 0x7d) depth--
  }
  return false
}

/** JSON text to a value: over-deep bodies refused before parsing, unstorable text and poisoned keys after it. */
function parseJson(body: string): { value: unknown } | { error: Error } {
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    return { error: invalidInput('body', '', 'depth', `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`) }
  }
  let value: unknown
  try {
    // Same guard as Fastify's own parser: `__proto__` / `constructor.prototype` keys are refused.
    value = secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (error) {
    return { error: badRequest(`Malformed JSON body: ${(error as Error).message}`) }
  }
  // Both kinds of unstorable text can only arrive as \u escapes: bodies without one are not walked.
  const unstorable = body.includes('\\u') ? unstorableTextError('body', value) : undefined
  return unstorable ? { error: unstorable } : { value }
}

/**
 * The body parser of the API: JSON, as `application/json` or any `+json` type (`application/merge-patch+json`). Every
 * other media type is answered 415 before anything runs; a route that takes another one (the form-encoded
 * `/oauth/token`) registers its parser in its own scope. The Genesys SDK (spec §7.1) sends
 * `Content-Type: application/json` on every call, including body-less DELETE and PUT, which stock Fastify rejects.
 */
export default fp(
  async (app) => {
    // A text/plain body is refused with 415 rather than parsed into a string.
    app.removeContentTypeParser(['application/json', 'text/plain'])
    const parser = (_request: unknown, text: string | Buffer, done: (error: Error | null, body?: unknown) => void) => {
      if (text === '') {
        done(null, undefined)
        return
      }
      const parsed = parseJson(text as string)
      if ('error' in parsed) done(parsed.error, undefined)
      else done(null, parsed.value)
    }
    app.addContentTypeParser('application/json', { parseAs: 'string' }, parser)
    app.addContentTypeParser(/^application\/[^\s;]+\+json(;|$)/, { parseAs: 'string' }, parser)
  },
  { name: 'content-parsers' },
)
