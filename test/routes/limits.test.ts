import { randomUUID } from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Permission } from '../../src/auth/permissions.js'
import type { Recording } from '../../src/schemas/recording.js'
import { audioRecording } from '../fixtures.js'
import { wav } from '../media.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type TestContext } from '../helpers.js'

const BODY_LIMIT = 512_000
const VIEW: Permission[] = ['recording:recording:view']
const VIEW_AND_ANNOTATIONS: Permission[] = ['recording:recording:view', 'recording:annotation:view']

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const basic = (clientId: string, clientSecret: string) => `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`

/** Helmet's headers with the API's own policy: nothing may be loaded from, or frame, an API answer. */
function expectApiSecurityHeaders(res: LightMyRequestResponse) {
  const headers = res.headers
  expect(headers['x-content-type-options']).toBe('nosniff')
  const csp = String(headers['content-security-policy'])
  expect(csp).toMatch(/(^|;)\s*default-src 'none'\s*(;|$)/)
  expect(csp).toMatch(/(^|;)\s*frame-ancestors 'none'\s*(;|$)/)
  expect(headers['x-frame-options']).toMatch(/^(DENY|SAMEORIGIN)$/)
  expect(headers['strict-transport-security']).toMatch(/max-age=[1-9]\d*/)
  expect(headers['referrer-policy']).toBe('no-referrer')
  expect(headers).not.toHaveProperty('x-powered-by')
}

/** Retry-After in delta-seconds (RFC 9110 §10.2.3), within the one-minute window. */
function expectRetryAfter(res: LightMyRequestResponse) {
  const value = String(res.headers['retry-after'])
  expect(value).toMatch(/^[1-9]\d*$/)
  expect(Number(value)).toBeLessThanOrEqual(60)
}

/** Fastify keeps `requestTimeout` in initialConfig, though its type does not list it. */
const requestTimeoutOf = (ctx: TestContext) => (ctx.app.initialConfig as { requestTimeout?: number }).requestTimeout

/** A chat ingest whose JSON text is exactly `bytes` bytes long (ASCII only). */
function chatBodyOfSize(bytes: number): string {
  const messages = 6 // each body stays under the 100,000-character cap of a chat message
  const skeleton = JSON.stringify({ media: 'chat', transcript: Array.from({ length: messages }, () => ({ body: '' })) })
  const fill = bytes - skeleton.length
  const each = Math.floor(fill / messages)
  const text = JSON.stringify({
    media: 'chat',
    transcript: Array.from({ length: messages }, (_, i) => ({ body: 'a'.repeat(each + (i === 0 ? fill - each * messages : 0)) })),
  })
  expect(Buffer.byteLength(text)).toBe(bytes)
  return text
}

