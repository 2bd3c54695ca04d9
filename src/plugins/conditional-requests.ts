import fp from 'fastify-plugin'
import { noneMatchFails } from '../services/etag.js'

/**
 * Conditional GET for every route that sets an ETag: when If-None-Match names it, the answer becomes 304 without a
 * body. The headers stay, the ETag among them (RFC 9110 section 15.4.5).
 */
export default fp(
  async (app) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      const field = request.headers['if-none-match']
      if (field === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) return done(null, payload)
      const etag = reply.getHeader('etag')
      if (typeof etag !== 'string' || reply.statusCode < 200 || reply.statusCode > 299 || !noneMatchFails(field, etag)) return done(null, payload)
      reply.code(304).removeHeader('content-type').removeHeader('content-length')
      done(null, null)
    })
  },
  { name: 'conditional-requests' },
)
