import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BatchDownloadJobStatusResult, BatchDownloadJobSubmissionResult } from '../../src/schemas/batch-downloads.js'
import { ALL_PERMISSIONS, REQUIRES } from '../../src/auth/permissions.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { chatRecording } from '../fixtures.js'
import { createOrganization, createTestContext, eventually, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'
import { wav } from '../media.js'

const BATCHES = '/api/v2/recording/batchrequests'

let ctx: TestContext
/** A second app over a database of its own that runs no jobs: its batches stay InProgress until resolved by hand. */
let idle: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
  idle = await createTestContext({ JOB_CONCURRENCY: '0' })
})
afterAll(async () => {
  await ctx?.close()
  await idle?.close()
})

type Item = { conversationId?: string; recordingId?: string }

const submit = (items: Item[], on: TestContext = ctx) => on.inject({ method: 'POST', url: BATCHES, payload: { batchDownloadRequestList: items } })

async function submitted(items: Item[], on: TestContext = ctx): Promise<string> {
  const res = await submit(items, on)
  expect(res.statusCode, res.body).toBe(200)
  const { id, selfUri } = res.json<BatchDownloadJobSubmissionResult>()
  expect(selfUri).toBe(`${BATCHES}/${id}`)
  return id
}

const status = (id: string, headers: Record<string, string> = {}, on: TestContext = ctx) =>
  on.inject({ method: 'GET', url: `${BATCHES}/${id}`, headers })

/** The batch once the background job has resolved it. */
async function completed(id: string): Promise<BatchDownloadJobStatusResult> {
  let last: BatchDownloadJobStatusResult | undefined
  await eventually(async () => {
    const res = await status(id)
    expect(res.statusCode, res.body).toBe(200)
    last = res.json<BatchDownloadJobStatusResult>()
    return last.status === 'Completed'
  }, `batch ${id} completed`)
  return last as BatchDownloadJobStatusResult
}

/** A recording of `conversationId` whose WAV media was uploaded to this store. */
async function withStoredMedia(conversationId: string, bytes: Buffer, on: TestContext = ctx): Promise<string> {
  const recording = await ingest(on, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  const res = await on.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recording.id}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
  expect(res.statusCode, res.body).toBe(200)
  return recording.id as string
}