describe('rate limits (RATE_LIMIT_PER_MINUTE=5, TOKEN_RATE_LIMIT_PER_MINUTE=3)', () => {
  let ctx: TestContext
  let url: string
  beforeAll(async () => {
    ctx = await createTestContext({ RATE_LIMIT_PER_MINUTE: '5', TOKEN_RATE_LIMIT_PER_MINUTE: '3', REQUEST_TIMEOUT_MS: '4321' })
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, audioRecording)
    url = `${recordingsUrl(conversationId)}/${recording.id}`
  })
  afterAll(async () => {
    await ctx.close()
  })

  it('answers the 6th API request of a client within a minute with 429, an ErrorBody and Retry-After; other clients go on', async () => {
    const first = await ctx.token(VIEW)
    const second = await ctx.token(VIEW_AND_ANNOTATIONS)
    for (let i = 1; i <= 5; i++) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: bearer(first) })
      expect(res.statusCode, `request ${i}: ${res.body}`).toBe(200)
      expect(res.headers['x-ratelimit-limit']).toBe('5')
      expect(res.headers['x-ratelimit-remaining']).toBe(String(5 - i))
    }

    const limited = await ctx.app.inject({ method: 'GET', url, headers: bearer(first) })
    const body = expectErrorBody(limited, 429)
    expect(body.code).toBe('too.many.requests')
    expect(body.message).toMatch(/rate limit/i)
    expectRetryAfter(limited)
    // A 429 is still an API answer: same security headers, never cached.
    expectApiSecurityHeaders(limited)
    expect(limited.headers['cache-control']).toBe('no-store')

    // The budget is the client's, across routes: another route of the same client is limited too.
    const otherRoute = await ctx.app.inject({ method: 'GET', url: `${url}/annotations`, headers: bearer(first) })
    expect(expectErrorBody(otherRoute, 429).code).toBe('too.many.requests')

    // Another client of the same address is not affected.
    for (let i = 0; i < 5; i++) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: bearer(second) })
      expect(res.statusCode, res.body).toBe(200)
    }
    // Nor is the client that ingested the recording (one request so far).
    expect((await ctx.inject({ method: 'GET', url })).statusCode).toBe(200)
  })

  it('never limits the public health routes, with or without a (limited) token', async () => {
    const limited = await ctx.token(['recording:annotation:view', 'recording:annotation:add', 'recording:annotation:edit'])
    for (let i = 0; i < 6; i++) await ctx.app.inject({ method: 'GET', url: `${url}/annotations`, headers: bearer(limited) })
    expect((await ctx.app.inject({ method: 'GET', url: `${url}/annotations`, headers: bearer(limited) })).statusCode).toBe(429)

    for (let i = 0; i < 20; i++) {
      const anonymous = await ctx.app.inject({ method: 'GET', url: '/health/live' })
      expect(anonymous.statusCode).toBe(200)
      expect(anonymous.headers).not.toHaveProperty('x-ratelimit-remaining')
      const withToken = await ctx.app.inject({ method: 'GET', url: '/health/live', headers: bearer(limited) })
      expect(withToken.statusCode).toBe(200)
    }
  })

  it('never limits the API documentation (Swagger UI and its assets), which is public', async () => {
    for (let i = 0; i < 8; i++) {
      for (const path of ['/docs/', '/docs/static/swagger-initializer.js']) {
        const res = await ctx.app.inject({ method: 'GET', url: path })
        expect(res.statusCode, `${path} #${i + 1}: ${res.body.slice(0, 200)}`).toBe(200)
      }
    }
  })

  it('limits token requests per client id and address: the 4th within a minute is refused, other clients and addresses still get tokens', async () => {
    const limited = await ctx.app.services.clients.create({ organization: 'limits', name: 'limited', permissions: VIEW })
    const other = await ctx.app.services.clients.create({ organization: 'limits', name: 'other', permissions: VIEW })
    const tokenRequest = (clientId: string, clientSecret: string, remoteAddress = '127.0.0.1') =>
      ctx.app.inject({
        method: 'POST',
        url: '/oauth/token',
        remoteAddress,
        headers: { authorization: basic(clientId, clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      })

    expect((await tokenRequest(limited.clientId, limited.clientSecret)).statusCode).toBe(200)
    // A wrong secret counts too: guessing is what the limit slows.
    expect((await tokenRequest(limited.clientId, 'wrong-secret-wrong-secret')).statusCode).toBe(401)
    expect((await tokenRequest(limited.clientId, limited.clientSecret)).statusCode).toBe(200)

    const refused = await tokenRequest(limited.clientId, limited.clientSecret)
    expect(refused.statusCode, refused.body).toBe(429)
    expectRetryAfter(refused)
    expect(refused.json()).toMatchObject({ status: 429, code: 'too.many.requests' })
    expect(refused.body).not.toContain('access_token')

    const otherClient = await tokenRequest(other.clientId, other.clientSecret)
    expect(otherClient.statusCode, otherClient.body).toBe(200)
    expect(otherClient.json()).toMatchObject({ access_token: expect.any(String), token_type: 'bearer' })
    const otherAddress = await tokenRequest(limited.clientId, limited.clientSecret, '10.1.2.3')
    expect(otherAddress.statusCode, otherAddress.body).toBe(200)
  })

  it('configures the request timeout from REQUEST_TIMEOUT_MS: headers within it; the whole request is bounded per route, not by the server', () => {
    expect(ctx.config.REQUEST_TIMEOUT_MS).toBe(4321)
    expect(ctx.app.server.headersTimeout).toBe(4321)
    // Node's server-wide limit would cut media uploads that take hours; the request-timeouts plugin applies it.
    expect(requestTimeoutOf(ctx)).toBe(0)
    expect(ctx.app.server.requestTimeout).toBe(0)
  })
})

