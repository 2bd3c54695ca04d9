import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import { withoutSignature } from '../services/media-urls.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The URL carries a signature that is a credential (signed media URLs): the request log shows it blanked. */
    redactSignature?: boolean
  }
}

/** Incoming ids are kept when they look like ids, so a caller's correlation id shows up in our logs. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,64}$/

/** The id of a request: the caller's correlation id (inin-correlation-id, X-Request-Id) when it looks like one. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['inin-correlation-id'] ?? request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * One log line per request, when it completes, carrying its id, status and duration. The URL of a route whose query
 * carries a credential is logged without it.
 */
export class RequestLog extends LogController {
  override incomingRequest() {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const url = request.routeOptions.config.redactSignature ? withoutSignature(request.url) : request.url
    const line = { method: request.method, url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime), clientId: request.client?.clientId }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request completed')
  }
}
