import platformClient from 'purecloud-platform-client-v2'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { EXPORT_TASK } from '../src/services/recording-job-service.js'
import { eventually, type TestContext } from './helpers.js'
import { wav } from './media.js'
import { startSdkSuite, type SdkSuite } from './sdk-suite.js'

/**
 * Recording bulk jobs through the official Genesys JavaScript SDK (RecordingApi.postRecordingJobs, getRecordingJob,
 * putRecordingJob, getRecordingJobs, getRecordingJobFailedrecordings, deleteRecordingJob), pointed at the listening
 * service over real HTTP, as test/sdk.test.ts does.
 */

let ctx: TestContext
let baseUrl: string
let token: string
const api = new platformClient.RecordingApi()

let suite: SdkSuite | undefined
/** The directory of the export target `archive`. */
let exportDir: string
beforeAll(async () => {
  exportDir = await mkdtemp(path.join(tmpdir(), 'sdk-recording-export-'))
  // One recording per batch, so that an executing job passes through partial progress.
  suite = await startSdkSuite('sdk-jobs-org', 'sdk jobs suite', { EXPORT_TARGETS: `archive=${exportDir}`, RECORDING_JOB_BATCH_SIZE: '1' })
  ;({ ctx, baseUrl, token } = suite)
})
afterAll(async () => {
  await suite?.close()
  if (exportDir) await rm(exportDir, { recursive: true, force: true })
})

/** The SDK cannot create recordings: producers use the store's own route. */
async function recording(conversationId: string, startTime: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v2/conversations/${conversationId}/recordings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'call', media: 'audio', startTime, mediaUris: { S: { mediaUri: 'https://media.example.internal/a.webm' } } }),
  })
  expect(res.status).toBe(201)
  return (await res.json() as Recording).id as string
}

/** A recording whose media is uploaded to this store (the SDK has no call for either). */
async function recordingWithMedia(conversationId: string, startTime: string, bytes: Buffer): Promise<string> {
  const headers = { authorization: `Bearer ${token}` }
  const recordings = `${baseUrl}/api/v2/conversations/${conversationId}/recordings`
  const created = await fetch(recordings, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'exported call', media: 'audio', startTime }),
  })
  expect(created.status).toBe(201)
  const { id } = (await created.json()) as Recording
  const uploaded = await fetch(`${recordings}/${id}/media`, { method: 'PUT', headers: { ...headers, 'content-type': 'audio/wav' }, body: bytes })
  expect(uploaded.status, await uploaded.clone().text()).toBe(200)
  return id as string
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name))).sort()
}