describe('REQUEST_TIMEOUT_MS over real connections (1000 ms)', () => {
  let ctx: TestContext
  let port: number
  let token: string
  beforeAll(async () => {
    ctx = await createTestContext({ REQUEST_TIMEOUT_MS: '1000' })
    await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    port = (ctx.app.server.address() as AddressInfo).port
    token = await ctx.token()
  })
  afterAll(async () => {
    await ctx.close()
  })

  /**
   * Sends the head and then the body pieces, each after its pause, and answers what came back once the server closed
   * the connection (or a second after the last piece).
   */
  async function exchange(head: string, pieces: { after: number; bytes: Buffer }[]): Promise<{ status: number; text: string; ms: number }> {
    const socket = connect(port, '127.0.0.1')
    const started = Date.now()
    let received = ''
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1')
    })
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    socket.on('error', () => {})
    socket.write(head)
    for (const piece of pieces) {
      await new Promise((resolve) => setTimeout(resolve, piece.after))
      if (socket.destroyed) break
      socket.write(piece.bytes)
    }
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))])
    socket.destroy()
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]), text: received, ms: Date.now() - started }
  }

  const head = (method: string, url: string, type: string, length: number) =>
    `${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`

  it('answers 408 with the error body when a JSON body stops arriving, and stores nothing', async () => {
    const before = await rowCounts(ctx.sql)
    const body = Buffer.from(JSON.stringify({ media: 'audio', name: 'x'.repeat(100) }))
    const res = await exchange(head('POST', recordingsUrl(randomUUID()), 'application/json', body.length), [{ after: 0, bytes: body.subarray(0, 20) }])
    expect(res.status, res.text).toBe(408)
    expect(res.text).toMatch(/"code":"request\.timeout"|"status":408/)
    expect(res.ms).toBeLessThan(4000)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('answers 408 when a chunked JSON body (no Content-Length) stops arriving, and stores nothing', async () => {
    const before = await rowCounts(ctx.sql)
    const head = `POST ${recordingsUrl(randomUUID())} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    const res = await exchange(head, [{ after: 0, bytes: Buffer.from('14\r\n{"media":"audio","na') }])
    expect(res.status, res.text).toBe(408)
    expect(res.ms).toBeLessThan(4000)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('lets a media upload take longer than the limit while its bytes keep coming (the limit bounds each pause)', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { name: 'slow', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const media = wav(0.5)
    const pieces = Array.from({ length: 6 }, (_, i) => ({ after: 400, bytes: media.subarray(Math.floor((i * media.length) / 6), Math.floor(((i + 1) * media.length) / 6)) }))
    const res = await exchange(head('PUT', `${recordingsUrl(conversationId)}/${recording.id}/media`, 'audio/wav', media.length), pieces)
    expect(res.status, res.text).toBe(200)
    expect(res.ms).toBeGreaterThan(2000)
    expect(res.text).toContain('"fileState":"AVAILABLE"')
  })

  it('answers 408 when an upload pauses longer than the limit, keeps nothing and leaves the recording UPLOADING', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { name: 'stalled', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const media = wav(0.5)
    const res = await exchange(head('PUT', `${recordingsUrl(conversationId)}/${recording.id}/media`, 'audio/wav', media.length), [{ after: 0, bytes: media.subarray(0, 1000) }])
    expect(res.status, res.text).toBe(408)
    expect(res.ms).toBeLessThan(4000)
    const got = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${recording.id}` })
    expect(got.statusCode).toBe(202)
    expect(got.json().fileState).toBe('UPLOADING')
    const { rows } = await ctx.sql.query('SELECT 1 FROM stored_media WHERE recording_id = $1', [recording.id])
    expect(rows).toHaveLength(0)
  })
})

