import { ALL_PERMISSIONS } from '../src/auth/permissions.js'
import platformClient from 'purecloud-platform-client-v2'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { eventually, type TestContext } from './helpers.js'
import { startSdkSuite, type SdkSuite } from './sdk-suite.js'
import { wav } from './media.js'

/**
 * Batch downloads through the official Genesys JavaScript SDK (RecordingApi.postRecordingBatchrequests and
 * getRecordingBatchrequest), pointed at the listening service over real HTTP, as test/sdk.test.ts does.
 */

let ctx: TestContext
let baseUrl: string
let token: string
const client = platformClient.ApiClient.instance
const api = new platformClient.RecordingApi()

let suite: SdkSuite | undefined
beforeAll(async () => {
  suite = await startSdkSuite('sdk-batch-org', 'sdk batch suite')
  ;({ ctx, baseUrl, token } = suite)
})
afterAll(async () => {
  await suite?.close()
})

/** The SDK cannot create recordings nor upload media: producers use the store's own routes. */
async function recordingWithMedia(conversationId: string, bytes: Buffer): Promise<string> {
  const headers = { authorization: `Bearer ${token}` }
  const recordings = `${baseUrl}/api/v2/conversations/${conversationId}/recordings`
  const created = await fetch(recordings, {
    method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'call', media: 'audio' }),
  })
  expect(created.status).toBe(201)
  const { id } = (await created.json()) as Recording
  const uploaded = await fetch(`${recordings}/${id}/media`, { method: 'PUT', headers: { ...headers, 'content-type': 'audio/wav' }, body: bytes })
  expect(uploaded.status).toBe(200)
  return id as string
}

describe('RecordingApi batch downloads against the service', () => {
  it('postRecordingBatchrequests submits, getRecordingBatchrequest reaches Completed with a resultUrl that downloads the media', async () => {
    const conversationId = randomUUID()
    const bytes = wav(0.75)
    const recordingId = await recordingWithMedia(conversationId, bytes)
    const missing = randomUUID()

    const submitted = await api.postRecordingBatchrequests({
      batchDownloadRequestList: [{ conversationId }, { conversationId: missing }],
    })
    expect(submitted).toEqual({ id: expect.any(String), selfUri: `/api/v2/recording/batchrequests/${submitted.id}` })

    let status: platformClient.Models.BatchDownloadJobStatusResult | undefined
    await eventually(async () => {
      status = await api.getRecordingBatchrequest(submitted.id as string)
      return status.status === 'Completed'
    }, 'the batch completed')
    expect(status).toMatchObject({ id: submitted.id, jobId: submitted.id, expectedResultCount: 2, resultCount: 2, errorCount: 1 })
    const [result, error] = status?.results ?? []
    expect(result).toEqual({ conversationId, recordingId, resultUrl: expect.stringContaining(`${baseUrl}/media/`), contentType: 'audio/wav' })
    expect(error).toEqual({ conversationId: missing, errorMsg: expect.stringContaining('No recordings') })

    // Downloaded as a script would: no token, the URL is the credential.
    const media = await fetch(result?.resultUrl ?? '')
    expect(media.status).toBe(200)
    expect(media.headers.get('content-type')).toBe('audio/wav')
    expect(Buffer.from(await media.arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('answers 404 to another client, which the SDK rejects with the ErrorBody', async () => {
    const { id } = await api.postRecordingBatchrequests({ batchDownloadRequestList: [{ conversationId: randomUUID() }] })
    const other = await ctx.app.services.clients.create({ organization: 'sdk-batch-org', name: 'another client', permissions: [...ALL_PERMISSIONS] })
    const { accessToken } = await client.loginClientCredentialsGrant(other.clientId, other.clientSecret)
    client.setAccessToken(accessToken)
    try {
      const rejected = (await api.getRecordingBatchrequest(id as string).catch((error: unknown) => error)) as { status: number; code: string }
      expect(rejected).toMatchObject({ status: 404, code: 'not.found' })
    } finally {
      client.setAccessToken(token)
    }
  })
})
