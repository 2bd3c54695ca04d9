import platformClient from 'purecloud-platform-client-v2'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { eventually, type TestContext } from './helpers.js'
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
beforeAll(async () => {
  suite = await startSdkSuite('sdk-jobs-org', 'sdk jobs suite')
  ;({ ctx, baseUrl, token } = suite)
})
afterAll(async () => {
  await suite?.close()
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

  it('rejects an invalid job with the ErrorBody (400)', async () => {
    const rejected = (await api.postRecordingJobs({ action: 'DELETE', conversationQuery: { interval: 'yesterday' } }).catch((error: unknown) => error)) as { status: number; code: string }
    expect(rejected).toMatchObject({ status: 400 })
  })
})
