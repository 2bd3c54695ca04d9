import fp from 'fastify-plugin'
import { DomainError } from '../errors.js'

/** About the time a restarted instance takes to answer again; behind a load balancer another one answers sooner. */
const RETRY_AFTER_SECONDS = 5

/**
 * Once the app is closing (SIGTERM), requests still arriving on open connections (keep-alive, pipelined) are refused
 * with the usual error body, Retry-After and `Connection: close`, while those already running finish. Fastify's own
 * answer for this case (`return503OnClosing`) is a bare JSON body without Retry-After, so that option is turned off
 * where the app is built.
 */
export default fp(
  async (app) => {
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    app.addHook('onRequest', (_request, reply, done) => {
      if (!closing) return done()
      reply.header('retry-after', String(RETRY_AFTER_SECONDS)).header('connection', 'close')
      done(new DomainError(503, 'service.shutting.down', 'The service is shutting down; retry after the time given in Retry-After.'))
    })
  },
  { name: 'draining', dependencies: ['error-handler'] },
)
