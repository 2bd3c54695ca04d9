import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'

const badRequest = (message: string) => Object.assign(new Error(message), { statusCode: 400 })

/**
 * PostgreSQL text and jsonb cannot hold U+0000 or unpaired surrogates; refuse them up front instead of failing half-way
 * through a write. Both can only arrive as \u escapes, so bodies without one are not walked.
 */
function findUnstorableText(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'a NUL (\\u0000) character'
    if (!value.isWellFormed()) return 'an unpaired surrogate (\\ud800-\\udfff)'
    return undefined
  }
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const problem = findUnstorableText(key) ?? findUnstorableText(child)
      if (problem) return problem
    }
  }
  return undefined
}

/**
 * Body parsers the Genesys SDK needs (spec §7.1): it sends `Content-Type: application/json` on every call, including
 * body-less DELETE and PUT, which stock Fastify rejects; and it logs in with a form-encoded body, which stock
 * Fastify answers with 415.
 */
export default fp(
  async (app) => {
    // The API speaks JSON only: a text/plain body is refused with 415 rather than parsed into a string.
    app.removeContentTypeParser(['application/json', 'text/plain'])
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
      const body = text as string
      if (body === '') {
        done(null, undefined)
        return
      }
      let parsed: unknown
      try {
        // Same guard as Fastify's own parser: `__proto__` / `constructor.prototype` keys are refused.
        parsed = secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' })
      } catch (error) {
        done(badRequest(`Malformed JSON body: ${(error as Error).message}`), undefined)
        return
      }
      const problem = body.includes('\\u') ? findUnstorableText(parsed) : undefined
      if (problem) done(badRequest(`The body contains ${problem}, which cannot be stored`), undefined)
      else done(null, parsed)
    })
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
  },
  { name: 'content-parsers' },
)
