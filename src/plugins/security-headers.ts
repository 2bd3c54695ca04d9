import fp from 'fastify-plugin'

/**
 * Security headers of every answer: an API answer is data, never a page, so nothing may be loaded from it, frame it,
 * or be sniffed into another type. A fixed set, not helmet's: its defaults are for HTML pages, and merging them in
 * loosened the policy (script-src, style-src, upgrade-insecure-requests, X-Frame-Options SAMEORIGIN). Swagger UI sets
 * its own policy on /docs, and the media route its own for players.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
}

/**
 * Sets SECURITY_HEADERS on every answer, first thing: errors and early refusals carry them too. This and the other
 * hooks that run on every request and never wait take `done` rather than being async: an async hook costs a promise
 * and a microtask turn per request.
 */
export default fp(
  async (app) => {
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(SECURITY_HEADERS)
      done()
    })
  },
  { name: 'security-headers' },
)
