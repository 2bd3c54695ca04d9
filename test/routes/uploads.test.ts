import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { buffer } from 'node:stream/consumers'
import * as tus from 'tus-js-client'
import { ALL_PERMISSIONS } from '../../src/auth/permissions.js'
import type { Recording } from '../../src/schemas/recording.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { UPLOADS_PATH } from '../../src/services/upload-service.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'
import { wav } from '../media.js'

/** The 8-byte PNG signature and an IHDR chunk: enough for a sniffer to know a PNG. */
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('0000000d49484452000000010000000108060000001f15c489', 'hex'),
  Buffer.alloc(64),
])

let ctx: TestContext
let endpoint: string
let token: string
let uploadsDir: string
const conversationId = randomUUID()

beforeAll(async () => {
  // PORT=0: the upload URLs the service hands out name the port it got.
  ctx = await createTestContext({ PORT: '0' })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  endpoint = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}${UPLOADS_PATH}`
  // The one permission the uploads need, and no other.
  token = await ctx.token(['recording:recording:add'])
  uploadsDir = path.join(ctx.config.DATA_DIR, 'uploads')
})
afterAll(async () => {
  await ctx?.close()
})

async function uploadingRecording(): Promise<string> {
  const recording = await ingest(ctx, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  expect(recording.fileState).toBe('UPLOADING')
  return recording.id as string
}

const base64 = (text: string) => Buffer.from(text).toString('base64')
const metadataOf = (fields: Record<string, string>) => Object.entries(fields).map(([key, value]) => `${key} ${base64(value)}`).join(',')

/** A tus request as a client sends it: bearer token and Tus-Resumable, unless the test says otherwise. */
function send(url: string, method: string, headers: Record<string, string> = {}, body?: Buffer) {
  return fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', ...headers }, ...(body ? { body } : {}) })
}

/** `expectErrorBody` over a fetch answer. */
async function expectError(response: Response, status: number) {
  return expectErrorBody({ statusCode: response.status, headers: Object.fromEntries(response.headers), body: await response.text() }, status)
}

/** Creates an upload of `length` bytes for a recording; answers its URL. */
async function create(recordingId: string, length: number, filetype = 'audio/wav'): Promise<string> {
  const response = await send(endpoint, 'POST', { 'upload-length': String(length), 'upload-metadata': metadataOf({ conversationId, recordingId, filetype }) })
  expect(response.status, await response.clone().text()).toBe(201)
  // Absolute, on the origin the service is reached at.
  expect(response.headers.get('location')).toMatch(new RegExp(`^${endpoint}/${DEFAULT_ORGANIZATION_ID}-[0-9a-f-]{36}$`))
  return new URL(response.headers.get('location') ?? '', endpoint).href
}

const patch = (url: string, offset: number, bytes: Buffer, headers: Record<string, string> = {}) =>
  send(url, 'PATCH', { 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', ...headers }, bytes)

const uploadIdOf = (url: string) => url.split('/').pop() ?? ''

/** The files an upload keeps in DATA_DIR/uploads (its bytes and its .json info). */
async function filesOf(url: string): Promise<string[]> {
  const id = uploadIdOf(url)
  return (await readdir(uploadsDir)).filter((name) => name.startsWith(id)).sort()
}

async function fileState(recordingId: string) {
  const res = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${recordingId}?formatId=WAV` })
  return res.json<Recording>()
}

/** The stored media of a recording, read back from storage. */
async function storedBytes(recordingId: string): Promise<Buffer> {
  const stored = await ctx.app.services.media.stored(DEFAULT_ORGANIZATION_ID, recordingId)
  if (!stored) throw new Error(`recording ${recordingId} has no stored media`)
  return buffer(await ctx.app.services.media.read(stored.storageKey))
}

/** Sends the PATCH headers (announcing all of `bytes`) and `sent` of them, then cuts the connection. */
async function patchCut(url: string, bytes: Buffer, sent: number) {
  const request = http.request(url, {
    method: 'PATCH',
    headers: {
      authorization: `Bearer ${token}`,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
      'content-length': String(bytes.length),
    },
  })
  request.on('error', () => undefined)
  request.write(bytes.subarray(0, sent))
  // Long enough for the server to have written what arrived; then the link breaks.
  await new Promise((resolve) => setTimeout(resolve, 300))
  request.destroy()
}

async function offsetOf(url: string): Promise<number> {
  const response = await send(url, 'HEAD')
  expect(response.status).toBe(200)
  return Number(response.headers.get('upload-offset'))
}

