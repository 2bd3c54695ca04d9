import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'

/**
 * Body parsers the Genesys SDK needs (spec §7.1): it sends `Content-Type: application/json` on every call, including
 * body-less DELETE and PUT, which stock Fastify rejects; and it logs in with a form-encoded body, which stock
 * Fastify answers with 415.
 */
export default fp(
  async (app) => {
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') {
        done(null, undefined)
        return
      }
      try {
        // Same guard as Fastify's own parser: `__proto__` / `constructor.prototype` keys are refused.
        done(null, secureJson.parse(body as string, undefined, { protoAction: 'error', constructorAction: 'error' }))
      } catch (error) {
        done(Object.assign(new Error(`Malformed JSON body: ${(error as Error).message}`), { statusCode: 400, code: 'FST_ERR_BAD_JSON' }), undefined)
      }
    })
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
  },
  { name: 'content-parsers' },
)
