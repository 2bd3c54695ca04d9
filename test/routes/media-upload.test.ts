import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { Recording } from '../../src/schemas/recording.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { wav } from '../media.js'
import { createLocalStorage, mediaKey } from '../../src/storage/media-storage.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

/** The 8-byte PNG signature and an IHDR chunk: enough for a sniffer to know a PNG. */
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('0000000d49484452000000010000000108060000001f15c489', 'hex'),
  Buffer.alloc(64),
])

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest()
const contentDigest = (bytes: Buffer) => `sha-256=:${sha256(bytes).toString('base64')}:`

/** Every file under `dir`, recursively, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name))).sort()
}

let dataDir: string
let ctx: TestContext
let small: TestContext
let smallDir: string
const conversationId = randomUUID()
const SMALL_CAP = 2_000

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'media-upload-'))
  smallDir = await mkdtemp(path.join(tmpdir(), 'media-upload-small-'))
  ctx = await createTestContext({ DATA_DIR: dataDir })
  small = await createTestContext({ DATA_DIR: smallDir, MEDIA_MAX_BYTES: String(SMALL_CAP) })
})
afterAll(async () => {
  await ctx?.close()
  await small?.close()
  await rm(dataDir, { recursive: true, force: true })
  await rm(smallDir, { recursive: true, force: true })
})

/** A recording waiting for its media (ingested without mediaUris). */
async function uploadingRecording(on: TestContext = ctx): Promise<Recording & { id: string }> {
  const recording = await ingest(on, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  expect(recording.fileState).toBe('UPLOADING')
  return { ...recording, id: recording.id as string }
}

const mediaUrl = (recordingId: string, conversation = conversationId) => `${recordingsUrl(conversation)}/${recordingId}/media`

function upload(on: TestContext, recordingId: string, payload: Buffer, headers: Record<string, string> = { 'content-type': 'audio/wav' }) {
  return on.inject({ method: 'PUT', url: mediaUrl(recordingId), payload, headers })
}

async function storedState(on: TestContext, recordingId: string) {
  const { rows } = await on.sql.query<{ file_state: string; media: string }>(
    `SELECT r.file_state, (SELECT count(*) FROM stored_media m WHERE m.recording_id = r.id)::text AS media FROM recordings r WHERE r.id = $1`,
    [recordingId],
  )
  return rows[0]
}

describe('PUT …/recordings/:recordingId/media', () => {
  it('stores a WAV: 200 with the recording AVAILABLE, its size and duration, the SHA-256 kept, the file byte-identical on disk', async () => {
    const recording = await uploadingRecording()
    const bytes = wav(1.5)
    const res = await upload(ctx, recording.id, bytes, { 'content-type': 'audio/wav', 'content-digest': contentDigest(bytes) })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers.etag).toEqual(expect.any(String))
    const answered = res.json<Recording>()
    expect(answered).toMatchObject({ id: recording.id, fileState: 'AVAILABLE', outputSizeInBytes: bytes.length, outputDurationMs: 1500 })

    const { rows } = await ctx.sql.query<{ storage_key: string; size_in_bytes: string; sha256: Buffer; content_type: string; duration_ms: number }>(
      'SELECT storage_key, size_in_bytes::text, sha256, content_type, duration_ms FROM stored_media WHERE recording_id = $1',
      [recording.id],
    )
    expect(rows).toHaveLength(1)
    const stored = rows[0]!
    expect(stored).toMatchObject({ size_in_bytes: String(bytes.length), content_type: 'audio/wav', duration_ms: 1500 })
    expect(stored.sha256.equals(sha256(bytes))).toBe(true)
    // Grouped by organization and recording.
    expect(stored.storage_key.split('/').slice(0, 2)).toEqual([DEFAULT_ORGANIZATION_ID, recording.id])
    const onDisk = await readFile(path.join(dataDir, 'media', ...stored.storage_key.split('/')))
    expect(onDisk.equals(bytes)).toBe(true)
    expect((await filesUnder(path.join(dataDir, 'media'))).filter((file) => file.endsWith('.part'))).toEqual([])

    // GET answers 200 now that the media is there, and the links part of the recording is as before.
    const read = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${recording.id}?formatId=WAV` })
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json<Recording>()).toMatchObject({ fileState: 'AVAILABLE', outputSizeInBytes: bytes.length })
  })

  it('stores a WAV sent without Content-Digest, computing its SHA-256 all the same', async () => {
    const recording = await uploadingRecording()
    const bytes = wav(0.25)
    const res = await upload(ctx, recording.id, bytes)
    expect(res.statusCode, res.body).toBe(200)
    const { rows } = await ctx.sql.query<{ sha256: Buffer }>('SELECT sha256 FROM stored_media WHERE recording_id = $1', [recording.id])
    expect(rows[0]?.sha256.equals(sha256(bytes))).toBe(true)
  })

  it('refuses bytes that do not match their Content-Digest with 400, keeping no file, no temporary file, and the recording UPLOADING', async () => {
    const recording = await uploadingRecording()
    const before = await filesUnder(path.join(dataDir, 'media'))
    const res = await upload(ctx, recording.id, wav(0.5), { 'content-type': 'audio/wav', 'content-digest': contentDigest(wav(0.6)) })
    expect(expectErrorBody(res, 400).message).toMatch(/Content-Digest/)
    expect(await filesUnder(path.join(dataDir, 'media'))).toEqual(before)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('refuses a malformed Content-Digest with 400 before storing anything', async () => {
    const recording = await uploadingRecording()
    const res = await upload(ctx, recording.id, wav(0.1), { 'content-type': 'audio/wav', 'content-digest': 'sha-256=abc' })
    expectErrorBody(res, 400)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('refuses media over MEDIA_MAX_BYTES with 413 and keeps nothing, whether Content-Length announces it or not', async () => {
    const recording = await uploadingRecording(small)
    const bytes = wav(1) // 16 044 bytes, over the cap of 2 000
    expect(bytes.length).toBeGreaterThan(SMALL_CAP)
    expectErrorBody(await upload(small, recording.id, bytes), 413)
    // Chunked, without Content-Length: the cap is enforced while the bytes flow.
    const chunked = await small.inject({
      method: 'PUT',
      url: mediaUrl(recording.id),
      headers: { 'content-type': 'audio/wav', 'transfer-encoding': 'chunked' },
      payload: Readable.from((function* () {
        for (let offset = 0; offset < bytes.length; offset += 500) yield bytes.subarray(offset, offset + 500)
      })()),
    })
    expectErrorBody(chunked, 413)
    expect(await filesUnder(path.join(smallDir, 'media'))).toEqual([])
    expect(await storedState(small, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
    // Under the cap, the same recording takes its media.
    expect((await upload(small, recording.id, wav(0.1))).statusCode).toBe(200)
  })

  it('refuses bytes of another type than Content-Type says with 415 (WAV as video/mp4, PNG as audio/wav) and keeps nothing', async () => {
    const recording = await uploadingRecording()
    const before = await filesUnder(path.join(dataDir, 'media'))
    expect(expectErrorBody(await upload(ctx, recording.id, wav(0.2), { 'content-type': 'video/mp4' }), 415).message).toMatch(/audio\/wav|wav/)
    expect(expectErrorBody(await upload(ctx, recording.id, PNG, { 'content-type': 'audio/wav' }), 415).message).toMatch(/png/)
    expectErrorBody(await upload(ctx, recording.id, Buffer.from('just some text, not media'), { 'content-type': 'audio/wav' }), 415)
    expect(await filesUnder(path.join(dataDir, 'media'))).toEqual(before)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('refuses an upload without Content-Type, or with a type that is not media, with 415', async () => {
    const recording = await uploadingRecording()
    expectErrorBody(await ctx.inject({ method: 'PUT', url: mediaUrl(recording.id), payload: wav(0.1), headers: { 'content-type': '' } }), 415)
    expectErrorBody(await ctx.inject({ method: 'PUT', url: mediaUrl(recording.id) }), 415)
    expectErrorBody(await upload(ctx, recording.id, Buffer.from('{"a":1}'), { 'content-type': 'application/json' }), 415)
    expectErrorBody(await upload(ctx, recording.id, Buffer.from('text'), { 'content-type': 'text/plain' }), 415)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('refuses a second upload with 409: stored media is immutable', async () => {
    const recording = await uploadingRecording()
    const first = wav(0.2)
    expect((await upload(ctx, recording.id, first)).statusCode).toBe(200)
    const filesAfterFirst = await filesUnder(path.join(dataDir, 'media'))
    expectErrorBody(await upload(ctx, recording.id, wav(0.3)), 409)
    expect(await filesUnder(path.join(dataDir, 'media'))).toEqual(filesAfterFirst)
    const { rows } = await ctx.sql.query<{ sha256: Buffer }>('SELECT sha256 FROM stored_media WHERE recording_id = $1', [recording.id])
    expect(rows[0]?.sha256.equals(sha256(first))).toBe(true)
  })

  it('refuses an upload to a recording whose media is linked at ingest (already AVAILABLE) with 409', async () => {
    const linked = await ingest(ctx, conversationId, { media: 'audio', mediaUris: { S: { mediaUri: 'https://media.example.com/a.wav' } } })
    expect(linked.fileState).toBe('AVAILABLE')
    expectErrorBody(await upload(ctx, linked.id as string, wav(0.1)), 409)
  })

  it('answers 404 for an unknown recording, and writes nothing', async () => {
    const before = await filesUnder(path.join(dataDir, 'media'))
    expectErrorBody(await upload(ctx, randomUUID(), wav(0.1)), 404)
    expectErrorBody(await upload(ctx, 'not-a-uuid', wav(0.1)), 404)
    expect(await filesUnder(path.join(dataDir, 'media'))).toEqual(before)
  })

  it("answers 404 to another organization's token, and writes nothing", async () => {
    const recording = await uploadingRecording()
    const other = await createOrganization(ctx, `media-other-${randomUUID()}`)
    const token = await ctx.token(['recording:recording:add'], other)
    const before = await filesUnder(path.join(dataDir, 'media'))
    expectErrorBody(await upload(ctx, recording.id, wav(0.1), { 'content-type': 'audio/wav', authorization: `Bearer ${token}` }), 404)
    expect(await filesUnder(path.join(dataDir, 'media'))).toEqual(before)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('needs recording:recording:add: a reader gets 403', async () => {
    const recording = await uploadingRecording()
    const token = await ctx.token(['recording:recording:view'])
    expectErrorBody(await upload(ctx, recording.id, wav(0.1), { 'content-type': 'audio/wav', authorization: `Bearer ${token}` }), 403)
    expect(await storedState(ctx, recording.id)).toEqual({ file_state: 'UPLOADING', media: '0' })
  })

  it('deleting a recording with stored media still answers 204 (the row goes; removing the bytes is a later step)', async () => {
    const recording = await uploadingRecording()
    expect((await upload(ctx, recording.id, wav(0.1))).statusCode).toBe(200)
    const res = await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${recording.id}` })
    expect(res.statusCode).toBe(204)
  })
})

