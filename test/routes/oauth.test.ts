import { randomBytes, randomUUID } from 'node:crypto'
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { ALL_PERMISSIONS, type Permission } from '../../src/auth/permissions.js'
import { TOKEN_AUDIENCE } from '../../src/auth/tokens.js'
import { shippedMigrations } from '../../src/db/migrations.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import type { CreatedClient } from '../../src/services/client-service.js'
import { chatRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, recordingsUrl, type TestContext } from '../helpers.js'

/**
 * POST /oauth/token (spec §5.1, RFC 6749 §4.4 and §5.2) and the bearer-token check in front of every /api/v2 route.
 * The signing key is configured, so tokens can be forged here with jose exactly as the service signs them.
 */

const SIGNING_KEY = 'oauth-test-signing-key-0123456789-abcdefghij'
const KEY_BYTES = new TextEncoder().encode(SIGNING_KEY)
const FORM = 'application/x-www-form-urlencoded'
const BASIC_CHALLENGE = /^Basic realm="recording-store"/
const BEARER_CHALLENGE = /^Bearer realm="recording-store"/

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ TOKEN_SIGNING_KEY: SIGNING_KEY })
})
afterAll(async () => {
  await ctx.close()
})

type Injectable = Pick<TestContext['app'], 'inject'>

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`

/** A token request on the bare app (no default bearer header): a form body, as the SDK sends it. */
const tokenRequest = (form: Record<string, string>, headers: Record<string, string> = {}, app: Injectable = ctx.app) =>
  app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM, ...headers }, payload: new URLSearchParams(form).toString() })

/** The login exactly as `loginClientCredentialsGrant` performs it (spec §5.1). */
const sdkLogin = (id: string, secret: string, app: Injectable = ctx.app) =>
  tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(id, secret), accept: 'application/json, text/plain, */*' }, app)

const newClient = (permissions: readonly Permission[] = ALL_PERMISSIONS, organization = 'oauth-org', app: TestContext['app'] = ctx.app) =>
  app.services.clients.create({ organization, name: `client ${randomUUID()}`, permissions: [...permissions] })

const organizationIdOf = async (name: string) =>
  (await ctx.sql.query<{ id: string }>('SELECT id FROM organizations WHERE name = $1', [name])).rows[0]?.id

interface TokenResponse {
  access_token: string
  token_type: string
  expires_in: number
}

function expectToken(res: LightMyRequestResponse, expiresIn = 86_400): TokenResponse {
  expect(res.statusCode, res.body).toBe(200)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  expect(res.headers['cache-control']).toBe('no-store')
  expect(res.headers.pragma).toBe('no-cache')
  const body = res.json<TokenResponse>()
  expect(body).toEqual({ access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), token_type: 'bearer', expires_in: expiresIn })
  return body
}

/** RFC 6749 §5.2 members plus every ErrorBody member, never cached, with the request's correlation id. */
function expectOAuthError(res: LightMyRequestResponse, status: number, error: unknown) {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  expect(res.headers['cache-control']).toBe('no-store')
  const body = res.json<Record<string, unknown>>()
  expect(body).toMatchObject({
    error,
    error_description: expect.any(String),
    message: body.error_description,
    code: status === 401 ? 'bad.credentials' : expect.stringMatching(/^[a-z]+(\.[a-z]+)*$/),
    status,
    contextId: res.headers['inin-correlation-id'],
    details: expect.any(Array),
    errors: [],
  })
  expect(body).not.toHaveProperty('access_token')
  return body as { error: string; error_description: string; message: string }
}

/** An API call with this Authorization header (or none). */
const apiCall = (authorization: string | undefined, url = recordingsUrl('oauth-matrix'), app: Injectable = ctx.app) =>
  app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } })

describe('POST /oauth/token: success', () => {
  it('issues a bearer token to HTTP Basic exactly as the SDK sends it, and the token works on the API for its organization', async () => {
    const client = await newClient(ALL_PERMISSIONS, 'sdk-style-org')
    const token = expectToken(await sdkLogin(client.clientId, client.clientSecret))

    const conversationId = randomUUID()
    const created = await ctx.app.inject({
      method: 'POST', url: recordingsUrl(conversationId), payload: chatRecording, headers: { authorization: `Bearer ${token.access_token}` },
    })
    expect(created.statusCode, created.body).toBe(201)
    const read = await apiCall(`Bearer ${token.access_token}`, recordingsUrl(conversationId))
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual([created.json()])
    // The token's organization is the client's: the default organization does not see the recording.
    expect(expectErrorBody(await ctx.inject({ method: 'GET', url: recordingsUrl(conversationId) }), 404).code).toBe('not.found')
  })

  it('issues a token to client_id and client_secret form fields', async () => {
    const client = await newClient(['recording:recording:view'])
    const token = expectToken(await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }))
    expect((await apiCall(`Bearer ${token.access_token}`)).statusCode).toBe(404) // authenticated and authorized: no such conversation
  })

  it('signs an RFC 9068 access token carrying the client, its organization and its permissions', async () => {
    const permissions: Permission[] = ['recording:recording:view', 'recording:annotation:add']
    const client = await newClient(permissions, 'claims-org')
    const first = expectToken(await sdkLogin(client.clientId, client.clientSecret)).access_token
    const second = expectToken(await sdkLogin(client.clientId, client.clientSecret)).access_token

    expect(decodeProtectedHeader(first)).toEqual({ alg: 'HS256', typ: 'at+jwt' })
    const claims = decodeJwt(first)
    expect(claims).toMatchObject({
      iss: ctx.config.TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      sub: client.clientId,
      client_id: client.clientId,
      org: await organizationIdOf('claims-org'),
      permissions,
      jti: expect.any(String),
    })
    expect(claims.org).toEqual(expect.any(String))
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(86_400)
    expect(Math.abs((claims.iat ?? 0) - Date.now() / 1000)).toBeLessThan(60)
    expect(decodeJwt(second).jti).not.toBe(claims.jti)
  })

  it('answers expires_in from TOKEN_TTL_SECONDS, and the token expires then', async () => {
    const short = await createTestContext({ TOKEN_TTL_SECONDS: '120' })
    try {
      const client = await newClient(['recording:recording:view'], 'ttl-org', short.app)
      const token = expectToken(await sdkLogin(client.clientId, client.clientSecret, short.app), 120)
      const claims = decodeJwt(token.access_token)
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(120)
      expect((await apiCall(`Bearer ${token.access_token}`, recordingsUrl('ttl'), short.app)).statusCode).toBe(404)
    } finally {
      await short.close()
    }
  })

  it('accepts a scope parameter and ignores it: the token carries the client permissions, no more', async () => {
    const client = await newClient(['recording:recording:view'])
    const token = expectToken(await tokenRequest(
      { grant_type: 'client_credentials', scope: 'recording:recording:delete recording:recording:add' },
      { authorization: basic(client.clientId, client.clientSecret) },
    ))
    expect(decodeJwt(token.access_token).permissions).toEqual(['recording:recording:view'])
    const res = await ctx.app.inject({ method: 'DELETE', url: `${recordingsUrl('scope')}/${randomUUID()}`, headers: { authorization: `Bearer ${token.access_token}` } })
    expect(expectErrorBody(res, 403).code).toBe('missing.permissions')
  })

  it('takes a secret containing colons (Basic splits at the first one) and a lower-case scheme name', async () => {
    const client = await ctx.app.services.clients.create({
      organization: 'oauth-org', name: 'colons', permissions: ['recording:recording:view'], clientSecret: 'a:secret:with:colons-0123456789',
    })
    expectToken(await sdkLogin(client.clientId, client.clientSecret))
    const lower = basic(client.clientId, client.clientSecret).replace(/^Basic/, 'basic')
    expectToken(await tokenRequest({ grant_type: 'client_credentials' }, { authorization: lower }))
  })
})

describe('POST /oauth/token: errors (RFC 6749 §5.2)', () => {
  let client: CreatedClient
  beforeAll(async () => {
    client = await newClient(['recording:recording:view'])
  })

  it('answers 401 invalid_client to an unknown client and to a wrong secret alike, with a Basic challenge', async () => {
    const unknown = await sdkLogin(randomUUID(), client.clientSecret)
    const wrong = await sdkLogin(client.clientId, `${client.clientSecret}x`)
    const a = expectOAuthError(unknown, 401, 'invalid_client')
    const b = expectOAuthError(wrong, 401, 'invalid_client')
    expect(unknown.headers['www-authenticate']).toMatch(BASIC_CHALLENGE)
    expect(wrong.headers['www-authenticate']).toMatch(BASIC_CHALLENGE)
    // Nothing tells an unknown id from a known one.
    expect(a.error_description).toBe(b.error_description)
    expect(a.error_description).not.toContain(client.clientId)
  })

  it('answers 401 invalid_client to a wrong secret in form fields', async () => {
    const res = await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: 'not-the-secret' })
    expectOAuthError(res, 401, 'invalid_client')
  })

  it('answers 401 invalid_client to a revoked client; tokens issued before stay valid until they expire', async () => {
    const revoked = await newClient(['recording:recording:view'])
    const before = expectToken(await sdkLogin(revoked.clientId, revoked.clientSecret)).access_token
    await ctx.app.services.clients.revoke(revoked.clientId)
    const basicRes = await sdkLogin(revoked.clientId, revoked.clientSecret)
    expectOAuthError(basicRes, 401, 'invalid_client')
    expect(basicRes.headers['www-authenticate']).toMatch(BASIC_CHALLENGE)
    expectOAuthError(await tokenRequest({ grant_type: 'client_credentials', client_id: revoked.clientId, client_secret: revoked.clientSecret }), 401, 'invalid_client')
    // Documented: checking a token needs no database, so revocation only stops new tokens.
    expect((await apiCall(`Bearer ${before}`)).statusCode).toBe(404)
  })

  it.each([
    ['no credentials at all', {}, {}],
    ['only client_id', { client_id: 'x' }, {}],
    ['only client_secret', { client_secret: 'x' }, {}],
    ['a Bearer header instead of client authentication', {}, { authorization: 'Bearer abc' }],
  ])('answers 401 invalid_client with a Basic challenge to %s', async (_case, form: Record<string, string>, headers: Record<string, string>) => {
    const res = await tokenRequest({ grant_type: 'client_credentials', ...form }, headers)
    expectOAuthError(res, 401, 'invalid_client')
    expect(res.headers['www-authenticate']).toMatch(BASIC_CHALLENGE)
  })

  it('answers 400 unsupported_grant_type to another grant, even with good credentials', async () => {
    for (const grant of ['password', 'authorization_code', 'refresh_token', 'CLIENT_CREDENTIALS']) {
      const res = await tokenRequest({ grant_type: grant, username: 'u', password: 'p' }, { authorization: basic(client.clientId, client.clientSecret) })
      expect(expectOAuthError(res, 400, 'unsupported_grant_type').error_description).toContain('client_credentials')
    }
  })

  it('answers 400 invalid_request when grant_type is missing, even with good credentials', async () => {
    const viaBasic = await tokenRequest({}, { authorization: basic(client.clientId, client.clientSecret) })
    expect(expectOAuthError(viaBasic, 400, 'invalid_request').error_description).toMatch(/grant_type/)
    expectOAuthError(await tokenRequest({ client_id: client.clientId, client_secret: client.clientSecret }), 400, 'invalid_request')
    // No body and no content type at all.
    const bare = await ctx.app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: basic(client.clientId, client.clientSecret) } })
    expectOAuthError(bare, 400, 'invalid_request')
  })

  it('answers 400 invalid_request to Basic and form credentials together, even when both are right', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret },
      { authorization: basic(client.clientId, client.clientSecret) },
    )
    expect(expectOAuthError(res, 400, 'invalid_request').error_description).toMatch(/one way/)
  })

  it.each([
    ['no colon', `Basic ${Buffer.from('just-an-id').toString('base64')}`],
    ['nothing after the scheme', 'Basic '],
    ['text that is not base64 of id:secret', 'Basic !!!not-base64!!!'],
  ])('answers 400 invalid_request to malformed Basic credentials (%s)', async (_case, authorization) => {
    const res = await tokenRequest({ grant_type: 'client_credentials' }, { authorization })
    expect(expectOAuthError(res, 400, 'invalid_request').error_description).toMatch(/id:secret/)
  })

  // RFC 6749 §4.4.2: the token request is form-encoded. Any other body is a client error answered with the OAuth
  // body (invalid_request; 400, or 415 for the media type), never a token and never a 500.
  it.each<[string, string, (c: CreatedClient) => Record<string, string>, (c: CreatedClient) => string]>([
    ['a JSON body with HTTP Basic (the SDK login, JSON-encoded)', 'application/json', (c) => ({ authorization: basic(c.clientId, c.clientSecret) }), () => JSON.stringify({ grant_type: 'client_credentials' })],
    ['a JSON body carrying the credentials', 'application/json', () => ({}), (c) => JSON.stringify({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret })],
    ['a malformed JSON body', 'application/json', (c) => ({ authorization: basic(c.clientId, c.clientSecret) }), () => '{"grant_type":'],
    ['a JSON body with a __proto__ key', 'application/json', (c) => ({ authorization: basic(c.clientId, c.clientSecret) }), () => '{"grant_type":"client_credentials","__proto__":{"x":1}}'],
    ['a text/plain body', 'text/plain', (c) => ({ authorization: basic(c.clientId, c.clientSecret) }), () => 'grant_type=client_credentials'],
  ])('refuses %s with a 4xx OAuth error body', async (_case, contentType, headers, payload) => {
    const res = await ctx.app.inject({
      method: 'POST', url: '/oauth/token', headers: { 'content-type': contentType, ...headers(client) }, payload: payload(client),
    })
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400)
    expect(res.statusCode, res.body).toBeLessThan(500)
    expect([400, 415]).toContain(res.statusCode)
    expectOAuthError(res, res.statusCode, 'invalid_request')
  })

  it('answers 429 with Retry-After and the OAuth error body once a client id exceeds TOKEN_RATE_LIMIT_PER_MINUTE', async () => {
    const limited = await createTestContext({ TOKEN_RATE_LIMIT_PER_MINUTE: '2' })
    try {
      const guessed = randomUUID()
      for (let i = 0; i < 2; i++) expectOAuthError(await sdkLogin(guessed, `guess-${i}`, limited.app), 401, 'invalid_client')
      const res = await sdkLogin(guessed, 'guess-3', limited.app)
      // RFC 6749 names no error for this; any error code will do, with the ErrorBody members.
      expect(expectOAuthError(res, 429, expect.any(String)).message).toMatch(/rate limit/i)
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
    } finally {
      await limited.close()
    }
  })
})

describe('bearer tokens on the API', () => {
  const now = () => Math.floor(Date.now() / 1000)

  /** A token signed as the service signs them (same key, claims, header), with the given changes. */
  async function forge({
    claims = {},
    omit = [],
    header = {},
    key = KEY_BYTES,
  }: { claims?: Record<string, unknown>; omit?: string[]; header?: Record<string, unknown>; key?: Parameters<SignJWT['sign']>[0] } = {}) {
    const payload: Record<string, unknown> = {
      org: DEFAULT_ORGANIZATION_ID,
      client_id: 'forger',
      name: 'forger',
      permissions: [...ALL_PERMISSIONS],
      iss: ctx.config.TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      sub: 'forger',
      jti: randomBytes(12).toString('base64url'),
      iat: now(),
      exp: now() + 600,
      ...claims,
    }
    for (const name of omit) delete payload[name]
    const protectedHeader = { alg: 'HS256', typ: 'at+jwt', ...header } as { alg: string }
    return new SignJWT(payload).setProtectedHeader(protectedHeader).sign(key)
  }

  /** Replaces the payload (middle segment) of a token, keeping its header and signature. */
  function tamper(token: string, change: (claims: Record<string, unknown>) => void) {
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>
    change(claims)
    return [header, base64url.encode(JSON.stringify(claims)), signature].join('.')
  }

  const unsigned = (header: object, claims: object) =>
    `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}.`

  let conversationId: string
  let recordingId: string
  beforeAll(async () => {
    conversationId = randomUUID()
    const res = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: chatRecording })
    recordingId = res.json<{ id: string }>().id
  })

  it('lets a well-formed token through (the control for every refusal below)', async () => {
    for (const token of [await forge(), await ctx.token(['recording:recording:view'])]) {
      const res = await apiCall(`Bearer ${token}`, recordingsUrl(conversationId))
      expect(res.statusCode, res.body).toBe(200)
      expect(res.body).toContain(recordingId)
    }
  })

  it('answers 401 authentication.required with a bare Bearer challenge when there is no Authorization header', async () => {
    const res = await apiCall(undefined, recordingsUrl(conversationId))
    const body = expectErrorBody(res, 401)
    expect(body.code).toBe('authentication.required')
    expect(res.headers['www-authenticate']).toBe('Bearer realm="recording-store"')
    expect(res.body).not.toContain(recordingId)
  })

  it.each([
    ['the Basic scheme, even with a valid client id and secret', async () => {
      const client = await newClient()
      return basic(client.clientId, client.clientSecret)
    }],
    ['"Bearer" without a token', async () => 'Bearer'],
    ['"Bearer " with an empty token', async () => 'Bearer '],
    ['a valid token under another scheme', async () => `Token ${await forge()}`],
    ['a valid token followed by more text', async () => `Bearer ${await forge()} extra`],
  ])('answers 401 with a Bearer challenge to %s', async (_case, header) => {
    const res = await apiCall(await header(), recordingsUrl(conversationId))
    expect(expectErrorBody(res, 401).code).toBe('bad.credentials')
    expect(res.headers['www-authenticate']).toMatch(BEARER_CHALLENGE)
    expect(res.body).not.toContain(recordingId)
  })

  const anotherInstance = async (env: Record<string, string>) => {
    const other = await createTestContext(env)
    try {
      return await other.token()
    } finally {
      await other.close()
    }
  }

  it.each<[string, () => Promise<string>, RegExp]>([
    ['garbage', async () => 'not-a-jwt', /malformed/],
    ['three segments of garbage', async () => 'abc.def.ghi', /malformed/],
    ['a token signed with another key', async () => forge({ key: randomBytes(32) }), /signature/],
    ['a token of another instance (its own generated key)', () => anotherInstance({}), /signature/],
    ['a token of another instance with the same key but another TOKEN_ISSUER', () => anotherInstance({ TOKEN_SIGNING_KEY: SIGNING_KEY, TOKEN_ISSUER: 'other-store' }), /iss claim/],
    ['a token with its permissions changed after signing', async () => tamper(await ctx.token(['recording:annotation:view']), (c) => { c.permissions = [...ALL_PERMISSIONS] }), /signature/],
    ['a token with its organization changed after signing', async () => tamper(await forge(), (c) => { c.org = randomUUID() }), /signature/],
    ['a token with its expiry extended after signing', async () => tamper(await forge({ claims: { exp: now() - 60 } }), (c) => { c.exp = now() + 3600 }), /signature/],
    ['an unsigned token (alg none)', async () => unsigned({ alg: 'none', typ: 'at+jwt' }, decodeJwt(await forge())), /malformed|not issued/],
    ['an alg none header over a valid signature', async () => {
      const [, payload, signature] = (await forge()).split('.')
      return `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${payload}.${signature}`
    }, /malformed|not issued/],
    ['an HS512 token signed with the service key', async () => forge({ header: { alg: 'HS512' } }), /malformed|not issued/],
    ['an RS256 token', async () => forge({ header: { alg: 'RS256' }, key: (await generateKeyPair('RS256')).privateKey }), /malformed|not issued/],
    ['an expired token', async () => forge({ claims: { iat: now() - 7200, exp: now() - 3600 } }), /expired/],
    ['a token not valid yet (nbf)', async () => forge({ claims: { nbf: now() + 3600 } }), /nbf claim/],
    ['a token of another issuer', async () => forge({ claims: { iss: 'https://login.mypurecloud.com' } }), /iss claim/],
    ['a token for another audience', async () => forge({ claims: { aud: 'another-api' } }), /aud claim/],
    ['a token of type JWT (an ID token, say)', async () => forge({ header: { typ: 'JWT' } }), /typ claim/],
    ['a token without a type', async () => forge({ header: { typ: undefined } }), /typ claim/],
    ['a token without an org claim', async () => forge({ omit: ['org'] }), /org claim/],
    ['a token whose org is not a string', async () => forge({ claims: { org: 42 } }), /organization/],
    ['a token without permissions', async () => forge({ omit: ['permissions'] }), /permissions/],
    ['a token without a subject', async () => forge({ omit: ['sub'] }), /sub claim/],
    ['a token without an expiry', async () => forge({ omit: ['exp'] }), /exp claim/],
    ['a token without iat', async () => forge({ omit: ['iat'] }), /iat claim/],
  ])('answers 401 invalid_token to %s', async (_case, makeToken, reason) => {
    const res = await apiCall(`Bearer ${await makeToken()}`, recordingsUrl(conversationId))
    const body = expectErrorBody(res, 401)
    expect(body.code).toBe('bad.credentials')
    expect(body.message).toMatch(/^Invalid access token: /)
    expect(body.message).toMatch(reason)
    expect(res.headers['www-authenticate']).toMatch(BEARER_CHALLENGE)
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/)
    expect(res.body).not.toContain(recordingId)
  })

  it('checks tokens on every method and on the routes below the recordings (HEAD included)', async () => {
    const bad = `Bearer ${await forge({ claims: { exp: now() - 10 } })}`
    const url = `${recordingsUrl(conversationId)}/${recordingId}`
    for (const [method, path] of [
      ['GET', url], ['HEAD', url], ['PUT', url], ['DELETE', url], ['POST', recordingsUrl(conversationId)],
      ['GET', `${url}/annotations`], ['POST', `${url}/annotations`], ['DELETE', `${url}/annotations/${randomUUID()}`],
      ['GET', `/api/v2/conversations/${conversationId}/recordingmetadata/${recordingId}`],
    ] as const) {
      const res = await ctx.app.inject({ method, url: path, headers: { authorization: bad, 'content-type': 'application/json' }, payload: method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : {} })
      expect(res.statusCode, `${method} ${path}`).toBe(401)
      expect(res.headers['www-authenticate'], `${method} ${path}`).toMatch(/error="invalid_token"/)
    }
    expect((await ctx.inject({ method: 'GET', url })).statusCode).toBe(200) // still there
  })

  it('decides without the database: an app whose database is unreachable still answers 401 (and 403) at once', async () => {
    const app = await buildApp({
      config: { ...ctx.config, TOKEN_SIGNING_KEY: SIGNING_KEY },
      databaseUrl: 'postgresql://nobody@127.0.0.1:1/none',
      migrations: await shippedMigrations(),
    })
    try {
      // Control: this app really has no database.
      expect(expectErrorBody(await app.inject({ method: 'GET', url: '/health/ready' }), 503).message).toMatch(/database is not reachable/)
      const started = performance.now()
      const none = await apiCall(undefined, recordingsUrl('x'), app)
      expect(expectErrorBody(none, 401).code).toBe('authentication.required')
      for (const token of ['garbage', await forge({ key: randomBytes(32) }), await forge({ claims: { exp: now() - 5 } }), unsigned({ alg: 'none', typ: 'at+jwt' }, decodeJwt(await forge()))]) {
        const res = await apiCall(`Bearer ${token}`, recordingsUrl('x'), app)
        expect(expectErrorBody(res, 401).code).toBe('bad.credentials')
        expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/)
      }
      // A valid token lacking the permission is refused from the token alone too.
      const forbidden = await apiCall(`Bearer ${await forge({ claims: { permissions: ['recording:annotation:delete'] } })}`, recordingsUrl('x'), app)
      expect(expectErrorBody(forbidden, 403).code).toBe('missing.permissions')
      expect(performance.now() - started).toBeLessThan(2_000)
    } finally {
      await app.close()
    }
  })
})

describe('public routes', () => {
  it.each([
    ['/health/live', /^application\/json/],
    ['/health/ready', /^application\/json/],
    ['/openapi.json', /^application\/json/],
    ['/docs/', /^text\/html/],
  ])('%s answers without a token, and ignores a bad one', async (url, contentType) => {
    for (const headers of [{}, { authorization: 'Bearer garbage' }, { authorization: 'Basic Zm9vOmJhcg==' }]) {
      const res = await ctx.app.inject({ method: 'GET', url, headers })
      expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(200)
      expect(res.headers['content-type']).toMatch(contentType)
      expect(res.headers['www-authenticate']).toBeUndefined()
    }
  })

  it('documents the token endpoint as public and every /api/v2 operation as needing the OAuth scheme', async () => {
    const { paths } = (await ctx.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { security?: unknown[] }>> }>()
    expect(paths['/oauth/token']?.post?.security).toBeUndefined()
    const api = Object.entries(paths).filter(([path]) => path.startsWith('/api/v2/'))
    expect(api.length).toBeGreaterThan(0)
    for (const [path, operations] of api) {
      for (const [method, operation] of Object.entries(operations)) expect(operation.security?.length, `${method} ${path}`).toBeGreaterThan(0)
    }
  })
})
