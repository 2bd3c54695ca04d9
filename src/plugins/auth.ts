import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { SECURITY_SCHEME } from '../auth/permissions.js'
import { createTokenIssuer, InvalidTokenError, type TokenIssuer } from '../auth/tokens.js'
import { AuthenticationError, ForbiddenError } from '../errors.js'
import type { ClientIdentity } from '../services/client-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenIssuer
  }
  interface FastifyRequest {
    /** The authenticated client; null on public routes. */
    client: ClientIdentity | null
    /** Organization the request acts for (the client's); every query is scoped to it. */
    organizationId: string
  }
}

export interface AuthOptions {
  signingKey: Uint8Array
  issuer: string
  ttlSeconds: number
}

const REALM = 'realm="recording-store"'

/**
 * onRequest hook for the API: a valid bearer token is required, and decides the organization. Decided from the token
 * alone, without touching the database.
 */
export async function authenticate(request: FastifyRequest) {
  const header = request.headers.authorization
  if (!header) throw new AuthenticationError('An access token is required: Authorization: Bearer <token>', `Bearer ${REALM}`, 'authentication.required')
  const [scheme, token, extra] = header.split(' ')
  let client: ClientIdentity
  try {
    if (scheme?.toLowerCase() !== 'bearer' || !token || extra !== undefined) throw new InvalidTokenError('the Authorization header is not "Bearer <token>"')
    client = await request.server.tokens.verify(token)
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) throw error
    const description = error.message.replace(/"/g, "'")
    throw new AuthenticationError(`Invalid access token: ${error.message}`, `Bearer ${REALM}, error="invalid_token", error_description="${description}"`)
  }
  request.client = client
  request.organizationId = client.organizationId
}

/**
 * Decisions of `authorize` per route rule and client identity. Identities are frozen and shared by every request that
 * carries the same token (see createTokenIssuer), so a decision made once holds for them all; it goes with them.
 */
const decisions = new WeakMap<object, WeakMap<ClientIdentity, boolean>>()

/** Whether `permissions` satisfy one of the alternatives (all of its scopes granted). */
function satisfies(alternatives: Record<string, string[]>[], permissions: readonly string[]): boolean {
  const granted = new Set<string>(permissions)
  return alternatives.some((requirement) => (requirement[SECURITY_SCHEME] ?? []).every((scope) => granted.has(scope)))
}

/**
 * preHandler hook: the route's OpenAPI `security` alternatives are its permission rule; one satisfied alternative
 * (all its scopes granted) lets the request through.
 */
export function authorize(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
  const alternatives = request.routeOptions.schema?.security as Record<string, string[]>[] | undefined
  if (!alternatives || alternatives.length === 0) return done()
  const { client } = request
  let allowed = client ? decisions.get(alternatives)?.get(client) : undefined
  if (allowed === undefined) {
    allowed = satisfies(alternatives, client?.permissions ?? [])
    if (client && Object.isFrozen(client)) {
      const byClient = decisions.get(alternatives) ?? new WeakMap<ClientIdentity, boolean>()
      decisions.set(alternatives, byClient.set(client, allowed))
    }
  }
  if (allowed) return done()
  const needed = alternatives.map((requirement) => (requirement[SECURITY_SCHEME] ?? []).join(' + ')).join(', ')
  done(new ForbiddenError(`Missing permission: this operation needs ${alternatives.length > 1 ? 'one of ' : ''}${needed}`))
}

/** Token signing and checking. */
export default fp<AuthOptions>(
  async (app, options) => {
    app.decorate('tokens', createTokenIssuer({ signingKey: options.signingKey, issuer: options.issuer, ttlSeconds: options.ttlSeconds }))
    app.decorateRequest('client', null)
    app.decorateRequest('organizationId', '')
  },
  { name: 'auth' },
)
