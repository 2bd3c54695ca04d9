import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { PLAYBACK_URL_TTL_MINUTES, STORED_RENDITION, withoutSignature } from '../../src/services/media-urls.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { wav } from '../media.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

let dataDir: string
let ctx: TestContext
const conversationId = randomUUID()
const bytes = wav(0.5) // 8 044 bytes
const size = bytes.length
const etag = `"${createHash('sha256').update(bytes).digest('base64url')}"`
let recordingId: string

/** A recording whose media was uploaded through the PUT route. */
async function recordingWithMedia(on: TestContext, media: Buffer): Promise<string> {
  const recording = await ingest(on, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  const put = await on.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recording.id}/media`, payload: media, headers: { 'content-type': 'audio/wav' } })
  expect(put.statusCode, put.body).toBe(200)
  return recording.id as string
}

const inFuture = (minutes = PLAYBACK_URL_TTL_MINUTES) => new Date(Date.now() + minutes * 60_000)

/** A signed URL of the app's signer, as path and query (what inject takes). */
function signed(claims: { organizationId?: string; recordingId?: string; rendition?: string; expiresAt?: Date } = {}): string {
  const url = ctx.app.services.mediaUrls.sign({
    organizationId: claims.organizationId ?? DEFAULT_ORGANIZATION_ID,
    recordingId: claims.recordingId ?? recordingId,
    rendition: claims.rendition ?? STORED_RENDITION,
    expiresAt: claims.expiresAt ?? inFuture(),
  })
  const parsed = new URL(url)
  return `${parsed.pathname}${parsed.search}`
}

/** Without a bearer token: the signature is the only credential. */
const play = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => ctx.app.inject({ method, url, headers })

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'media-playback-'))
  ctx = await createTestContext({ DATA_DIR: dataDir })
  recordingId = await recordingWithMedia(ctx, bytes)
})
afterAll(async () => {
  await ctx?.close()
  await rm(dataDir, { recursive: true, force: true })
})

describe('signed media URLs', () => {
  it('are absolute URLs on PUBLIC_BASE_URL (default http://HOST:PORT) naming organization, recording, rendition, expiry and signature', () => {
    const expiresAt = new Date('2030-01-01T00:00:00Z')
    const url = new URL(ctx.app.services.mediaUrls.sign({ organizationId: DEFAULT_ORGANIZATION_ID, recordingId, rendition: 'S', expiresAt }))
    expect(url.origin).toBe(`http://${ctx.config.HOST}:${ctx.config.PORT}`)
    expect(url.pathname).toBe(`/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S`)
    expect(url.searchParams.get('expires')).toBe(String(expiresAt.getTime() / 1000))
    expect(url.searchParams.get('signature')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://media.example.com/store/' }).PUBLIC_BASE_URL).toBe('https://media.example.com/store/')
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'ftp://x' })).toThrow(/PUBLIC_BASE_URL/)
  })

  it('last PLAYBACK_URL_TTL_MINUTES = 60 minutes for now', () => {
    expect(PLAYBACK_URL_TTL_MINUTES).toBe(60)
  })
})

