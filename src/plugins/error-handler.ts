import type { ConnectionError, FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { databaseFailure, type DatabaseFailure } from '../db/database-errors.js'
import { AuthenticationError, DomainError, InvalidRequestError } from '../errors.js'
import { ErrorBodySchema, type ErrorBody, type ErrorDetail } from '../schemas/error-body.js'

/** Genesys-style code and a fixed RFC 9457 title for each status we answer with. */
const BY_STATUS: Record<number, { code: string; title: string }> = {
  400: { code: 'bad.request', title: 'Bad request' },
  401: { code: 'authentication.required', title: 'Authentication required' },
  403: { code: 'missing.permissions', title: 'Missing permissions' },
  404: { code: 'not.found', title: 'Not found' },
  405: { code: 'method.not.allowed', title: 'Method not allowed' },
  406: { code: 'not.acceptable', title: 'Not acceptable' },
  408: { code: 'request.timeout', title: 'Request timeout' },
  409: { code: 'conflict', title: 'Conflict' },
  412: { code: 'precondition.failed', title: 'Precondition failed' },
  413: { code: 'request.entity.too.large', title: 'Request entity too large' },
  415: { code: 'unsupported.media.type', title: 'Unsupported media type' },
  416: { code: 'range.not.satisfiable', title: 'Range not satisfiable' },
  422: { code: 'unprocessable.content', title: 'Unprocessable content' },
  429: { code: 'too.many.requests', title: 'Too many requests' },
  431: { code: 'request.header.fields.too.large', title: 'Request header fields too large' },
  500: { code: 'internal.server.error', title: 'Internal server error' },
  503: { code: 'service.unavailable', title: 'Service unavailable' },
}

/** As /health/ready says: about the time PostgreSQL takes to restart. */
export const DATABASE_RETRY_AFTER_SECONDS = 5

const DATABASE_FAILURES: Record<DatabaseFailure, string> = {
  'database.unavailable': 'The database is not available at the moment; retry after the time given in Retry-After.',
  'database.timeout': 'The database did not answer in time; retry after the time given in Retry-After.',
}

/** Problem types are URNs we own; one per `code`, stable forever. */
export const problemType = (code: string) => `urn:recording-store:problem:${code}`

export function errorBody(
  request: Pick<FastifyRequest, 'id'>,
  status: number,
  message: string,
  extra: { code?: string; details?: ErrorDetail[]; entity?: { name: string; id: string } } = {},
): ErrorBody {
  const known = BY_STATUS[status] ?? (status >= 500 ? BY_STATUS[500] : BY_STATUS[400])
  const code = extra.code ?? known?.code ?? 'error'
  return {
    message,
    code,
    status,
    contextId: request.id,
    ...(extra.entity ? { entityId: extra.entity.id, entityName: extra.entity.name } : {}),
    details: extra.details ?? [],
    errors: [],
    type: problemType(code),
    title: known?.title ?? 'Error',
    detail: message,
  }
}

export const sendError = (reply: FastifyReply, body: ErrorBody) =>
  reply
    .code(body.status)
    // Also on errors raised before the onRequest hooks ran (router errors), and never cached.
    .header('inin-correlation-id', body.contextId)
    .header('cache-control', 'no-store')
    .type('application/problem+json; charset=utf-8')
    .send(body)

interface AjvError {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

/** RFC 6901: `~` and `/` inside a key are written `~0` and `~1`. */
export const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1')

/** `/transcript/0/bodyType` → `transcript[0].bodyType` */
const fieldName = (pointer: string) =>
  pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((name, part) => (/^\d+$/.test(part) ? `${name}[${part}]` : name ? `${name}.${part}` : part), '')

function validationDetails(errors: AjvError[], part: string): ErrorDetail[] {
  // A failed `anyOf` (e.g. "null or a date-time") reports every branch; keep the most telling one per field.
  const byPath = new Map<string, AjvError[]>()
  for (const error of errors) byPath.set(error.instancePath, [...(byPath.get(error.instancePath) ?? []), error])
  const details: ErrorDetail[] = []
  for (const [path, group] of byPath) {
    const specific = group.filter((e) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && e.params.type === 'null'))
    for (const error of specific.length > 0 ? specific : group) {
      let pointer = path
      let text = error.message ?? 'is invalid'
      let errorCode = `invalid.${error.keyword}`
      if (error.keyword === 'additionalProperties') {
        pointer = `${path}/${escapePointer(String(error.params.additionalProperty))}`
        text = 'is not a known property'
        errorCode = 'unknown.property'
      } else if (error.keyword === 'required') {
        pointer = `${path}/${escapePointer(String(error.params.missingProperty))}`
        text = 'is required'
      } else if (error.keyword === 'enum') {
        text = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`
      }
      details.push({ errorCode, fieldName: fieldName(pointer) || part, in: part, pointer: `#${pointer}`, detail: text })
    }
  }
  return details
}

/**
 * The ErrorBody for any error a request raised: validation problems with pointers, domain errors with their status
 * and code, Fastify's 4xx as they are, and anything else as a 500 that is logged but never described.
 */
export function toErrorBody(error: FastifyError, request: FastifyRequest, reply: FastifyReply): ErrorBody {
  if (error.validation) {
    const part = error.validationContext ?? 'request'
    const details = validationDetails(error.validation as AjvError[], part)
    const first = details[0]
    const summary = first ? `${first.fieldName} ${first.detail}` : 'is invalid'
    const more = details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : ''
    return errorBody(request, 400, `Invalid ${part}: ${summary}${more}`, { details })
  }
  if (error instanceof DomainError) {
    if (error instanceof AuthenticationError) reply.header('www-authenticate', error.challenge)
    const details = error instanceof InvalidRequestError && error.field
      ? [{ errorCode: 'invalid.value', fieldName: error.field, in: error.part, pointer: `#/${error.field}`, detail: error.message }]
      : []
    return errorBody(request, error.status, error.message, { code: error.code, entity: error.entity, details })
  }
  const status = error.statusCode ?? 500
  if (status === 415) {
    const given = request.headers['content-type']
    const detail = given === undefined ? 'is required with a body' : `${given} is not a media type this operation takes`
    return errorBody(request, 415, `Unsupported media type: Content-Type ${detail}`, {
      details: [{ errorCode: 'unsupported.media.type', fieldName: 'content-type', in: 'headers', pointer: '#/content-type', detail }],
    })
  }
  if (status >= 400 && status < 500) return errorBody(request, status, error.message)
  const failure = databaseFailure(error)
  if (failure) {
    // Expected while the database restarts or fails over: a warning, and a retry is likely to succeed.
    request.log.warn({ err: error }, 'database unavailable')
    reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
    return errorBody(request, 503, DATABASE_FAILURES[failure], { code: failure })
  }
  request.log.error({ err: error }, 'request failed')
  return errorBody(request, 500, 'The request could not be processed. Quote the contextId when reporting it.')
}

/**
 * Answers what Node's HTTP parser refuses before there is a request to route (a malformed request line, bytes it does
 * not take in the URL, a header block over its limit, a request not received in time) with the error body every
 * other answer carries. Written to the socket directly: there is no request or reply object yet.
 */
export function answerClientError(error: Error & Pick<ConnectionError, 'code'>, socket: Socket, headers: Readonly<Record<string, string>>, log: FastifyBaseLogger) {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'The request was not received in time']
    : error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'The request headers are larger than the server accepts']
    : [400, `The request is not valid HTTP (${error.code})`]
  const body = errorBody({ id: randomUUID() }, status, message)
  log.info({ err: error, contextId: body.contextId, statusCode: status }, 'client error')
  if (socket.writable) {
    const text = JSON.stringify(body)
    const head = {
      ...headers,
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'inin-correlation-id': body.contextId,
      'cache-control': 'no-store',
      connection: 'close',
    }
    const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}\r\n${text}`)
  }
  socket.destroy(error)
}

/** `/docs/static/*` → a pattern for concrete paths, as the router matches them (trailing slash ignored). */
function pathPattern(url: string): RegExp {
  const segments = url.replace(/\/+$/, '').split('/').map((segment) =>
    segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${segments.join('/')}/?$`)
}

/** Every non-2xx answer goes through here: one body shape, a request id, and never an internal message. */
export default fp(
  async (app) => {
    app.addSchema(ErrorBodySchema)
    app.setErrorHandler((error: FastifyError, request, reply) => sendError(reply, toErrorBody(error, request, reply)))

    // The router answers a known path with the wrong method as if the path were unknown; these patterns tell the two
    // apart. Catch-all routes (the CORS preflight's `OPTIONS *`) match any path, so they say nothing about one.
    const routes: { method: string; pattern: RegExp }[] = []
    app.addHook('onRoute', (route) => {
      if (route.url === '*' || route.url === '/*') return
      const pattern = pathPattern(route.url)
      for (const method of [route.method].flat()) routes.push({ method, pattern })
    })
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? ''
      const allowed = [...new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))]
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        const message = `${request.method} is not allowed on ${path}; it answers ${allowed.join(', ')}`
        return sendError(reply.header('allow', allowed.join(', ')), errorBody(request, 405, message))
      }
      return sendError(reply, errorBody(request, 404, `No route for ${request.method} ${path}`))
    })
  },
  { name: 'error-handler' },
)
