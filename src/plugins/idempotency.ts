import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import { DomainError, InvalidRequestError } from '../errors.js'
import { ErrorRef } from '../schemas/error-body.js'
import { createIdempotencyService, type HeldClaim, type IdempotencyService } from '../services/idempotency-service.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A create that honours Idempotency-Key: a retry with the same key gets the first answer, not a second resource. */
    idempotent?: boolean
  }
  interface FastifyInstance {
    idempotencyKeys: IdempotencyService
  }
}

export interface IdempotencyPluginOptions {
  ttlHours: number
  abandonAfterMs: number
  /** How often expired keys are swept; lookups also ignore and take over expired keys, so this only frees space. */
  sweepIntervalMs?: number
}

/** The answer headers a replay repeats. */
const REPLAYED_HEADERS = ['content-type', 'location', 'etag']

export const IdempotencyKeyHeaders = Type.Object({
  'Idempotency-Key': Type.Optional(
    Type.String({
      description:
        'Makes a retry safe (IETF draft "The Idempotency-Key HTTP Header Field"): 1 to 255 printable ASCII characters, ' +
        'e.g. a UUID, bare or as a quoted string. The same key with the same request within the key\'s lifetime answers ' +
        'the first answer again (with Idempotent-Replayed: true) instead of creating twice; with another request 422; ' +
        'while the first is still running 409. Keys are per client. Failed attempts do not use up the key.',
    }),
  ),
})

const REPLAYED_HEADER = { type: 'string', enum: ['true'], description: 'Present on a replay: this is the answer the first request with this Idempotency-Key got.' }

/** The key of an Idempotency-Key value; a Structured Field string ("…") is unquoted. */
function parseKey(value: string): string {
  const quoted = /^"((?:[^"\\]|\\["\\])*)"$/.exec(value)
  const key = quoted ? (quoted[1] ?? '').replace(/\\(["\\])/g, '$1') : value
  if (!/^[\x20-\x7e]{1,255}$/.test(key)) {
    throw new InvalidRequestError('Idempotency-Key must be 1 to 255 printable ASCII characters', 'Idempotency-Key', 'headers')
  }
  return key
}

/** JSON with object members in key order, so that member order does not make two bodies differ. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return Buffer.isBuffer(value) ? JSON.stringify(value.toString('base64')) : (JSON.stringify(value) ?? '')
}

const fingerprint = (request: FastifyRequest) =>
  createHash('sha256').update(`${request.method}\n${request.url}\n${canonical(request.body)}`).digest('hex')

const held = new WeakMap<FastifyRequest, HeldClaim>()

/**
 * The key this request claimed, for a handler whose create can store its answer in its own transaction: then no
 * crash between the create and the stored answer can leave the key free for a second create.
 */
export const heldClaim = (request: FastifyRequest): HeldClaim | undefined => held.get(request)

const asArray = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks])

/**
 * Idempotency-Key for the routes that set `config: { idempotent: true }`. Their hooks, request header and 409/422
 * answers are added here when the route is registered; other routes pay nothing.
 *
 * Order of events: the key is claimed after authentication, permission check and validation (a request refused
 * there never touches it). The answer is stored before it is sent, so a client that has seen it can only get it
 * replayed. Each handler passes `heldClaim(request)` to its write, which stores the answer in its own transaction
 * (the ingest in its one statement, the annotation POST in its transaction): stored here, after the write, the
 * answer would be a second commit, and a process dying between the two would leave a claim that looks abandoned
 * after `abandonAfterMs`, letting a retry write again. Every other failure releases the claim and stores nothing.
 */
export default fp<IdempotencyPluginOptions>(
  async (app, { ttlHours, abandonAfterMs, sweepIntervalMs = 15 * 60_000 }) => {
    const keys = createIdempotencyService({ prisma: app.prisma, ttlHours, abandonAfterMs })
    app.decorate('idempotencyKeys', keys)

    const claim: preHandlerHookHandler = async (request: FastifyRequest, reply: FastifyReply) => {
      const value = request.headers['idempotency-key']
      if (value === undefined) return
      const key = parseKey(Array.isArray(value) ? value.join(', ') : value)
      const scope = { organizationId: request.organizationId, clientId: request.client?.clientId ?? '', key }
      const result = await keys.claim(scope, fingerprint(request))
      switch (result.outcome) {
        case 'claimed':
          held.set(request, { scope, claim: result.claim })
          return
        case 'mismatch':
          throw new DomainError(422, 'idempotency.key.reused', `Idempotency-Key ${JSON.stringify(key)} was used with another request (method, path or body); a new request needs a new key`)
        case 'in-flight':
          reply.header('retry-after', '1')
          throw new DomainError(409, 'idempotency.key.in.flight', `A request with Idempotency-Key ${JSON.stringify(key)} is still being processed; retry once it has completed`)
        case 'replay':
          request.log.info({ idempotencyKey: key }, 'idempotent replay')
          return reply.code(result.answer.statusCode).headers({ ...result.answer.headers, 'idempotent-replayed': 'true' }).send(result.answer.body)
      }
    }

    const settle: onSendHookHandler = async (request, reply, payload) => {
      const mine = held.get(request)
      if (!mine) return payload
      held.delete(request)
      if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string') {
        const headers = Object.fromEntries(REPLAYED_HEADERS.flatMap((name) => {
          const value = reply.getHeader(name)
          return value === undefined ? [] : [[name, String(value)]]
        }))
        await keys.complete(mine.scope, mine.claim, { statusCode: reply.statusCode, headers, body: payload })
      } else {
        await keys.release(mine.scope, mine.claim)
      }
      return payload
    }

    // An answer that never reached onSend (its serialization failed, the connection closed) must not keep the key.
    const cleanUp: onResponseHookHandler = async (request) => {
      const mine = held.get(request)
      if (!mine) return
      held.delete(request)
      await keys.release(mine.scope, mine.claim)
    }

    app.addHook('onRoute', (route) => {
      if (!route.config?.idempotent) return
      route.preHandler = [...asArray(route.preHandler), claim]
      route.onSend = [...asArray(route.onSend), settle]
      route.onResponse = [...asArray(route.onResponse), cleanUp]
      const schema = route.schema ?? {}
      const headers = (schema.headers ?? { type: 'object', properties: {} }) as { properties?: object }
      const responses = Object.entries((schema.response ?? {}) as Record<string, { headers?: object }>).map(([status, response]) =>
        /^2/.test(status) ? [status, { ...response, headers: { ...response.headers, 'Idempotent-Replayed': REPLAYED_HEADER } }] : [status, response])
      route.schema = {
        ...schema,
        headers: { ...headers, properties: { ...headers.properties, ...IdempotencyKeyHeaders.properties } },
        response: { ...Object.fromEntries(responses), 409: ErrorRef, 422: ErrorRef },
      }
    })

    let sweeper: NodeJS.Timeout | undefined
    app.addHook('onReady', async () => {
      sweeper = setInterval(() => {
        keys.sweep().then(
          (deleted) => deleted > 0 && app.log.info({ deleted }, 'expired idempotency keys deleted'),
          (err: unknown) => app.log.warn({ err }, 'idempotency key sweep failed'),
        )
      }, sweepIntervalMs).unref()
    })
    app.addHook('onClose', async () => clearInterval(sweeper))
  },
  { name: 'idempotency', dependencies: ['prisma'] },
)