describe('GET|HEAD /media/:organizationId/:recordingId/:rendition (signed URL)', () => {
  it('answers 200 with the whole stored bytes, exact type and length, strong ETag, ranges accepted, private caching and CORP cross-origin', async () => {
    const res = await play(signed())
    expect(res.statusCode, res.body).toBe(200)
    expect(res.rawPayload.equals(bytes)).toBe(true)
    expect(res.headers['content-type']).toBe('audio/wav')
    expect(res.headers['content-length']).toBe(String(size))
    expect(res.headers['accept-ranges']).toBe('bytes')
    expect(res.headers.etag).toBe(etag)
    expect(res.headers['cache-control']).toMatch(/^private, max-age=(\d+)$/)
    const maxAge = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1])
    expect(maxAge).toBeGreaterThan(PLAYBACK_URL_TTL_MINUTES * 60 - 5)
    expect(maxAge).toBeLessThanOrEqual(PLAYBACK_URL_TTL_MINUTES * 60)
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin')
    // A browser tab showing the media loads it from this URL; nothing else may load.
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; media-src 'self'; img-src 'self'; frame-ancestors 'none'")
    expect(res.headers['content-disposition']).toBeUndefined()
    expect(res.headers['content-range']).toBeUndefined()
  })

  it('answers 206 with exactly bytes a..b for Range: bytes=a-b', async () => {
    const res = await play(signed(), { range: 'bytes=10-19' })
    expect(res.statusCode).toBe(206)
    expect(res.rawPayload.equals(bytes.subarray(10, 20))).toBe(true)
    expect(res.headers['content-range']).toBe(`bytes 10-19/${size}`)
    expect(res.headers['content-length']).toBe('10')
    expect(res.headers['content-type']).toBe('audio/wav')
    expect(res.headers.etag).toBe(etag)
  })

  it('answers 206 from a to the end for Range: bytes=a-, and clamps an end past the size', async () => {
    const open = await play(signed(), { range: 'bytes=8000-' })
    expect(open.statusCode).toBe(206)
    expect(open.rawPayload.equals(bytes.subarray(8000))).toBe(true)
    expect(open.headers['content-range']).toBe(`bytes 8000-${size - 1}/${size}`)
    expect(open.headers['content-length']).toBe(String(size - 8000))
    const past = await play(signed(), { range: `bytes=${size - 4}-${size + 1000}` })
    expect(past.statusCode).toBe(206)
    expect(past.rawPayload.equals(bytes.subarray(size - 4))).toBe(true)
    expect(past.headers['content-range']).toBe(`bytes ${size - 4}-${size - 1}/${size}`)
  })

  it('answers 206 with the last n bytes for Range: bytes=-n, all of them when n exceeds the size', async () => {
    const last = await play(signed(), { range: 'bytes=-100' })
    expect(last.statusCode).toBe(206)
    expect(last.rawPayload.equals(bytes.subarray(size - 100))).toBe(true)
    expect(last.headers['content-range']).toBe(`bytes ${size - 100}-${size - 1}/${size}`)
    expect(last.headers['content-length']).toBe('100')
    const more = await play(signed(), { range: `bytes=-${size * 2}` })
    expect(more.statusCode).toBe(206)
    expect(more.rawPayload.equals(bytes)).toBe(true)
    expect(more.headers['content-range']).toBe(`bytes 0-${size - 1}/${size}`)
  })

  it('answers 416 with Content-Range bytes */size and the error body for a range past the end or an empty suffix', async () => {
    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const res = await play(signed(), { range })
      expect(expectErrorBody(res, 416).code).toBe('range.not.satisfiable')
      expect(res.headers['content-range']).toBe(`bytes */${size}`)
      expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin')
    }
  })

  it('answers the whole 200 for several ranges, other units and malformed Range fields', async () => {
    for (const range of ['bytes=0-1,5-9', 'items=0-1', 'bytes=abc', 'bytes=9-2']) {
      const res = await play(signed(), { range })
      expect(res.statusCode, range).toBe(200)
      expect(res.rawPayload.equals(bytes)).toBe(true)
      expect(res.headers['content-range']).toBeUndefined()
    }
  })

  it('serves the range when If-Range matches the strong ETag, and the whole 200 when it does not (other or weak tag, a date)', async () => {
    const matching = await play(signed(), { range: 'bytes=0-3', 'if-range': etag })
    expect(matching.statusCode).toBe(206)
    expect(matching.rawPayload.toString('latin1')).toBe('RIFF')
    for (const ifRange of ['"other"', `W/${etag}`, new Date().toUTCString()]) {
      const res = await play(signed(), { range: 'bytes=0-3', 'if-range': ifRange })
      expect(res.statusCode, ifRange).toBe(200)
      expect(res.rawPayload.equals(bytes)).toBe(true)
    }
  })

  it('answers HEAD with the headers of GET and no body, for the whole media and for a range', async () => {
    const whole = await play(signed(), {}, 'HEAD')
    expect(whole.statusCode).toBe(200)
    expect(whole.body).toBe('')
    expect(whole.headers).toMatchObject({ 'content-type': 'audio/wav', 'content-length': String(size), 'accept-ranges': 'bytes', etag, 'cross-origin-resource-policy': 'cross-origin' })
    const part = await play(signed(), { range: 'bytes=4-7' }, 'HEAD')
    expect(part.statusCode).toBe(206)
    expect(part.body).toBe('')
    expect(part.headers).toMatchObject({ 'content-range': `bytes 4-7/${size}`, 'content-length': '4' })
  })

  it('adds Content-Disposition: attachment for download=true, with a safely encoded fileName', async () => {
    const download = await play(`${signed()}&download=true`)
    expect(download.statusCode).toBe(200)
    expect(download.headers['content-disposition']).toBe('attachment')
    const named = await play(`${signed()}&fileName=${encodeURIComponent('Anruf "Müller"/1.wav')}`)
    expect(named.statusCode).toBe(200)
    expect(named.headers['content-disposition']).toBe(`attachment; filename="Anruf _M_ller__1.wav"; filename*=UTF-8''Anruf%20%22M%C3%BCller%22%2F1.wav`)
    expect(named.rawPayload.equals(bytes)).toBe(true)
    const crlf = await play(`${signed()}&fileName=${encodeURIComponent('a\r\nSet-Cookie: x=1')}`)
    expect(crlf.statusCode).toBe(200)
    expect(crlf.headers['set-cookie']).toBeUndefined()
    expect(crlf.headers['content-disposition']).toBe(`attachment; filename="a__Set-Cookie: x=1"; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1`)
  })

  it('refuses an expired URL with 403 and the error body', async () => {
    const res = await play(signed({ expiresAt: new Date(Date.now() - 1000) }))
    expect(expectErrorBody(res, 403).code).toBe('media.url.expired')
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin')
  })

  it('refuses an altered URL with 403: signature, recording, rendition, expiry or organization changed, or a part missing', async () => {
    const url = new URL(signed(), 'http://x')
    const signature = url.searchParams.get('signature') as string
    const expires = url.searchParams.get('expires') as string
    const otherOrganization = await createOrganization(ctx, `playback-other-${randomUUID()}`)
    const otherRecording = await recordingWithMedia(ctx, wav(0.1))
    const query = `expires=${expires}&signature=${signature}`
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`
    const altered = {
      signature: `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?expires=${expires}&signature=${flipped}`,
      recording: `/media/${DEFAULT_ORGANIZATION_ID}/${otherRecording}/S?${query}`,
      rendition: `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/0?${query}`,
      expiry: `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?expires=${Number(expires) + 3600}&signature=${signature}`,
      organization: `/media/${otherOrganization}/${recordingId}/S?${query}`,
      'no signature': `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?expires=${expires}`,
      'no expiry': `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?signature=${signature}`,
      'truncated signature': `/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?expires=${expires}&signature=${signature.slice(0, 20)}`,
    }
    expect((await play(url.pathname + url.search)).statusCode).toBe(200)
    for (const [what, alteredUrl] of Object.entries(altered)) {
      const res = await play(alteredUrl)
      expect(res.statusCode, what).toBe(403)
      expect(expectErrorBody(res, 403).code, what).toBe('media.url.invalid')
      expect(res.body).not.toContain('RIFF')
    }
  })

  it('answers 404 for a validly signed URL of an unknown recording, a recording without stored media, or an unknown rendition', async () => {
    const linked = await ingest(ctx, conversationId, { media: 'audio', mediaUris: { S: { mediaUri: 'https://media.example.com/a.wav' } } })
    for (const url of [signed({ recordingId: randomUUID() }), signed({ recordingId: linked.id as string }), signed({ rendition: '0' }), signed({ recordingId: 'not-a-uuid' })]) {
      const res = await play(url)
      expectErrorBody(res, 404)
    }
  })

  it("is not another organization's: a URL signed for another organization does not reach this one's recording (404)", async () => {
    const other = await createOrganization(ctx, `playback-owner-${randomUUID()}`)
    expectErrorBody(await play(signed({ organizationId: other })), 404)
  })

  it('logs the request URL without its signature', async () => {
    const lines: string[] = []
    const sink = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const app = await buildApp({ config: ctx.config, databaseUrl: ctx.databaseUrl, migrations: [], logger: pino({ level: 'info' }, sink) })
    try {
      const url = signed()
      const signature = new URL(url, 'http://x').searchParams.get('signature') as string
      const res = await app.inject({ method: 'GET', url, headers: { range: 'bytes=0-3' } })
      expect(res.statusCode).toBe(206)
      const logged = lines.join('')
      expect(logged).toContain(`/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S?expires=`)
      expect(logged).toContain('signature=REDACTED')
      expect(logged).not.toContain(signature)
      expect(withoutSignature('/m?a=1&signature=abc&b=2')).toBe('/m?a=1&signature=REDACTED&b=2')
      // Other routes, and URLs no route takes, are logged as they came.
      expect((await app.inject({ method: 'GET', url: '/nowhere?signature=kept' })).statusCode).toBe(404)
      expect(lines.join('')).toContain('/nowhere?signature=kept')
    } finally {
      await app.close()
    }
  })
})

describe('mediaUris of stored media', () => {
  // The stored original is a 16-bit WAV: asked for as WAV, it is answered as it is (no rendition to wait for).
  const recordingUrl = (query = 'formatId=WAV') => `${recordingsUrl(conversationId)}/${recordingId}?${query}`
  const uriOf = (recording: { mediaUris?: Record<string, { mediaUri?: string }> }) => recording.mediaUris?.[STORED_RENDITION]?.mediaUri

  it('hold a signed playback URL (rendition S, with the format as extension) in the GET, list, upload and PUT answers', async () => {
    const got = await ctx.inject({ method: 'GET', url: recordingUrl() })
    expect(got.statusCode).toBe(200)
    const url = new URL(uriOf(got.json()) ?? '')
    expect(url.origin).toBe(`http://${ctx.config.HOST}:${ctx.config.PORT}`)
    expect(url.pathname).toBe(`/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S.wav`)
    // Expiry: whole minutes, between TTL - 1 and TTL minutes from now.
    const expires = Number(url.searchParams.get('expires'))
    expect(expires % 60).toBe(0)
    expect(expires * 1000).toBeGreaterThan(Date.now() + (PLAYBACK_URL_TTL_MINUTES - 1) * 60_000 - 1000)
    expect(expires * 1000).toBeLessThanOrEqual(Date.now() + PLAYBACK_URL_TTL_MINUTES * 60_000)

    const list = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}?formatId=WAV` })
    const listed = list.json<{ id: string; mediaUris?: Record<string, { mediaUri?: string }> }[]>().find((r) => r.id === recordingId)
    expect(listed && uriOf(listed)).toMatch(new RegExp(`/media/${DEFAULT_ORGANIZATION_ID}/${recordingId}/S\\.wav\\?expires=\\d+&signature=`))

    const put = await ctx.inject({ method: 'PUT', url: recordingUrl(), payload: {} })
    expect(put.statusCode, put.body).toBe(200)
    expect(uriOf(put.json())).toMatch(/\/S\.wav\?expires=\d+&signature=/)

    const other = await ingest(ctx, conversationId, { name: 'second', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const upload = await ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${other.id}/media`, payload: bytes, headers: { 'content-type': 'audio/x-wav' } })
    expect(upload.statusCode, upload.body).toBe(200)
    expect(upload.json().fileState).toBe('AVAILABLE')
    expect(uriOf(upload.json())).toMatch(new RegExp(`/media/${DEFAULT_ORGANIZATION_ID}/${other.id}/S\\.wav\\?expires=\\d+&signature=`))
  })

  it('play without a bearer token: the mediaUri of the answer serves the stored bytes, and seeks with Range', async () => {
    const url = new URL(uriOf((await ctx.inject({ method: 'GET', url: recordingUrl() })).json()) ?? '')
    const whole = await play(`${url.pathname}${url.search}`)
    expect(whole.statusCode).toBe(200)
    expect(whole.rawPayload.equals(bytes)).toBe(true)
    const part = await play(`${url.pathname}${url.search}`, { range: 'bytes=44-99' })
    expect(part.statusCode).toBe(206)
    expect(part.rawPayload.equals(bytes.subarray(44, 100))).toBe(true)
  })

  it('are the same within a minute, so the answer keeps one strong ETag that names the expiry, and If-None-Match answers 304', async () => {
    const first = await ctx.inject({ method: 'GET', url: recordingUrl() })
    const second = await ctx.inject({ method: 'GET', url: recordingUrl() })
    const expires = new URL(uriOf(first.json()) ?? '').searchParams.get('expires')
    if (first.body !== second.body) {
      // The minute turned between the two reads: the URLs and ETags differ, as they must.
      expect(second.headers.etag).not.toBe(first.headers.etag)
      return
    }
    expect(second.headers.etag).toBe(first.headers.etag)
    expect(first.headers.etag).toMatch(new RegExp(`^"\\d+\\.[\\w-]+-e${expires}"$`))
    const cached = await ctx.inject({ method: 'GET', url: recordingUrl(), headers: { 'if-none-match': String(first.headers.etag) } })
    expect([304, 200]).toContain(cached.statusCode)
    if (cached.statusCode === 200) expect(cached.headers.etag).not.toBe(first.headers.etag)
    // If-Match compares the version only: an ETag read with the URLs still guards an update.
    const put = await ctx.inject({ method: 'PUT', url: recordingUrl(), payload: {}, headers: { 'if-match': String(first.headers.etag) } })
    expect(put.statusCode, put.body).toBe(200)
  })

  it('answer the stored original itself for mediaFormats or formatId naming its format (WAV), or download=true; NONE leaves it out', async () => {
    const wanted = async (query: string) => (await ctx.inject({ method: 'GET', url: recordingUrl(query) })).json<{ mediaUris?: Record<string, { mediaUri?: string }> }>().mediaUris
    for (const query of ['mediaFormats=WAV', 'mediaFormats=MP3,WAV', 'formatId=WAV', 'download=true']) {
      expect(Object.keys((await wanted(query)) ?? {}), query).toEqual([STORED_RENDITION])
      expect((await wanted(query))?.[STORED_RENDITION]?.mediaUri, query).toMatch(/\/S\.wav\?/)
    }
    expect(await wanted('formatId=NONE')).toBeUndefined()
  })

  it('are absent while the media is uploading (202), and a linked mediaUri can never pass for stored media', async () => {
    const waiting = await ingest(ctx, conversationId, { name: 'waiting', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const got = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${waiting.id}` })
    expect(got.statusCode).toBe(202)
    expect(got.json().mediaUris).toBeUndefined()
    const linked = 'https://media.example.com/stored-media:0123/a%20b.wav'
    const withLink = await ingest(ctx, conversationId, { name: 'linked', media: 'audio', startTime: '2024-05-01T12:00:00.000Z', mediaUris: { S: { mediaUri: linked } } })
    const read = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${withLink.id}` })
    expect(uriOf(read.json())).toBe(linked)
  })

  it('start at PUBLIC_BASE_URL when it is set', async () => {
    const other = await createTestContext({ DATA_DIR: dataDir, PUBLIC_BASE_URL: 'https://recordings.example.com/store/' })
    try {
      const id = await recordingWithMedia(other, bytes)
      const got = await other.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}?formatId=WAV` })
      const url = new URL(uriOf(got.json()) ?? '')
      expect(`${url.origin}${url.pathname}`).toBe(`https://recordings.example.com/store/media/${DEFAULT_ORGANIZATION_ID}/${id}/S.wav`)
      // The path below the prefix is the service's own route.
      const local = await other.app.inject({ method: 'GET', url: `/media/${DEFAULT_ORGANIZATION_ID}/${id}/S.wav${url.search}` })
      expect(local.statusCode).toBe(200)
    } finally {
      await other.close()
    }
  })
})