describe('with default settings', () => {
  let ctx: TestContext
  beforeAll(async () => {
    ctx = await createTestContext()
  })
  afterAll(async () => {
    await ctx.close()
  })

  const postRaw = (conversationId: string, payload: string | Readable, headers: Record<string, string> = {}) =>
    ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload, headers: { 'content-type': 'application/json', ...headers } })

  describe('request timeout', () => {
    it('is on by default (30 s): the headers must arrive within it, and each route bounds its body by it', () => {
      expect(ctx.config.REQUEST_TIMEOUT_MS).toBe(30_000)
      expect(ctx.app.server.headersTimeout).toBe(ctx.config.REQUEST_TIMEOUT_MS)
      expect(ctx.app.hasPlugin('request-timeouts')).toBe(true)
    })
  })

  describe('body size', () => {
    it('answers 413 for 512,001 bytes that are not JSON: the size is refused before the body is parsed', async () => {
      const before = await rowCounts(ctx.sql)
      const payload = `{${'x'.repeat(BODY_LIMIT)}` // malformed JSON: parsed, it would be a 400
      expect(Buffer.byteLength(payload)).toBe(BODY_LIMIT + 1)
      const body = expectErrorBody(await postRaw(randomUUID(), payload), 413)
      expect(body.code).toBe('request.entity.too.large')
      expect(await rowCounts(ctx.sql)).toEqual(before)
      // The same text under the limit is read and refused as bad JSON: the 413 above is the size, not the syntax.
      expect(expectErrorBody(await postRaw(randomUUID(), `{${'x'.repeat(1000)}`), 400).message).toMatch(/JSON/)
    })

    it('answers 413 from the Content-Length alone, however little is sent', async () => {
      const res = await postRaw(randomUUID(), '{', { 'content-length': String(BODY_LIMIT + 1) })
      expect(expectErrorBody(res, 413).code).toBe('request.entity.too.large')
    })

    it('answers 413 for a body without Content-Length that grows past the limit', async () => {
      const chunk = Buffer.alloc(64_000, 'x')
      const stream = Readable.from(Array.from({ length: 9 }, () => chunk)) // 576,000 bytes, not JSON
      const res = await postRaw(randomUUID(), stream)
      expect(expectErrorBody(res, 413).code).toBe('request.entity.too.large')
    })

    it('accepts exactly 512,000 bytes of valid JSON, and refuses one byte more', async () => {
      const conversationId = randomUUID()
      const atLimit = await postRaw(conversationId, chatBodyOfSize(BODY_LIMIT))
      expect(atLimit.statusCode, atLimit.body.slice(0, 300)).toBe(201)
      expect(atLimit.json<Recording>().transcript).toHaveLength(6)

      const over = await postRaw(randomUUID(), chatBodyOfSize(BODY_LIMIT + 1))
      expect(expectErrorBody(over, 413).code).toBe('request.entity.too.large')
    })
  })

  describe('caps on the children of one ingest', () => {
    const many = <T>(n: number, item: T) => Array.from({ length: n }, () => item)

    it('accepts every list at its cap', async () => {
      const before = await rowCounts(ctx.sql)
      const body = {
        annotations: many(1_000, {}),
        transcript: many(10_000, {}),
        emailTranscript: many(1_000, {}),
        messagingTranscript: many(10_000, {}),
        users: many(100, {}),
        associatedConversationIds: many(100, 'c'),
        mediaUris: { S: { waveformData: many(100_000, 0) } },
      }
      expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(BODY_LIMIT)
      const res = await postRaw(randomUUID(), JSON.stringify(body))
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201)
      const after = await rowCounts(ctx.sql)
      const added = Object.fromEntries(Object.entries(after).map(([table, n]) => [table, n - (before[table] ?? 0)]))
      expect(added).toMatchObject({ recordings: 1, annotations: 1_000, chat_messages: 10_000, email_messages: 1_000, messaging_messages: 10_000, recording_users: 100, media_results: 1 })
      expect(res.json<Recording>().associatedConversationIds).toHaveLength(100)
      expect(res.json<Recording>().mediaUris?.S?.waveformData).toHaveLength(100_000)
    }, 60_000)

    it.each([
      ['annotations', { annotations: many(1_001, {}) }, 1_000],
      ['transcript', { transcript: many(10_001, {}) }, 10_000],
      ['emailTranscript', { emailTranscript: many(1_001, {}) }, 1_000],
      ['messagingTranscript', { messagingTranscript: many(10_001, {}) }, 10_000],
      ['users', { users: many(101, {}) }, 100],
      ['associatedConversationIds', { associatedConversationIds: many(101, 'c') }, 100],
      ['mediaUris.S.waveformData', { mediaUris: { S: { waveformData: many(100_001, 0) } } }, 100_000],
    ])('answers 400 naming %s when it has more items than its cap, storing nothing', async (field, body, cap) => {
      const text = JSON.stringify(body)
      expect(Buffer.byteLength(text)).toBeLessThan(BODY_LIMIT) // refused for the count, not the size
      const before = await rowCounts(ctx.sql)
      const error = expectErrorBody(await postRaw(randomUUID(), text), 400)
      expect(error.code).toBe('bad.request')
      expect(error.message).toContain(`${field} must NOT have more than ${cap} items`)
      expect(error.details).toEqual([expect.objectContaining({ fieldName: field, in: 'body', errorCode: 'invalid.maxItems' })])
      expect(await rowCounts(ctx.sql)).toEqual(before)
    })
  })

  describe('security headers', () => {
    let url: string
    beforeAll(async () => {
      const conversationId = randomUUID()
      const recording = await ingest(ctx, conversationId, audioRecording)
      url = `${recordingsUrl(conversationId)}/${recording.id}`
    })

    it('are on API answers, successful and not, and no API answer may be cached', async () => {
      const viewOnly = await ctx.token(VIEW)
      const answers: [string, LightMyRequestResponse, number][] = [
        ['200 GET', await ctx.inject({ method: 'GET', url }), 200],
        ['201 ingest', await ctx.inject({ method: 'POST', url: recordingsUrl(randomUUID()), payload: { media: 'chat' } }), 201],
        ['400 validation', await ctx.inject({ method: 'POST', url: recordingsUrl(randomUUID()), payload: { bogus: 1 } }), 400],
        ['401 no token', await ctx.app.inject({ method: 'GET', url }), 401],
        ['403 permission', await ctx.app.inject({ method: 'DELETE', url, headers: bearer(viewOnly) }), 403],
        ['404 unknown recording', await ctx.inject({ method: 'GET', url: `${recordingsUrl(randomUUID())}/${randomUUID()}` }), 404],
        ['413 too large', await postRaw(randomUUID(), 'x'.repeat(BODY_LIMIT + 1)), 413],
      ]
      for (const [label, res, status] of answers) {
        expect(res.statusCode, `${label}: ${res.body.slice(0, 200)}`).toBe(status)
        expectApiSecurityHeaders(res)
        expect(res.headers['cache-control'], label).toBe('no-store')
      }
    })

    it('are on /oauth/token answers, which are never cached', async () => {
      const client = await ctx.app.services.clients.create({ organization: 'headers', name: 'headers', permissions: VIEW })
      const post = (authorization: string) =>
        ctx.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          payload: 'grant_type=client_credentials',
        })
      const issued = await post(basic(client.clientId, client.clientSecret))
      expect(issued.statusCode, issued.body).toBe(200)
      const refused = await post(basic(client.clientId, 'not-the-secret'))
      expect(refused.statusCode).toBe(401)
      for (const res of [issued, refused]) {
        expectApiSecurityHeaders(res)
        expect(res.headers['cache-control']).toBe('no-store')
      }
    })

    it('let Swagger UI at /docs/ load its own scripts and styles, and nothing else', async () => {
      const page = await ctx.app.inject({ method: 'GET', url: '/docs/' })
      expect(page.statusCode).toBe(200)
      expect(page.headers['content-type']).toMatch(/^text\/html/)
      expect(page.headers['x-content-type-options']).toBe('nosniff')
      expect(page.headers).not.toHaveProperty('x-powered-by')

      const csp = String(page.headers['content-security-policy'])
      const directives = new Map(
        csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
          const [name = '', ...sources] = d.split(/\s+/)
          return [name, sources] as const
        }),
      )
      expect(directives.get('default-src')).toEqual(["'self'"]) // not 'none': the page fetches ./json and its assets
      expect(directives.get('script-src')).toContain("'self'")
      expect(directives.get('style-src')).toContain("'self'")
      expect(directives.get('object-src')).toEqual(["'none'"])

      // Every asset the page references is served; inline scripts would need a hash in script-src.
      const html = page.body
      const assets = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => new URL(m[1] as string, 'http://x/docs/').pathname)
      expect(assets).toContain('/docs/static/swagger-ui-bundle.js')
      expect(assets).toContain('/docs/static/swagger-ui.css')
      for (const asset of assets) {
        const res = await ctx.app.inject({ method: 'GET', url: asset })
        expect(res.statusCode, asset).toBe(200)
      }
      const inlineScripts = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].filter((m) => (m[1] ?? '').trim() !== '')
      expect(inlineScripts).toEqual([])

      const bundle = await ctx.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
      expect(bundle.statusCode).toBe(200)
      expect(bundle.headers['content-type']).toMatch(/javascript/)
      expect(String(bundle.headers['content-security-policy'])).not.toMatch(/(^|;)\s*default-src 'none'/)
      // The document the UI loads (same origin, allowed by default-src 'self').
      const spec = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
      expect(spec.statusCode).toBe(200)
      expect(spec.json()).toHaveProperty('openapi')
    })
  })

  describe('CORS, off without CORS_ORIGINS', () => {
    it('grants no origin on a preflight or on a request', async () => {
      const preflight = await ctx.app.inject({
        method: 'OPTIONS',
        url: recordingsUrl(randomUUID()),
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      })
      expect(preflight.headers).not.toHaveProperty('access-control-allow-origin')
      expect(preflight.headers).not.toHaveProperty('access-control-allow-headers')
      const request = await ctx.inject({ method: 'GET', url: recordingsUrl(randomUUID()), headers: { origin: 'https://app.example' } })
      expect(request.headers).not.toHaveProperty('access-control-allow-origin')
    })
  })
})

