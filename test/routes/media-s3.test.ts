import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { loadConfig } from '../../src/config.js'
import type { Recording } from '../../src/schemas/recording.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext, eventually } from '../helpers.js'
import { wav } from '../media.js'
import { startS3rver, type S3Server } from '../s3.js'

let s3: S3Server
let ctx: TestContext
let bucket: S3Client
const conversationId = randomUUID()

beforeAll(async () => {
  s3 = await startS3rver()
  ctx = await createTestContext({ MEDIA_STORAGE: 's3', S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket, S3_FORCE_PATH_STYLE: 'true' })
  bucket = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
})
afterAll(async () => {
  bucket?.destroy()
  await ctx?.close()
  await s3?.stop()
})

async function uploadingRecording(): Promise<string> {
  const recording = await ingest(ctx, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  expect(recording.fileState).toBe('UPLOADING')
  return recording.id as string
}

const upload = (recordingId: string, payload: Buffer, headers: Record<string, string>) =>
  ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recordingId}/media`, payload, headers })

/** The keys of the bucket's objects of one recording. */
async function objectsOf(recordingId: string): Promise<string[]> {
  const listed = await bucket.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${DEFAULT_ORGANIZATION_ID}/${recordingId}/` }))
  return (listed.Contents ?? []).map((object) => object.Key ?? '')
}

const temporaryFiles = async () => readdir(path.join(ctx.config.DATA_DIR, 'tmp')).catch(() => [])

describe('PUT …/recordings/:recordingId/media with MEDIA_STORAGE=s3', () => {
  it('stores the media as an object under <organization>/<recording>/, byte for byte, and keeps no temporary file', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(1)
    const digest = createHash('sha256').update(bytes).digest('base64')
    const res = await upload(recordingId, bytes, { 'content-type': 'audio/wav', 'content-digest': `sha-256=:${digest}:` })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json<Recording>()).toMatchObject({ id: recordingId, fileState: 'AVAILABLE', outputSizeInBytes: bytes.length, outputDurationMs: 1000 })

    const { rows } = await ctx.sql.query<{ storage_key: string }>('SELECT storage_key FROM stored_media WHERE recording_id = $1', [recordingId])
    const key = rows[0]?.storage_key ?? ''
    expect(key.split('/').slice(0, 2)).toEqual([DEFAULT_ORGANIZATION_ID, recordingId])
    expect(await objectsOf(recordingId)).toEqual([key])
    const { Body } = await bucket.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))
    expect(Buffer.from((await Body?.transformToByteArray()) ?? []).equals(bytes)).toBe(true)
    expect(await temporaryFiles()).toEqual([])
  })

  it('refuses bytes that are not what Content-Type says with 415, putting nothing in the bucket', async () => {
    const recordingId = await uploadingRecording()
    const res = await upload(recordingId, Buffer.alloc(4000, 7), { 'content-type': 'audio/wav' })
    expectErrorBody(res, 415)
    expect(await objectsOf(recordingId)).toEqual([])
    expect(await temporaryFiles()).toEqual([])
  })

  it('refuses bytes that do not match their Content-Digest with 400, putting nothing in the bucket', async () => {
    const recordingId = await uploadingRecording()
    const other = createHash('sha256').update(wav(0.6)).digest('base64')
    const res = await upload(recordingId, wav(0.5), { 'content-type': 'audio/wav', 'content-digest': `sha-256=:${other}:` })
    expectErrorBody(res, 400)
    expect(await objectsOf(recordingId)).toEqual([])
    expect(await temporaryFiles()).toEqual([])
  })
})


describe('stored media on S3, read and deleted', () => {
  it('mediaUris hold a presigned GET of the object that plays without a bearer token, seeks with Range and has the format as extension', async () => {
    const recordingId = await uploadingRecording()
    const bytes = wav(0.5)
    expect((await upload(recordingId, bytes, { 'content-type': 'audio/wav' })).statusCode).toBe(200)
    const got = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${recordingId}?mediaFormats=WAV` })
    const uri = new URL(got.json<Recording>().mediaUris?.S?.mediaUri ?? '')
    expect(`${uri.origin}/`).toBe(`${new URL(s3.endpoint).origin}/`)
    expect(uri.pathname).toMatch(new RegExp(`/${s3.bucket}/${DEFAULT_ORGANIZATION_ID}/${recordingId}/[0-9a-f-]+\\.wav$`))
    expect(uri.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/)
    const whole = await fetch(uri)
    expect(whole.status).toBe(200)
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true)
    const part = await fetch(uri, { headers: { range: 'bytes=44-99' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(44, 100))).toBe(true)
  })

  it('deleting the recording removes its object from the bucket', async () => {
    const recordingId = await uploadingRecording()
    expect((await upload(recordingId, wav(0.5), { 'content-type': 'audio/wav' })).statusCode).toBe(200)
    expect(await objectsOf(recordingId)).toHaveLength(1)
    expect((await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${recordingId}` })).statusCode).toBe(204)
    await eventually(async () => (await objectsOf(recordingId)).length === 0, 'the object is removed')
  })

  it('the reconciliation removes objects no recording names, once older than the grace period', async () => {
    const named = await uploadingRecording()
    expect((await upload(named, wav(0.5), { 'content-type': 'audio/wav' })).statusCode).toBe(200)
    const stray = randomUUID()
    await bucket.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${DEFAULT_ORGANIZATION_ID}/${stray}/lost.wav`, Body: wav(0.25) }))
    // Everything is younger than any real grace period: reconcile as of a moment from now.
    const removed = await ctx.app.services.media.reconcile(new Date(Date.now() + 60_000))
    expect(removed.unnamed).toBe(1)
    expect(await objectsOf(stray)).toEqual([])
    expect(await objectsOf(named)).toHaveLength(1)
  })
})

describe('S3 settings', () => {
  it('need S3_BUCKET with MEDIA_STORAGE=s3, and default to AWS in us-east-1 with virtual-host addressing', () => {
    expect(() => loadConfig({ MEDIA_STORAGE: 's3' })).toThrow(/MEDIA_STORAGE=s3 needs S3_BUCKET/)
    expect(loadConfig({ MEDIA_STORAGE: 's3', S3_BUCKET: 'media' })).toMatchObject({ S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: false })
    expect(loadConfig({ MEDIA_STORAGE: 's3', S3_BUCKET: 'media' }).S3_ENDPOINT).toBeUndefined()
    expect(() => loadConfig({ MEDIA_STORAGE: 's3', S3_BUCKET: 'media', S3_ENDPOINT: 'localhost:9000' })).toThrow(/S3_ENDPOINT/)
  })
})
