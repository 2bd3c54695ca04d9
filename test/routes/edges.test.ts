import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_JSON_DEPTH } from '../../src/plugins/content-parsers.js'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { audioRecording, messagingRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type Method, type TestContext } from '../helpers.js'

/** Edge cases found by black-box testing: each must answer 4xx with the error body and leave the store unchanged. */

const FORM = 'application/x-www-form-urlencoded'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const send = (method: Method | 'PATCH', url: string, payload?: string | object, contentType?: string) =>
  ctx.inject({ method, url, ...(payload === undefined ? {} : { payload }), ...(contentType ? { headers: { 'content-type': contentType } } : {}) })

/** An audio recording (with both retention dates) and its client annotation. */
async function arrange() {
  const conversationId = randomUUID()
  const recording = await ingest(ctx, conversationId, audioRecording)
  const url = `${recordingsUrl(conversationId)}/${recording.id ?? ''}`
  const note = recording.annotations?.find((annotation) => annotation.name === 'greeting')
  if (!note?.id) throw new Error('the fixture has a client annotation')
  return { conversationId, recording, url, noteUrl: `${url}/annotations/${note.id}`, note }
}

const read = async (url: string) => {
  const res = await ctx.inject({ method: 'GET', url })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Recording & Annotation>()
}

/** The ErrorBody of a 4xx, checked to name `field` in `part`. */
function expectRefused(res: LightMyRequestResponse, status: number, field: string, part: string) {
  const body = expectErrorBody(res, status)
  expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining({ fieldName: field, in: part })]))
  return body
}

describe('bodies that are not JSON', () => {
  it('a form-encoded PUT of a recording is refused with 415 and changes nothing', async () => {
    const { recording, url } = await arrange()
    const before = await rowCounts(ctx.sql)
    expectRefused(await send('PUT', url, 'archiveDate=&deleteDate=', FORM), 415, 'content-type', 'headers')
    const after = await read(url)
    expect(after).toEqual(recording)
    expect(after.archiveDate).toBe(audioRecording.archiveDate)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('a form-encoded annotation PUT is refused with 415 and leaves the annotation as it was', async () => {
    const { noteUrl, note } = await arrange()
    expectRefused(await send('PUT', noteUrl, 'name=', FORM), 415, 'content-type', 'headers')
    expect(await read(noteUrl)).toEqual(note)
  })

  it('a form-encoded annotation POST is refused with 415 and creates nothing', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    expectRefused(await send('POST', `${url}/annotations`, 'name=x', FORM), 415, 'content-type', 'headers')
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it.each([
    ['text/plain', 'text/plain'],
    ['multipart/form-data', 'multipart/form-data; boundary=x'],
    ['application/xml', 'application/xml'],
    ['a json look-alike', 'application/jsonx'],
  ])('a %s body is refused with 415 on every JSON route and changes nothing', async (_case, contentType) => {
    const { url, noteUrl } = await arrange()
    const before = { recording: await read(url), counts: await rowCounts(ctx.sql) }
    for (const [method, target] of [['POST', recordingsUrl(randomUUID())], ['PUT', url], ['POST', `${url}/annotations`], ['PUT', noteUrl]] as const) {
      expectRefused(await send(method, target, '{"name":"x"}', contentType), 415, 'content-type', 'headers')
    }
    expect(await read(url)).toEqual(before.recording)
    expect(await rowCounts(ctx.sql)).toEqual(before.counts)
  })

  it('a body without a Content-Type is refused with 415', async () => {
    const { url, recording } = await arrange()
    const res = await ctx.inject({ method: 'PUT', url, payload: Buffer.from('{}') })
    expect(expectRefused(res, 415, 'content-type', 'headers').message).toMatch(/Content-Type is required/)
    expect(await read(url)).toEqual(recording)
  })

  it.each(['application/merge-patch+json', 'application/vnd.foo+json; charset=utf-8', 'application/json; charset=utf-8'])(
    'a %s body is read as JSON',
    async (contentType) => {
      const { url } = await arrange()
      const res = await send('PUT', url, JSON.stringify({ archiveDate: '2034-01-01T00:00:00Z', deleteDate: null }), contentType)
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json<Recording>()).toMatchObject({ archiveDate: '2034-01-01T00:00:00.000Z' })
      expect(res.json()).not.toHaveProperty('deleteDate')
    },
  )

  it('the SDK’s empty application/json body still parses: DELETE works, and a PUT meets its schema, not a 415', async () => {
    const { url, noteUrl, recording } = await arrange()
    expectRefused(await send('PUT', url, '', 'application/json'), 400, 'body', 'body')
    expect(await read(url)).toEqual(recording)
    const removed = await send('DELETE', noteUrl, '', 'application/json')
    expect(removed.statusCode, removed.body).toBe(204)
    expect((await send('DELETE', url, '', 'application/json')).statusCode).toBe(204)
  })

  describe('/oauth/token keeps its form parser', () => {
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
    const token = (payload: string, headers: Record<string, string> = {}) =>
      ctx.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM, ...headers }, payload })

    it('issues tokens to HTTP Basic and to form credentials', async () => {
      const client = await ctx.app.services.clients.create({ organization: 'edges', name: 'edges', permissions: ['recording:recording:view'] })
      const viaBasic = await token('grant_type=client_credentials', { authorization: basic(client.clientId, client.clientSecret) })
      expect(viaBasic.statusCode, viaBasic.body).toBe(200)
      const viaForm = await token(new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }).toString())
      expect(viaForm.statusCode, viaForm.body).toBe(200)
      expect(viaForm.json()).toMatchObject({ token_type: 'bearer', access_token: expect.any(String) })
    })

    it('answers a JSON body with its OAuth error, not a token', async () => {
      const res = await token('{"grant_type":"client_credentials"}', { 'content-type': 'application/json' })
      expect(res.statusCode).toBe(400)
      expect(res.json()).toMatchObject({ error: 'invalid_request', status: 400, code: 'bad.request', contextId: expect.any(String) })
    })
  })
})

