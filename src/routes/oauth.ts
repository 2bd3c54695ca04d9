import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorBody, ErrorDetail } from '../schemas/error-body.js'
import { errorBody, toErrorBody } from '../plugins/error-handler.js'
import { findUnstorableText, unstorableTextError } from '../plugins/storable-text.js'
import { OAuthErrorRef, OAuthErrorSchema, TokenRequestSchema, TokenResponseSchema } from '../schemas/oauth.js'

type Credentials =
  | { via: 'basic' | 'form'; clientId: string; clientSecret: string }
  | { via: 'none' }
  | { via: 'invalid'; problem: string; field?: string }

/** Client credentials from HTTP Basic (as the Genesys SDK sends them) or from the form. */
function credentials(request: FastifyRequest): Credentials {
  const header = request.headers.authorization
  const body = (request.body ?? {}) as Record<string, unknown>
  const inBody = typeof body.client_id === 'string' || typeof body.client_secret === 'string'
  if (header?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) return { via: 'invalid', problem: 'the Basic credentials are not "id:secret"' }
    const unstorable = findUnstorableText(decoded)
    if (unstorable) return { via: 'invalid', problem: `the Basic credentials contain ${unstorable.problem}`, field: 'authorization' }
    if (inBody) return { via: 'invalid', problem: 'use one way of authenticating the client, not HTTP Basic and form fields together' }
    return { via: 'basic', clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) }
  }
  if (typeof body.client_id === 'string' && typeof body.client_secret === 'string') {
    return { via: 'form', clientId: body.client_id, clientSecret: body.client_secret }
  }
  return { via: 'none' }
}

/** `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), at the root as on Genesys' login host. */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ tokensPerMinute: number }> = async (app, { tokensPerMinute }) => {
  app.addSchema(OAuthErrorSchema)
  const { clients } = app.services

  const send = (reply: FastifyReply, error: string, body: ErrorBody) => {
    // Every 401 names the scheme to authenticate with (RFC 9110 §11.6.1).
    if (body.status === 401) reply.header('www-authenticate', 'Basic realm="recording-store"')
    return reply.code(body.status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send({ error, error_description: body.message, ...body })
  }
  const fail = (request: FastifyRequest, reply: FastifyReply, status: number, error: string, description: string, details: ErrorDetail[] = []) =>
    send(reply, error, errorBody(request, status, description, { code: status === 401 ? 'bad.credentials' : 'bad.request', details }))

  // Form fields, as RFC 6749 §4.4.2 has the token request sent: only this route takes them, every other one is JSON.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, text, done) => {
    const body = Object.fromEntries(new URLSearchParams(text as string))
    const unstorable = unstorableTextError('body', body)
    if (unstorable) done(unstorable, undefined)
    else done(null, body)
  })

  // Errors raised before the handler (unparsable body, wrong content type, rate limit) get the OAuth members too.
  const oauthError = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const body = toErrorBody(error, request, reply)
    // temporarily_unavailable: RFC 6749 §4.1.2.1's name for an outage (the database), which a client may retry.
    const code = body.status === 429 ? 'slow_down' : body.status === 503 ? 'temporarily_unavailable' : body.status >= 500 ? 'server_error' : 'invalid_request'
    return send(reply, code, body)
  }

  app.post('/oauth/token', {
    attachValidation: true,
    errorHandler: oauthError,
    config: {
      rateLimit: {
        max: tokensPerMinute,
        // Per client id and address: guessing secrets for one client, or many clients from one place, is slowed.
        keyGenerator: (request: FastifyRequest) => {
          const creds = credentials(request)
          return `${'clientId' in creds ? creds.clientId : '-'}|${request.ip}`
        },
      },
    },
    schema: {
      operationId: 'postOauthToken',
      summary: 'Get an access token (client credentials)',
      description:
        'Form-encoded `grant_type=client_credentials`; the client authenticates with HTTP Basic (as the Genesys SDK ' +
        'does) or with `client_id` and `client_secret` form fields. The token is sent as `Authorization: Bearer <token>`.',
      tags: ['OAuth'],
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenRequestSchema,
      response: { 200: TokenResponseSchema, 400: OAuthErrorRef, 401: OAuthErrorRef, 413: OAuthErrorRef, 415: OAuthErrorRef, 429: OAuthErrorRef, 500: OAuthErrorRef, 503: OAuthErrorRef },
    },
  }, async (request, reply) => {
    // RFC 6749 §4.4.2: the token request is form-encoded; other encodings are refused rather than guessed at.
    if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return fail(request, reply, 400, 'invalid_request', 'The token request must be application/x-www-form-urlencoded')
    }
    if (request.validationError) return fail(request, reply, 400, 'invalid_request', 'grant_type is required')
    if (request.body.grant_type !== 'client_credentials') {
      return fail(request, reply, 400, 'unsupported_grant_type', `grant_type ${request.body.grant_type} is not supported; use client_credentials`)
    }
    const creds = credentials(request)
    if (creds.via === 'invalid') {
      const details = creds.field ? [{ errorCode: 'invalid.value', fieldName: creds.field, in: 'headers', pointer: `#/${creds.field}`, detail: creds.problem }] : []
      return fail(request, reply, 400, 'invalid_request', creds.problem, details)
    }
    if (creds.via === 'none') {
      return fail(request, reply, 401, 'invalid_client', 'Client authentication is required (HTTP Basic or client_id and client_secret)')
    }
    const client = await clients.verify(creds.clientId, creds.clientSecret)
    if (!client) {
      request.log.warn({ clientId: creds.clientId }, 'token refused: unknown client, wrong secret or revoked')
      return fail(request, reply, 401, 'invalid_client', 'Unknown client, wrong secret, or revoked client')
    }
    const accessToken = await app.tokens.issue(client)
    request.log.info({ audit: { action: 'token.issue', organizationId: client.organizationId, clientId: client.clientId } }, 'audit')
    return reply
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .send({ access_token: accessToken, token_type: 'bearer' as const, expires_in: app.tokens.ttlSeconds })
  })
}