describe('tus uploads at /api/v2/recordings/uploads', () => {
  it('resumes an interrupted upload from the offset HEAD answers, then stores the media: AVAILABLE, same bytes', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(1)
    const url = await create(recordingId, bytes.length)
    expect(uploadIdOf(url).startsWith(`${DEFAULT_ORGANIZATION_ID}-`)).toBe(true)

    const half = Math.floor(bytes.length / 2)
    await patchCut(url, bytes, half)
    await expect.poll(() => offsetOf(url), { timeout: 5_000 }).toBe(half)
    const head = await send(url, 'HEAD')
    expect(head.headers.get('upload-length')).toBe(String(bytes.length))
    expect(head.headers.get('tus-resumable')).toBe('1.0.0')
    // The API's own headers reach the wire on tus answers too.
    expect(head.headers.get('x-content-type-options')).toBe('nosniff')
    expect(head.headers.get('cache-control')).toBe('no-store')
    expect(head.headers.get('inin-correlation-id')).toEqual(expect.any(String))
    expect((await fileState(recordingId)).fileState).toBe('UPLOADING')

    // Resuming from a wrong offset changes nothing.
    expect((await expectError(await patch(url, 0, bytes), 409)).message).toMatch(/offset/i)

    const done = await patch(url, half, bytes.subarray(half))
    expect(done.status, await done.clone().text()).toBe(204)
    expect(done.headers.get('upload-offset')).toBe(String(bytes.length))
    expect(done.headers.get('x-recording-file-state')).toBe('AVAILABLE')

    expect(await fileState(recordingId)).toMatchObject({ fileState: 'AVAILABLE', outputSizeInBytes: bytes.length, outputDurationMs: 1000 })
    expect((await storedBytes(recordingId)).equals(bytes)).toBe(true)
    // A completed upload keeps nothing of its own.
    expect(await filesOf(url)).toEqual([])
    expect((await send(url, 'HEAD')).status).toBe(404)
  })

  it('takes a whole upload from tus-js-client, in chunks, resumed after an abort by its upload URL', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.5)
    const options = {
      endpoint,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { conversationId, recordingId, filetype: 'audio/wav', filename: 'call.wav' },
      chunkSize: 2_000,
      retryDelays: null,
      storeFingerprintForResuming: false,
    }
    // The first chunk goes, then the client stops.
    const first = new tus.Upload(bytes, options)
    await new Promise<void>((resolve, reject) => {
      first.options.onChunkComplete = () => {
        void first.abort().then(resolve, reject)
      }
      first.options.onError = reject
      first.start()
    })
    expect(first.url).toEqual(expect.stringContaining(UPLOADS_PATH))
    expect(await offsetOf(first.url as string)).toBe(2_000)

    const accepted: number[] = []
    await new Promise<void>((resolve, reject) => {
      new tus.Upload(bytes, {
        ...options,
        uploadUrl: first.url,
        onChunkComplete: (_size, total) => accepted.push(total),
        onSuccess: () => resolve(),
        onError: reject,
      }).start()
    })
    // It resumed from the offset: the first chunk was not sent again.
    expect(accepted[0]).toBe(4_000)
    expect(accepted.at(-1)).toBe(bytes.length)
    expect(await fileState(recordingId)).toMatchObject({ fileState: 'AVAILABLE', outputSizeInBytes: bytes.length })
    expect((await storedBytes(recordingId)).equals(bytes)).toBe(true)
  })

  it('takes the whole file with the POST that creates the upload (creation-with-upload)', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.25)
    const response = await send(
      endpoint,
      'POST',
      { 'upload-length': String(bytes.length), 'upload-metadata': metadataOf({ conversationId, recordingId, filetype: 'audio/wav' }), 'content-type': 'application/offset+octet-stream' },
      bytes,
    )
    expect(response.status, await response.clone().text()).toBe(201)
    expect(response.headers.get('upload-offset')).toBe(String(bytes.length))
    expect(response.headers.get('x-recording-file-state')).toBe('AVAILABLE')
    expect((await storedBytes(recordingId)).equals(bytes)).toBe(true)
    expect(await filesOf(new URL(response.headers.get('location') ?? '', endpoint).href)).toEqual([])
  })

  it('answers the capabilities to OPTIONS: tus 1.0.0, termination and expiration, the size cap', async () => {
    const response = await send(endpoint, 'OPTIONS')
    expect(response.status).toBe(204)
    expect(response.headers.get('tus-version')).toBe('1.0.0')
    expect(response.headers.get('tus-extension')?.split(',')).toEqual(expect.arrayContaining(['creation', 'termination', 'expiration']))
    expect(response.headers.get('tus-max-size')).toBe(String(ctx.config.MEDIA_MAX_BYTES))
  })

  it('answers 401 without a token and 403 without recording:recording:add to every tus request, with the error body', async () => {
    const recordingId = await uploadingRecording()
    const url = await create(recordingId, 100)
    const allButAdd = await ctx.token(ALL_PERMISSIONS.filter((permission) => permission !== 'recording:recording:add'))
    const requests: [string, string, Record<string, string>, Buffer?][] = [
      [endpoint, 'POST', { 'upload-length': '100', 'upload-metadata': metadataOf({ conversationId, recordingId, filetype: 'audio/wav' }) }],
      [endpoint, 'OPTIONS', {}],
      [url, 'HEAD', {}],
      [url, 'PATCH', { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, Buffer.alloc(10)],
      [url, 'DELETE', {}],
      [url, 'OPTIONS', {}],
    ]
    for (const [target, method, headers, body] of requests) {
      const anonymous = await fetch(target, { method, headers: { 'tus-resumable': '1.0.0', ...headers }, ...(body ? { body } : {}) })
      expect(anonymous.status, method).toBe(401)
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/)
      const forbidden = await send(target, method, { ...headers, authorization: `Bearer ${allButAdd}` }, body)
      expect(forbidden.status, method).toBe(403)
      if (method !== 'HEAD') {
        await expectError(anonymous, 401)
        expect((await expectError(forbidden, 403)).message).toMatch(/recording:recording:add/)
      }
    }
    expect(await offsetOf(url)).toBe(0)
    expect(await filesOf(url)).toHaveLength(2)
  })

  it("answers 404 to another organization's client on HEAD, PATCH and DELETE of my upload, which stays as it was", async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.2)
    const url = await create(recordingId, bytes.length)
    expect((await patch(url, 0, bytes.subarray(0, 100))).status).toBe(204)

    const other = await ctx.token(ALL_PERMISSIONS, await createOrganization(ctx, `other-${randomUUID()}`))
    const as = { authorization: `Bearer ${other}` }
    expect((await send(url, 'HEAD', as)).status).toBe(404)
    await expectError(await patch(url, 100, bytes.subarray(100), as), 404)
    await expectError(await send(url, 'DELETE', as), 404)
    // Nor can it create one for my recording.
    const response = await send(endpoint, 'POST', { ...as, 'upload-length': '10', 'upload-metadata': metadataOf({ conversationId, recordingId, filetype: 'audio/wav' }) })
    await expectError(response, 404)

    expect(await offsetOf(url)).toBe(100)
    expect(await filesOf(url)).toHaveLength(2)
  })

  it('refuses to create an upload for an unknown recording (404), one with its media (409), without the recording named (400)', async () => {
    const post = (metadata: Record<string, string>, length = 100) =>
      send(endpoint, 'POST', { 'upload-length': String(length), 'upload-metadata': metadataOf(metadata) })

    expect((await expectError(await post({ conversationId, recordingId: randomUUID(), filetype: 'audio/wav' }), 404)).entityName).toBe('Recording')

    const available = await uploadingRecording()
    const put = await ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${available}/media`, payload: wav(0.1), headers: { 'content-type': 'audio/wav' } })
    expect(put.statusCode, put.body).toBe(200)
    await expectError(await post({ conversationId, recordingId: available, filetype: 'audio/wav' }), 409)

    const waiting = await uploadingRecording()
    await expectError(await post({ conversationId, filetype: 'audio/wav' }), 400)
    expect((await expectError(await post({ conversationId, recordingId: waiting, filetype: 'text/plain' }), 415)).message).toMatch(/filetype/)
    await expectError(await post({ conversationId, recordingId: waiting }), 415)
    await expectError(await post({ conversationId, recordingId: waiting, filetype: 'audio/wav', contentDigest: 'sha-256=abc' }), 400)
    await expectError(await post({ conversationId, recordingId: waiting, filetype: 'audio/wav' }, ctx.config.MEDIA_MAX_BYTES + 1), 413)
    await expectError(await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'upload-length': '10' } }), 412)
    expect((await fileState(waiting)).fileState).toBe('UPLOADING')
  })

  it('refuses media that is not what filetype says when the last byte arrives: 415, the upload removed, the recording still UPLOADING', async () => {
    const recordingId = await uploadingRecording()
    const url = await create(recordingId, PNG.length)
    const response = await patch(url, 0, PNG)
    expect((await expectError(response, 415)).message).toMatch(/image\/png/)
    expect(response.headers.get('tus-resumable')).toBe('1.0.0')
    expect((await fileState(recordingId)).fileState).toBe('UPLOADING')
    expect(await filesOf(url)).toEqual([])
    // The recording takes a new upload.
    const bytes = wav(0.1)
    expect((await patch(await create(recordingId, bytes.length), 0, bytes)).status).toBe(204)
    expect((await fileState(recordingId)).fileState).toBe('AVAILABLE')
  })

  it('refuses bytes that do not match the contentDigest given at creation: 400, nothing stored', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.1)
    const digest = `sha-256=:${Buffer.alloc(32).toString('base64')}:`
    const created = await send(endpoint, 'POST', {
      'upload-length': String(bytes.length),
      'upload-metadata': metadataOf({ conversationId, recordingId, filetype: 'audio/wav', contentDigest: digest }),
    })
    const url = new URL(created.headers.get('location') ?? '', endpoint).href
    expect((await expectError(await patch(url, 0, bytes), 400)).message).toMatch(/Content-Digest/)
    expect((await fileState(recordingId)).fileState).toBe('UPLOADING')
  })

  it('keeps the bytes when storing fails for another reason (500), and a PATCH of no bytes at the end stores them', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.1)
    const url = await create(recordingId, bytes.length)
    // A file where the recording's media directory goes: storage cannot write.
    const blocker = path.join(ctx.config.DATA_DIR, 'media', DEFAULT_ORGANIZATION_ID, recordingId)
    await mkdir(path.dirname(blocker), { recursive: true })
    await writeFile(blocker, '')
    await expectError(await patch(url, 0, bytes), 500)
    expect(await filesOf(url)).toHaveLength(2)
    expect(await offsetOf(url)).toBe(bytes.length)

    await rm(blocker)
    const retried = await patch(url, bytes.length, Buffer.alloc(0))
    expect(retried.status, await retried.clone().text()).toBe(204)
    expect((await storedBytes(recordingId)).equals(bytes)).toBe(true)
    expect(await filesOf(url)).toEqual([])
  })

  it('terminates an upload on DELETE, removing its bytes', async () => {
    const recordingId = await uploadingRecording()
    const url = await create(recordingId, 1_000)
    expect((await patch(url, 0, Buffer.alloc(500))).status).toBe(204)
    expect(await filesOf(url)).toHaveLength(2)
    expect((await send(url, 'DELETE')).status).toBe(204)
    expect(await filesOf(url)).toEqual([])
    expect((await send(url, 'HEAD')).status).toBe(404)
    await expectError(await patch(url, 500, Buffer.alloc(500)), 404)
  })

  it('removeExpired removes unfinished uploads older than UPLOAD_EXPIRY_HOURS, with their bytes, and no others', async () => {
    const recordingId = await uploadingRecording()
    const old = await create(recordingId, 1_000)
    const fresh = await create(recordingId, 1_000)
    expect((await patch(old, 0, Buffer.alloc(300))).status).toBe(204)
    const info = path.join(uploadsDir, `${uploadIdOf(old)}.json`)
    const stored = JSON.parse(await readFile(info, 'utf8')) as { creation_date: string }
    const hours = ctx.config.UPLOAD_EXPIRY_HOURS
    await writeFile(info, JSON.stringify({ ...stored, creation_date: new Date(Date.now() - (hours + 1) * 3_600_000).toISOString() }))

    // Past its time it cannot be resumed even before it is removed.
    expect((await send(old, 'HEAD')).status).toBe(410)
    expect(await ctx.app.services.uploads.removeExpired()).toBe(1)
    expect(await filesOf(old)).toEqual([])
    expect(await filesOf(fresh)).toHaveLength(2)
  })

  it("removeFor removes a recording's unfinished uploads and leaves other recordings' alone", async () => {
    const [doomed, kept] = [await uploadingRecording(), await uploadingRecording()]
    const urls = [await create(doomed, 100), await create(doomed, 200)]
    const other = await create(kept, 100)
    await ctx.app.services.uploads.removeFor(DEFAULT_ORGANIZATION_ID, doomed)
    for (const url of urls) expect(await filesOf(url)).toEqual([])
    expect(await filesOf(other)).toHaveLength(2)
    // Another organization's id removes nothing.
    await ctx.app.services.uploads.removeFor(randomUUID(), kept)
    expect(await filesOf(other)).toHaveLength(2)
  })
})