describe('input that reached PostgreSQL or Date unchecked', () => {
  describe('NUL characters outside JSON bodies', () => {
    it('a NUL in a path segment is refused with 400 naming it', async () => {
      const before = await rowCounts(ctx.sql)
      expectRefused(await send('GET', '/api/v2/conversations/%00/recordings'), 400, 'conversationId', 'params')
      expectRefused(await send('POST', '/api/v2/conversations/a%00b/recordings', audioRecording), 400, 'conversationId', 'params')
      const { url } = await arrange()
      expectRefused(await send('PUT', `${url}/annotations/x%00`, { name: 'x' }), 400, 'annotationId', 'params')
      expect((await rowCounts(ctx.sql)).recordings).toBe((before.recordings ?? 0) + 1)
    })

    it.each([
      ['q', '?q=a%00b'],
      ['userId', '?userId=a%00b'],
      ['conversationId', '?conversationId=%00'],
    ])('a NUL in the %s query value is refused with 400 naming it', async (field, query) => {
      expectRefused(await send('GET', `/api/v2/recordings${query}`), 400, field, 'querystring')
    })

    it('a NUL in a form field of /oauth/token is refused with 400 invalid_request, OAuth members and the error body', async () => {
      const before = await rowCounts(ctx.sql)
      const res = await ctx.app.inject({
        method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM }, payload: 'grant_type=client_credentials&client_id=a%00b&client_secret=s',
      })
      expect(res.statusCode).toBe(400)
      expect(res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/NUL/) })
      expect(res.json()).toMatchObject({ status: 400, code: 'bad.request', type: expect.stringMatching(/^urn:recording-store:problem:/) })
      expect(res.json<{ details: unknown[] }>().details).toEqual([expect.objectContaining({ fieldName: 'client_id', in: 'body' })])
      expect(await rowCounts(ctx.sql)).toEqual(before)
    })

    it('a NUL in HTTP Basic credentials of /oauth/token is refused with 400 invalid_request naming the header', async () => {
      const res = await ctx.app.inject({
        method: 'POST', url: '/oauth/token',
        headers: { 'content-type': FORM, authorization: `Basic ${Buffer.from('a\u0000b:secret').toString('base64')}` },
        payload: 'grant_type=client_credentials',
      })
      expect(res.statusCode).toBe(400)
      expect(res.json()).toMatchObject({ error: 'invalid_request', status: 400, error_description: expect.stringMatching(/NUL/) })
      expect(res.json<{ details: unknown[] }>().details).toEqual([expect.objectContaining({ fieldName: 'authorization', in: 'headers' })])
    })
  })

  describe('date-times that pass the format but not PostgreSQL or Date', () => {
    const INSTANTS = [
      ['a leap second', '2016-12-31T23:59:60Z'],
      ['year 0000', '0000-06-01T00:00:00Z'],
      ['an offset that moves year 0001 into year 0000', '0001-01-01T00:00:00+00:01'],
      ['an offset that pushes the instant past year 9999', '9999-12-31T23:59:59-23:59'],
    ] as const
    const FIELDS: [string, (instant: string) => object][] = [
      ['startTime', (instant) => ({ startTime: instant })],
      ['endTime', (instant) => ({ endTime: instant })],
      ['archiveDate', (instant) => ({ archiveDate: instant })],
      ['deleteDate', (instant) => ({ deleteDate: instant })],
      ['emailTranscript[0].time', (instant) => ({ media: 'email', emailTranscript: [{ subject: 's', time: instant }] })],
      ['messagingTranscript[0].timestamp', (instant) => ({ ...messagingRecording, messagingTranscript: [{ messageText: 'hi', timestamp: instant }] })],
    ]

    it.each(INSTANTS.flatMap(([what, instant]) => FIELDS.map(([field, body]) => [what, field, instant, body] as const)))(
      'ingest refuses %s in %s with 400 and stores nothing',
      async (_what, field, instant, body) => {
        const before = await rowCounts(ctx.sql)
        expectRefused(await send('POST', recordingsUrl(randomUUID()), { name: 'x', ...body(instant) }), 400, field, 'body')
        expect(await rowCounts(ctx.sql)).toEqual(before)
      },
    )

    it.each(INSTANTS)('PUT refuses %s as a retention date with 400 and changes nothing', async (_what, instant) => {
      const { url, recording } = await arrange()
      expectRefused(await send('PUT', url, { archiveDate: instant }), 400, 'archiveDate', 'body')
      expectRefused(await send('PUT', url, { ...recording, deleteDate: instant }), 400, 'deleteDate', 'body')
      expect(await read(url)).toEqual(recording)
    })

    it.each(INSTANTS.flatMap(([what, instant]) => [
      [what, 'startTime', `${instant}/`],
      [what, 'startTime', `2024-01-01T00:00:00Z/${instant}`],
      [what, 'creationTime', `../${instant}`],
      [what, 'archiveDateBefore', instant],
      [what, 'deleteDateBefore', instant],
    ]))('the search refuses %s in %s with 400', async (_what, field, value) => {
      expectRefused(await send('GET', `/api/v2/recordings?${new URLSearchParams({ [field]: value }).toString()}`), 400, field, 'querystring')
    })

    it('still takes the extremes of the range and a time zone offset', async () => {
      const conversationId = randomUUID()
      const created = await ingest(ctx, conversationId, { name: 'x', startTime: '0001-01-01T00:00:00Z', endTime: '9999-12-31T23:59:59.999Z', deleteDate: '9999-12-31T23:59:59+00:00' })
      expect(created).toMatchObject({ startTime: '0001-01-01T00:00:00.000Z', endTime: '9999-12-31T23:59:59.999Z', deleteDate: '9999-12-31T23:59:59.000Z' })
      const found = await send('GET', `/api/v2/recordings?conversationId=${conversationId}&startTime=0001-01-01T00:00:00%2B00:00/9999-12-31T23:59:59Z`)
      expect(found.statusCode, found.body).toBe(200)
      expect(found.json<{ entities: unknown[] }>().entities).toHaveLength(1)
    })
  })

  describe('deep nesting', () => {
    /** `{"story":{"a":{"a":...}}}`: `depth` levels of objects below the story itself. */
    const storyNested = (depth: number, leaf = '"x"') => `{"a":`.repeat(depth) + leaf + '}'.repeat(depth)
    const withStory = (story: string) =>
      `{"name":"deep","media":"messaging","messagingTranscript":[{"messageText":"hi","story":${story}}]}`

    it(`a messaging story 6,000 levels deep is refused with 400 before it is parsed, and nothing is stored`, async () => {
      const before = await rowCounts(ctx.sql)
      const body = expectRefused(await send('POST', recordingsUrl(randomUUID()), withStory(storyNested(6_000)), 'application/json'), 400, 'body', 'body')
      expect(body.message).toContain(String(MAX_JSON_DEPTH))
      expect(await rowCounts(ctx.sql)).toEqual(before)
    })

    it('a body 100,000 levels deep with a \\u escape is refused with 400', async () => {
      const before = await rowCounts(ctx.sql)
      const deep = `${'['.repeat(100_000)}"\\u0041"${']'.repeat(100_000)}`
      expectRefused(await send('POST', recordingsUrl(randomUUID()), `{"name":${deep}}`, 'application/json'), 400, 'body', 'body')
      const { url, recording } = await arrange()
      expectRefused(await send('PUT', url, `{"x":${deep}}`, 'application/json'), 400, 'body', 'body')
      expect(await read(url)).toEqual(recording)
      expect((await rowCounts(ctx.sql)).recordings).toBe((before.recordings ?? 0) + 1)
    })

    it(`takes a body nested exactly ${MAX_JSON_DEPTH} levels deep, and counts no brackets inside strings`, async () => {
      // The body, messagingTranscript and its message are 3 levels; the story is the 4th.
      const atLimit = withStory(storyNested(MAX_JSON_DEPTH - 3, '"[[[[{{{{\\"[{"'))
      const res = await send('POST', recordingsUrl(randomUUID()), atLimit, 'application/json')
      expect(res.statusCode, res.body).toBe(201)
      const overLimit = withStory(storyNested(MAX_JSON_DEPTH - 2))
      expectRefused(await send('POST', recordingsUrl(randomUUID()), overLimit, 'application/json'), 400, 'body', 'body')
    })

    it('names the field of a NUL deep inside a body', async () => {
      const story = `{"a":[{"b":"x\\u0000y"}]}`
      expectRefused(await send('POST', recordingsUrl(randomUUID()), withStory(story), 'application/json'), 400, 'messagingTranscript[0].story.a[0].b', 'body')
    })
  })
})