/** The media a result URL serves, fetched without a bearer token (the URL's signature is the credential). */
async function download(resultUrl: string | undefined, on: TestContext = ctx) {
  const url = new URL(resultUrl ?? '')
  return on.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` })
}

describe('POST /api/v2/recording/batchrequests', () => {
  it.each([
    ['no items', { batchDownloadRequestList: [] }],
    ['101 items', { batchDownloadRequestList: Array.from({ length: 101 }, () => ({ conversationId: randomUUID() })) }],
    ['an item without conversationId', { batchDownloadRequestList: [{ conversationId: randomUUID() }, { recordingId: randomUUID() }] }],
    ['an empty conversationId', { batchDownloadRequestList: [{ conversationId: '' }] }],
    ['no list', {}],
  ])('answers 400 with the error body to %s, and stores nothing', async (_case, payload) => {
    const count = async () => (await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM batch_downloads')).rows[0]?.n
    const before = await count()
    const body = expectErrorBody(await ctx.inject({ method: 'POST', url: BATCHES, payload }), 400)
    expect(body.details.map((detail) => `${detail.fieldName} ${detail.pointer}`).join(' ')).toMatch(/batchDownloadRequestList|conversationId/)
    expect(await count()).toBe(before)
  })

  it('takes 100 items, and members it does not know (request bodies are open)', async () => {
    const id = await submitted(Array.from({ length: 100 }, () => ({ conversationId: randomUUID(), note: 'ignored' })))
    const batch = await completed(id)
    expect(batch).toMatchObject({ expectedResultCount: 100, resultCount: 100, errorCount: 100 })
  })

  it('needs one of the recording view permissions', async () => {
    const token = await ctx.token(['recording:annotation:view'])
    const res = await ctx.app.inject({
      method: 'POST', url: BATCHES, payload: { batchDownloadRequestList: [{ conversationId: randomUUID() }] }, headers: { authorization: `Bearer ${token}` },
    })
    expect(expectErrorBody(res, 403).message).toContain('recording:recording:view')
  })
})

describe('GET /api/v2/recording/batchrequests/:jobId', () => {
  it('answers a URL of each stored original, which downloads the identical bytes, with its content type', async () => {
    const conversationId = randomUUID()
    const [first, second] = [wav(0.5), wav(1.25)]
    const firstId = await withStoredMedia(conversationId, first)
    const secondId = await withStoredMedia(conversationId, second)
    const id = await submitted([{ conversationId }])
    const batch = await completed(id)
    expect(batch).toMatchObject({ id, jobId: id, status: 'Completed', expectedResultCount: 2, resultCount: 2, errorCount: 0, selfUri: `${BATCHES}/${id}` })
    // Oldest first, as the conversation's recordings are listed.
    expect(batch.results.map((result) => result.recordingId)).toEqual([firstId, secondId])
    for (const [result, bytes] of [[batch.results[0], first], [batch.results[1], second]] as const) {
      expect(result).toEqual({ conversationId, recordingId: expect.any(String), resultUrl: expect.stringMatching(/^http:\/\//), contentType: 'audio/wav' })
      const media = await download(result?.resultUrl)
      expect(media.statusCode).toBe(200)
      expect(media.headers['content-type']).toBe('audio/wav')
      expect(media.rawPayload.equals(bytes)).toBe(true)
    }
    // Only the named recording, when one is named.
    const one = await completed(await submitted([{ conversationId, recordingId: secondId }]))
    expect(one.results).toEqual([expect.objectContaining({ recordingId: secondId, contentType: 'audio/wav' })])
  })

  it('signs URLs when read, for the recordingBatchDownloadUrlTtl setting (never stored)', async () => {
    const conversationId = randomUUID()
    await withStoredMedia(conversationId, wav(0.25))
    const id = await submitted([{ conversationId }])
    const expiresIn = async () => {
      const url = new URL((await completed(id)).results[0]?.resultUrl ?? '')
      return Number(url.searchParams.get('expires')) * 1000 - Date.now()
    }
    expect(await expiresIn()).toBeGreaterThan(58 * 60_000)
    const { rows } = await ctx.sql.query('SELECT * FROM batch_download_results r JOIN batch_downloads b ON b.id = r.batch_id WHERE b.id = $1', [id])
    expect(JSON.stringify(rows)).not.toMatch(/signature|https?:/)
    const put = await ctx.inject({ method: 'PUT', url: '/api/v2/recording/settings', payload: { recordingBatchDownloadUrlTtl: 5 } })
    expect(put.statusCode, put.body).toBe(200)
    const soon = await expiresIn()
    expect(soon).toBeLessThanOrEqual(5 * 60_000)
    expect(soon).toBeGreaterThan(3 * 60_000)
    await ctx.inject({ method: 'PUT', url: '/api/v2/recording/settings', payload: { recordingBatchDownloadUrlTtl: 60 } })
  })

  it('answers the link of media stored elsewhere (rendition S first), without a content type', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, {
      media: 'audio', mediaUris: { L: { mediaUri: 'https://media.example.com/left.webm' }, S: { mediaUri: 'https://media.example.com/call.webm' } },
    })
    const other = await ingest(ctx, conversationId, { media: 'audio', mediaUris: { WAV: { mediaUri: 'https://media.example.com/b.wav' } } })
    const batch = await completed(await submitted([{ conversationId }]))
    expect(batch.results).toEqual([
      { conversationId, recordingId: recording.id, resultUrl: 'https://media.example.com/call.webm' },
      { conversationId, recordingId: other.id, resultUrl: 'https://media.example.com/b.wav' },
    ])
    expect(batch.errorCount).toBe(0)
  })

  it('answers an error that says why for whatever cannot be downloaded, and counts results and errors', async () => {
    const conversationId = randomUUID()
    const stored = await withStoredMedia(conversationId, wav(0.25))
    const uploading = await ingest(ctx, conversationId, { name: 'pending', media: 'audio' })
    const chat = await ingest(ctx, conversationId, chatRecording)
    const elsewhere = await ingest(ctx, randomUUID(), { media: 'audio', mediaUris: { S: { mediaUri: 'https://media.example.com/x.wav' } } })
    const [unknownConversation, unknownRecording] = [randomUUID(), randomUUID()]
    const id = await submitted([
      { conversationId },
      { conversationId: unknownConversation },
      { conversationId: unknownConversation, recordingId: unknownRecording },
      { conversationId, recordingId: unknownRecording },
      { conversationId, recordingId: 'not-a-uuid' },
      { conversationId, recordingId: elsewhere.id as string },
    ])
    const batch = await completed(id)
    expect(batch).toMatchObject({ status: 'Completed', expectedResultCount: 8, resultCount: 8, errorCount: 7 })
    expect(batch.results).toEqual([
      { conversationId, recordingId: stored, resultUrl: expect.any(String), contentType: 'audio/wav' },
      { conversationId, recordingId: uploading.id, errorMsg: expect.stringContaining('still being uploaded') },
      { conversationId, recordingId: chat.id, errorMsg: expect.stringContaining('no media') },
      { conversationId: unknownConversation, errorMsg: `No recordings of conversation ${unknownConversation} were found.` },
      { conversationId: unknownConversation, recordingId: unknownRecording, errorMsg: `Recording ${unknownRecording} was not found.` },
      { conversationId, recordingId: unknownRecording, errorMsg: `Recording ${unknownRecording} was not found.` },
      { conversationId, recordingId: 'not-a-uuid', errorMsg: 'Recording not-a-uuid was not found.' },
      { conversationId, recordingId: elsewhere.id, errorMsg: `Recording ${elsewhere.id} is not a recording of conversation ${conversationId}.` },
    ])
  })

  it('answers archived media as an error, also when it was archived after the batch completed', async () => {
    const conversationId = randomUUID()
    const recordingId = await withStoredMedia(conversationId, wav(0.25))
    const id = await submitted([{ conversationId }])
    expect((await completed(id)).results[0]?.resultUrl).toEqual(expect.any(String))
    await ctx.sql.query(`UPDATE recordings SET file_state = 'ARCHIVED', archive_medium = 'CLOUDARCHIVE' WHERE id = $1`, [recordingId])
    expect((await completed(id))).toMatchObject({ errorCount: 1, results: [{ conversationId, recordingId, errorMsg: expect.stringContaining('no longer available') }] })
    expect((await completed(await submitted([{ conversationId }]))).results).toEqual([{ conversationId, recordingId, errorMsg: expect.stringContaining('archived') }])
  })

  it('is 404 to another client of the organization, to another organization, and for ids that do not exist', async () => {
    const conversationId = randomUUID()
    await withStoredMedia(conversationId, wav(0.25))
    const id = await submitted([{ conversationId }])
    await completed(id)
    const sameOrganization = await ctx.token(['recording:recording:view'])
    expect(expectErrorBody(await status(id, { authorization: `Bearer ${sameOrganization}` }), 404).message).toContain(id)
    const otherOrganization = await ctx.token(undefined, await createOrganization(ctx, `batch-other-${randomUUID()}`))
    expectErrorBody(await status(id, { authorization: `Bearer ${otherOrganization}` }), 404)
    expectErrorBody(await status(randomUUID()), 404)
    expectErrorBody(await status('not-a-uuid'), 404)
    // The other organization's batch of the same conversation finds none of this organization's recordings.
    const theirs = await ctx.app.inject({
      method: 'POST', url: BATCHES, payload: { batchDownloadRequestList: [{ conversationId }] }, headers: { authorization: `Bearer ${otherOrganization}` },
    })
    const theirId = theirs.json<BatchDownloadJobSubmissionResult>().id
    await eventually(async () => {
      const res = await status(theirId, { authorization: `Bearer ${otherOrganization}` })
      return res.json<BatchDownloadJobStatusResult>().status === 'Completed'
    }, 'the other organization\'s batch completed')
    const res = await status(theirId, { authorization: `Bearer ${otherOrganization}` })
    expect(res.json<BatchDownloadJobStatusResult>()).toMatchObject({ errorCount: 1, results: [{ conversationId, errorMsg: expect.stringContaining('No recordings') }] })
  })
})

describe('who may read a batch', () => {
  it.each(REQUIRES.viewRecordings.map((permission) => [permission]))('a client holding only %s submits and reads its own batches', async (permission) => {
    const headers = { authorization: `Bearer ${await ctx.token([permission])}` }
    const res = await ctx.app.inject({ method: 'POST', url: BATCHES, payload: { batchDownloadRequestList: [{ conversationId: randomUUID() }] }, headers })
    expect(res.statusCode, res.body).toBe(200)
    const { id } = res.json<BatchDownloadJobSubmissionResult>()
    expect((await status(id, headers)).statusCode).toBe(200)
  })

  it('a client without a recording view permission gets 403, also for a batch of its own', async () => {
    const id = await submitted([{ conversationId: randomUUID() }])
    const withoutView = ALL_PERMISSIONS.filter((permission) => !(REQUIRES.viewRecordings as readonly string[]).includes(permission))
    // The same client id as the submitter's (organization and number of permissions), without the permission.
    const token = await ctx.app.tokens.issue({ clientId: `test-${DEFAULT_ORGANIZATION_ID}-${ALL_PERMISSIONS.length}`, name: 'test', organizationId: DEFAULT_ORGANIZATION_ID, permissions: withoutView })
    expect(expectErrorBody(await status(id, { authorization: `Bearer ${token}` }), 403).message).toContain('recording:recording:view')
  })
})

describe('processing', () => {
  it('is InProgress (the item count expected) until the job has run; running it again changes nothing', async () => {
    const conversationId = randomUUID()
    const bytes = wav(0.5)
    const recordingId = await withStoredMedia(conversationId, bytes, idle)
    const id = await submitted([{ conversationId }, { conversationId: randomUUID() }], idle)
    const pending = await status(id, {}, idle)
    expect(pending.json()).toEqual({
      id, jobId: id, expectedResultCount: 2, resultCount: 0, errorCount: 0, status: 'InProgress', results: [], selfUri: `${BATCHES}/${id}`,
    })
    // Submitted with its job, in one transaction.
    const { rows: jobs } = await idle.sql.query<{ batch: string }>(
      `SELECT j.payload->>'batchId' AS batch FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
       WHERE t.identifier = 'batchDownloads.resolve'`,
    )
    expect(jobs.map((job) => job.batch)).toContain(id)

    await Promise.all([idle.app.services.batchDownloads.resolve(id), idle.app.services.batchDownloads.resolve(id)])
    await idle.app.services.batchDownloads.resolve(id)
    const done = (await status(id, {}, idle)).json<BatchDownloadJobStatusResult>()
    expect(done).toMatchObject({ status: 'Completed', expectedResultCount: 2, resultCount: 2, errorCount: 1 })
    expect(done.results[0]).toMatchObject({ recordingId })
    expect((await download(done.results[0]?.resultUrl, idle)).rawPayload.equals(bytes)).toBe(true)
    const { rows } = await idle.sql.query<{ n: string }>('SELECT count(*) AS n FROM batch_download_results WHERE batch_id = $1', [id])
    expect(rows[0]?.n).toBe('2')
    // A batch deleted before its job ran is no work.
    await expect(idle.app.services.batchDownloads.resolve(randomUUID())).resolves.toBeUndefined()
  })

  it('deletes batches older than 7 days with their results, and keeps the newer', async () => {
    const old = await submitted([{ conversationId: randomUUID() }], idle)
    const recent = await submitted([{ conversationId: randomUUID() }], idle)
    await idle.app.services.batchDownloads.resolve(old)
    await idle.sql.query(`UPDATE batch_downloads SET created_at = now() - interval '7 days 1 minute' WHERE id = $1`, [old])
    expect(await idle.app.services.batchDownloads.removeExpired()).toBe(1)
    expectErrorBody(await status(old, {}, idle), 404)
    expect((await status(recent, {}, idle)).statusCode).toBe(200)
    const { rows } = await idle.sql.query<{ n: string }>('SELECT count(*) AS n FROM batch_download_results WHERE batch_id = $1', [old])
    expect(rows[0]?.n).toBe('0')
  })
})