describe('local media storage', () => {
  it('keeps nothing, not even a temporary file, when the client goes away mid-upload', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'media-storage-'))
    try {
      const storage = createLocalStorage(root)
      const bytes = wav(1)
      const source = new Readable({ read() {} })
      source.push(bytes.subarray(0, 4_000))
      setTimeout(() => source.destroy(new Error('client went away')), 20)
      await expect(storage.write(mediaKey(DEFAULT_ORGANIZATION_ID, randomUUID(), 'media'), source, { maxBytes: 1e9 })).rejects.toThrow(/client went away/)
      expect(await filesUnder(root)).toEqual([])
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })

  it('makes bytes visible under their key only complete: stat, ranged read and delete of what was written', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'media-storage-'))
    try {
      const storage = createLocalStorage(root)
      const bytes = wav(0.5)
      const key = mediaKey(DEFAULT_ORGANIZATION_ID, randomUUID(), 'media')
      expect(await storage.stat(key)).toBeUndefined()
      const written = await storage.write(key, Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]), { maxBytes: bytes.length })
      expect(written).toEqual({ size: bytes.length, sha256: sha256(bytes) })
      expect(await storage.stat(key)).toEqual({ size: bytes.length })
      const chunks: Buffer[] = []
      for await (const chunk of await storage.read(key, { start: 10, end: 19 })) chunks.push(chunk as Buffer)
      expect(Buffer.concat(chunks).equals(bytes.subarray(10, 20))).toBe(true)
      await storage.delete(key)
      expect(await storage.stat(key)).toBeUndefined()
      expect(() => mediaKey(DEFAULT_ORGANIZATION_ID, '..', 'media')).toThrow()
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})

describe('MEDIA_STORAGE', () => {
  it('refuses a storage this build does not have at config load, naming the choices', async () => {
    const { loadConfig } = await import('../../src/config.js')
    expect(() => loadConfig({ MEDIA_STORAGE: 'ftp' })).toThrow(/MEDIA_STORAGE="ftp": must be one of local/)
    expect(loadConfig({}).MEDIA_STORAGE).toBe('local')
    expect(loadConfig({}).MEDIA_MAX_BYTES).toBe(4 * 1024 ** 3)
  })
})