describe('errors raised before routing', () => {
  let port = 0
  beforeAll(async () => {
    await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    port = (ctx.app.server.address() as { port: number }).port
  })

  interface RawResponse {
    status: number
    headers: Record<string, string>
    body: string
  }

  /** Writes bytes to a fresh connection and reads the one answer the server sends before closing it. */
  const raw = (bytes: Buffer | string) =>
    new Promise<RawResponse>((resolve, reject) => {
      const chunks: Buffer[] = []
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
      socket.on('data', (chunk) => chunks.push(chunk))
      socket.on('error', reject)
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const [head = '', ...rest] = text.split('\r\n\r\n')
        const [statusLine = '', ...lines] = head.split('\r\n')
        const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') })
      })
    })

  const expectRawErrorBody = (res: RawResponse, status: number) => {
    const body = expectErrorBody({ statusCode: res.status, headers: res.headers, body: res.body }, status)
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.body)))
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'")
    return body
  }

  it('a malformed request line gets 400 with the error body', async () => {
    expectRawErrorBody(await raw('GARBAGE\r\n\r\n'), 400)
    expectRawErrorBody(await raw('GET /health/live HTTP/9.9\r\nHost: x\r\n\r\n'), 400)
  })

  it('raw bytes >= 0x80 in the URL get 400 with the error body', async () => {
    const request = Buffer.concat([Buffer.from('GET /api/v2/recordings/'), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')])
    expectRawErrorBody(await raw(request), 400)
  })

  it('a header block over 16 kB gets 431 with the error body', async () => {
    const body = expectRawErrorBody(await raw(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431)
    expect(body.code).toBe('request.header.fields.too.large')
  })

  it('an HTTP/1.1 request without Host gets 400 with the error body naming the header', async () => {
    const res = await raw('GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n')
    const body = expectRawErrorBody(res, 400)
    expect(body.details).toEqual([expect.objectContaining({ fieldName: 'host', in: 'headers' })])
    const ok = await raw('GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(ok.status).toBe(200)
    const http10 = await raw('GET /health/live HTTP/1.0\r\n\r\n')
    expect(http10.status).toBe(200)
  })

  it.each([
    ['PATCH', '/api/v2/conversations/c1/recordings/r1', ['DELETE', 'GET', 'HEAD', 'PUT']],
    ['DELETE', '/api/v2/recordings', ['GET', 'HEAD']],
    ['PUT', '/api/v2/conversations/c1/recordings/', ['GET', 'HEAD', 'POST']],
    ['POST', '/health/ready?x=1', ['GET', 'HEAD']],
    ['GET', '/oauth/token', ['POST']],
  ] as const)('%s on %s, a known path without that method, gets 405 with Allow', async (method, url, allowed) => {
    const before = await rowCounts(ctx.sql)
    const res = await ctx.app.inject({ method, url, payload: method === 'GET' ? undefined : {} })
    const body = expectErrorBody(res, 405)
    expect(body.code).toBe('method.not.allowed')
    expect(String(res.headers.allow).split(', ').sort()).toEqual(allowed)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('an unknown path stays 404, without Allow', async () => {
    for (const url of ['/api/v2/nothing', '/api/v2/conversations/c1', '/api/v2/conversations/c1/recordings/r1/unknown']) {
      const res = await ctx.app.inject({ method: 'GET', url })
      expectErrorBody(res, 404)
      expect(res.headers).not.toHaveProperty('allow')
    }
  })

  it('with CORS on, its catch-all OPTIONS route makes no unknown path a 405', async () => {
    const cors = await createTestContext({ CORS_ORIGINS: 'https://crm.example' })
    try {
      const unknown = await cors.app.inject({ method: 'GET', url: '/api/v2/nothing' })
      expectErrorBody(unknown, 404)
      expect(unknown.headers).not.toHaveProperty('allow')
      const known = await cors.app.inject({ method: 'PATCH', url: '/api/v2/recordings', payload: {} })
      expectErrorBody(known, 405)
      expect(known.headers.allow).toBe('GET, HEAD')
      const preflight = await cors.app.inject({
        method: 'OPTIONS', url: '/api/v2/recordings', headers: { origin: 'https://crm.example', 'access-control-request-method': 'GET' },
      })
      expect(preflight.statusCode).toBe(204)
    } finally {
      await cors.close()
    }
  })

  it('GET / redirects (302) to /docs', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(302)
    expect(res.headers.location).toBe('/docs')
  })
})

describe('security headers', () => {
  const EXPECTED = {
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'x-permitted-cross-domain-policies': 'none',
  }

  it('/health/ready, an API answer and an error answer carry exactly the API policy', async () => {
    const { url } = await arrange()
    const answers = [
      await ctx.app.inject({ method: 'GET', url: '/health/ready' }),
      await send('GET', url),
      await send('GET', `${url}x`),
      await ctx.app.inject({ method: 'GET', url }),
    ]
    expect(answers.map((res) => res.statusCode)).toEqual([200, 200, 404, 401])
    for (const res of answers) {
      expect(res.headers).toMatchObject(EXPECTED)
      expect(res.headers).not.toHaveProperty('x-powered-by')
      expect(res.headers).not.toHaveProperty('origin-agent-cluster')
    }
  })
})