describe('RecordingApi recording jobs against the service', () => {
  it('a DELETE job end to end: postRecordingJobs, READY, putRecordingJob PROCESSING, FULFILLED, and the deleteDate is set', async () => {
    const conversationId = randomUUID()
    const ids = [await recording(conversationId, '2013-02-03T10:00:00.000Z'), await recording(conversationId, '2013-02-03T11:00:00.000Z')]
    const other = await recording(randomUUID(), '2013-02-03T12:00:00.000Z')
    const deleteDate = '2032-01-01T00:00:00.000Z'

    const job = await api.postRecordingJobs({
      action: 'DELETE',
      actionDate: deleteDate,
      includeScreenRecordings: true,
      conversationQuery: {
        interval: '2013-02-03T00:00:00.000Z/2013-02-04T00:00:00.000Z',
        conversationFilters: [{ type: 'and', predicates: [{ type: 'dimension', dimension: 'conversationId', operator: 'matches', value: conversationId }] }],
      },
    })
    expect(job).toMatchObject({ id: expect.any(String), state: 'PENDING', selfUri: `/api/v2/recording/jobs/${job.id}` })

    let seen: platformClient.Models.RecordingJob | undefined
    await eventually(async () => {
      seen = await api.getRecordingJob(job.id as string)
      return seen.state === 'READY'
    }, 'the job READY')
    expect(seen).toMatchObject({ totalConversations: 1, totalRecordings: 2, percentProgress: 0 })

    const executed = await api.putRecordingJob(job.id as string, { state: 'PROCESSING' })
    expect(['PROCESSING', 'FULFILLED']).toContain(executed.state)
    await eventually(async () => {
      seen = await api.getRecordingJob(job.id as string)
      return seen.state === 'FULFILLED'
    }, 'the job FULFILLED')
    expect(seen).toMatchObject({ totalProcessedRecordings: 2, totalSkippedRecordings: 0, totalFailedRecordings: 0, percentProgress: 100 })

    for (const id of ids) expect((await api.getConversationRecording(conversationId, id, { formatId: 'NONE' })).deleteDate).toBe(deleteDate)
    const untouched = await ctx.sql.query<{ d: Date | null }>('SELECT delete_date AS d FROM recordings WHERE id = $1', [other])
    expect(untouched.rows[0]?.d).toBeNull()

    const listing = await api.getRecordingJobs({ jobType: 'DELETE', state: 'FULFILLED', showOnlyMyJobs: true })
    expect(listing.entities?.map((entity) => entity.id)).toEqual([job.id])
    expect(listing).toMatchObject({ total: 1, pageNumber: 1, pageSize: 25 })
    const failed = await api.getRecordingJobFailedrecordings(job.id as string, {})
    expect(failed).toMatchObject({ entities: [], total: 0 })

    await api.deleteRecordingJob(job.id as string)
    const gone = (await api.getRecordingJob(job.id as string).catch((error: unknown) => error)) as { status: number; code: string }
    expect(gone).toMatchObject({ status: 404, code: 'not.found' })
  })

  it('an EXPORT job end to end: READY, PROCESSING with consistent progress, FULFILLED; the export task writes media and JSON of the selected recordings only', async () => {
    const [first, second] = [randomUUID(), randomUUID()]
    const selected = [
      { conversationId: first, bytes: wav(0.5), id: '' },
      { conversationId: first, bytes: wav(0.25, 16_000), id: '' },
      { conversationId: second, bytes: wav(0.75), id: '' },
    ]
    for (const [index, entry] of selected.entries()) entry.id = await recordingWithMedia(entry.conversationId, `2014-05-06T1${index}:00:00.000Z`, entry.bytes)
    // Same conversation, the day after the interval: not selected.
    const outside = await recordingWithMedia(first, '2014-05-07T10:00:00.000Z', wav(0.5))

    const actionDate = new Date(Date.now() - 60_000).toISOString()
    const job = await api.postRecordingJobs({
      action: 'EXPORT',
      integrationId: 'archive',
      actionDate,
      conversationQuery: { interval: '2014-05-06T00:00:00.000Z/2014-05-07T00:00:00.000Z' },
    })
    expect(job).toMatchObject({ id: expect.any(String), state: 'PENDING', recordingJobsQuery: { action: 'EXPORT', integrationId: 'archive', actionDate } })
    const jobId = job.id as string

    let seen: platformClient.Models.RecordingJob | undefined
    await eventually(async () => {
      seen = await api.getRecordingJob(jobId)
      return seen.state === 'READY'
    }, 'the job READY')
    expect(seen).toMatchObject({ totalConversations: 2, totalRecordings: 3, totalProcessedRecordings: 0, percentProgress: 0 })

    const executed = await api.putRecordingJob(jobId, { state: 'PROCESSING' })
    expect(['PROCESSING', 'FULFILLED']).toContain(executed.state)
    // Every read while it runs: the percentage follows the counters and never goes back.
    const reads: platformClient.Models.RecordingJob[] = []
    await eventually(async () => {
      seen = await api.getRecordingJob(jobId)
      reads.push(seen)
      return seen.state === 'FULFILLED'
    }, 'the job FULFILLED', 30_000)
    for (const read of reads.filter((r) => r.state === 'PROCESSING')) {
      const done = (read.totalProcessedRecordings ?? 0) + (read.totalSkippedRecordings ?? 0) + (read.totalFailedRecordings ?? 0)
      expect(read.percentProgress).toBe(Math.floor((done * 100) / 3))
    }
    const percents = reads.map((read) => read.percentProgress ?? -1)
    expect(percents).toEqual([...percents].sort((a, b) => a - b))
    expect(seen).toMatchObject({ totalConversations: 2, totalRecordings: 3, totalProcessedRecordings: 3, totalSkippedRecordings: 0, totalFailedRecordings: 0, percentProgress: 100 })
    expect(await api.getRecordingJobFailedrecordings(jobId, {})).toMatchObject({ entities: [], total: 0 })
    expect((await api.getRecordingJobs({ jobType: 'EXPORT', showOnlyMyJobs: true })).entities?.map((entity) => entity.id)).toEqual([jobId])

    for (const { conversationId, id } of selected) {
      expect(await api.getConversationRecording(conversationId, id, { formatId: 'NONE' })).toMatchObject({ exportDate: actionDate })
    }
    // The service's own export task, run now instead of at the next minute.
    await ctx.sql.query('SELECT graphile_worker.add_job($1)', [EXPORT_TASK])
    await eventually(async () => {
      for (const { conversationId, id } of selected) {
        if ((await api.getConversationRecording(conversationId, id, { formatId: 'NONE' })).exportedDate === undefined) return false
      }
      return true
    }, 'the recordings exported', 30_000)

    expect(await filesUnder(exportDir)).toEqual(selected.flatMap(({ conversationId, id }) => [`${conversationId}/${id}.json`, `${conversationId}/${id}.wav`].map(path.normalize)).sort())
    for (const { conversationId, id, bytes } of selected) {
      expect((await readFile(path.join(exportDir, conversationId, `${id}.wav`))).equals(bytes)).toBe(true)
      const document = JSON.parse(await readFile(path.join(exportDir, conversationId, `${id}.json`), 'utf8')) as Record<string, unknown>
      // The recording as the SDK reads it now; the export was written before its exportedDate was set.
      const { exportedDate, mediaUris: _, ...wire } = (await api.getConversationRecording(conversationId, id, { formatId: 'NONE' })) as Record<string, unknown>
      expect(Date.parse(String(exportedDate))).toBeGreaterThanOrEqual(Date.parse(actionDate))
      expect(document).toMatchObject({ id, conversationId, media: 'audio', name: 'exported call', exportDate: actionDate })
      expect(document).not.toHaveProperty('mediaUris')
      expect(document).toEqual(wire)
    }
    const untouched = await api.getConversationRecording(first, outside, { formatId: 'NONE' })
    expect(untouched.exportDate).toBeUndefined()
    expect(untouched.exportedDate).toBeUndefined()
  })

  it('rejects an invalid job with the ErrorBody (400)', async () => {
    const rejected = (await api.postRecordingJobs({ action: 'DELETE', conversationQuery: { interval: 'yesterday' } }).catch((error: unknown) => error)) as { status: number; code: string }
    expect(rejected).toMatchObject({ status: 400 })
  })
})
