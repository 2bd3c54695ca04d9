import type { FastifyBodyParser } from 'fastify'
import fp from 'fastify-plugin'
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

/** Why Fastify's parser refused `body`: the syntax error JSON.parse names, else the poisoned keys it refuses. */
function refusal(body: string): Error {
  try {
    JSON.parse(body)
  } catch (error) {
    return badRequest(`Malformed JSON body: ${(error as Error).message}`)
  }
  return badRequest('Malformed JSON body: __proto__ and constructor.prototype keys are not accepted')
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
    // Fastify's own parser, refusing `__proto__` / `constructor.prototype` keys, with the API's checks around it:
    // over-deep bodies refused before parsing, unstorable text after it.
    const fastifyJson = app.getDefaultJsonParser('error', 'error')
    const parser: FastifyBodyParser<string> = (request, text, done) => {
      if (text === '') {
        done(null, undefined)
        return
      }
      if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
        done(invalidInput('body', '', 'depth', `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`), undefined)
        return
      }
      fastifyJson(request, text, (error, value) => {
        if (error) return done(refusal(text), undefined)
        // Both kinds of unstorable text can only arrive as \u escapes: bodies without one are not walked.
        const unstorable = text.includes('\\u') ? unstorableTextError('body', value) : undefined
        done(unstorable ?? null, unstorable ? undefined : value)
      })
    }
    app.addContentTypeParser('application/json', { parseAs: 'string' }, parser)
    app.addContentTypeParser(/^application\/[^\s;]+\+json(;|$)/, { parseAs: 'string' }, parser)
  },
  { name: 'content-parsers' },
)