describe('CORS with CORS_ORIGINS=https://app.example', () => {
  let ctx: TestContext
  beforeAll(async () => {
    ctx = await createTestContext({ CORS_ORIGINS: 'https://app.example' })
  })
  afterAll(async () => {
    await ctx.close()
  })

  const preflight = (origin: string, method: string, headers: string, url = recordingsUrl(randomUUID())) =>
    ctx.app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
    })

  it('allows a GET with Authorization from that origin', async () => {
    const res = await preflight('https://app.example', 'GET', 'authorization')
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(String(res.headers['access-control-allow-methods'])).toMatch(/\bGET\b/)
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toMatch(/\bauthorization\b/)
    expect(String(res.headers.vary)).toMatch(/origin/i)

    const request = await ctx.inject({ method: 'GET', url: recordingsUrl(randomUUID()), headers: { origin: 'https://app.example' } })
    expect(request.statusCode).toBe(404)
    expect(request.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(String(request.headers['access-control-expose-headers'])).toMatch(/inin-correlation-id/i)
  })

  it('allows the API\'s other methods (PUT retention and annotations, DELETE) from that origin', async () => {
    for (const method of ['PUT', 'DELETE', 'POST']) {
      const res = await preflight('https://app.example', method, 'authorization,content-type')
      expect(res.headers['access-control-allow-origin'], method).toBe('https://app.example')
      expect(String(res.headers['access-control-allow-methods']).split(/\s*,\s*/), method).toContain(method)
    }
  })

  it('lets browser tus clients upload and scripts read media ranges: PATCH, the Tus and Upload headers, Range', async () => {
    for (const url of ['/api/v2/recordings/uploads', `/api/v2/recordings/uploads/${randomUUID()}`]) {
      for (const method of ['POST', 'PATCH', 'HEAD', 'DELETE']) {
        const res = await preflight('https://app.example', method, 'authorization,tus-resumable,upload-length,upload-offset,upload-metadata,content-type', url)
        expect(res.statusCode, `${method} ${url}`).toBe(204)
        expect(res.headers['access-control-allow-origin'], `${method} ${url}`).toBe('https://app.example')
        expect(String(res.headers['access-control-allow-methods']).split(/\s*,\s*/), method).toContain(method)
        expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('upload-offset')
      }
    }
    const request = await ctx.inject({ method: 'POST', url: '/api/v2/recordings/uploads', headers: { origin: 'https://app.example', 'tus-resumable': '1.0.0', 'upload-length': '10' } })
    expect(request.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(String(request.headers['access-control-expose-headers']).toLowerCase()).toMatch(/upload-offset.*tus-resumable|tus-resumable.*upload-offset/)
    const media = await preflight('https://app.example', 'GET', 'range', '/media/x/y/S.wav')
    expect(String(media.headers['access-control-allow-headers']).toLowerCase()).toContain('range')
  })

  it('grants nothing to another origin', async () => {
    const res = await preflight('https://evil.example', 'GET', 'authorization')
    expect(res.headers).not.toHaveProperty('access-control-allow-origin')
    const request = await ctx.inject({ method: 'GET', url: recordingsUrl(randomUUID()), headers: { origin: 'https://evil.example' } })
    expect(request.headers).not.toHaveProperty('access-control-allow-origin')
  })
})
