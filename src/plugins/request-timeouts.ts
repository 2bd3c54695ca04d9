import fp from 'fastify-plugin'
import type { Socket } from 'node:net'
import { answerClientError } from './error-handler.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The body is media streamed to storage, as large as MEDIA_MAX_BYTES: its time limit is a pause between bytes, not
     * the whole transfer (a 4 GiB upload on a slow link takes hours).
     */
    streamsBody?: boolean
  }
}

const timedOut = () => Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })

/**
 * REQUEST_TIMEOUT_MS per route, which Node's server-wide `requestTimeout` cannot do (the server's is off): a request
 * must arrive whole within it, except on `streamsBody` routes, where it bounds each pause. Either way the answer is
 * the 408 error body, and the connection closes.
 */
export default fp<{ timeoutMs: number; headers: Readonly<Record<string, string>> }>(
  async (app, { timeoutMs, headers }) => {
    const refuse = (socket: Socket) => answerClientError(timedOut(), socket, headers, app.log)

    app.addHook('onRequest', (request, _reply, done) => {
      const { raw } = request
      const socket = raw.socket as Socket | undefined
      // Nothing left to arrive (all of it read with the headers, or no body: neither Content-Length nor
      // Transfer-Encoding, RFC 9112 section 6.3), or an injected request.
      const { headers } = raw
      const bodiless = headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0')
      if (raw.complete || bodiless || !socket || typeof socket.setTimeout !== 'function') return done()
      if (request.routeOptions.config.streamsBody) {
        // The socket's idle timer restarts with every byte. Listening on the request keeps Node from destroying the
        // socket without an answer.
        socket.setTimeout(timeoutMs)
        raw.once('timeout', () => refuse(socket))
        return done()
      }
      const timer = setTimeout(() => {
        if (!raw.complete) refuse(socket)
      }, timeoutMs).unref()
      raw.once('end', () => clearTimeout(timer)).once('close', () => clearTimeout(timer))
      done()
    })
  },
  { name: 'request-timeouts' },
)
