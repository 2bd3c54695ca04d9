import platformClient from 'purecloud-platform-client-v2'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../src/schemas/recording.js'
import { audioRecording, chatRecording, emailRecording, messagingRecording } from './fixtures.js'
import { wav } from './media.js'
import { ALL_PERMISSIONS } from '../src/auth/permissions.js'
import { createTestContext, eventually, type TestContext } from './helpers.js'
import { createRetentionSweep } from '../src/services/retention-sweep.js'

/**
 * The official Genesys JavaScript SDK, pointed at the listening service with setGateway, is the client here: every
 * RecordingApi method the service implements, on success and error paths, over real HTTP on loopback.
 */

let ctx: TestContext
let baseUrl: string
let token: string
const client = platformClient.ApiClient.instance
const api = new platformClient.RecordingApi()

beforeAll(async () => {
  ctx = await createTestContext({ PORT: '0' })
  baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  // ApiClient.instance is a process-wide singleton: point it at this server for this suite only.
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(new URL(baseUrl).port) })
  // Logs in as any SDK application does: POST /oauth/token with HTTP Basic and a form body.
  const credentials = await ctx.app.services.clients.create({ organization: 'sdk-org', name: 'sdk suite', permissions: [...ALL_PERMISSIONS] })
  const auth = await client.loginClientCredentialsGrant(credentials.clientId, credentials.clientSecret)
  expect(auth.accessToken).toEqual(expect.any(String))
  expect(auth.tokenExpiryTime).toBeGreaterThan(Date.now() + 3_600_000)
  token = auth.accessToken
})
afterAll(async () => {
  client.setAccessToken('')
  client.setGateway({ host: '' }) // an empty host removes the override
  await ctx.close()
})

/** The SDK cannot create recordings (Genesys has no such call); producers use the ingest route. */
async function ingest(conversationId: string, body: object): Promise<Recording> {
  const res = await fetch(`${baseUrl}/api/v2/conversations/${conversationId}/recordings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  expect(res.status).toBe(201)
  return (await res.json()) as Recording
}

/** Runs `call` through the SDK as a client of another organization holding every permission, logged in as any is. */
async function asOutsider<T>(call: () => Promise<T>): Promise<T> {
  const outsider = await ctx.app.services.clients.create({ organization: `outsider-${randomUUID()}`, name: 'outsider', permissions: [...ALL_PERMISSIONS] })
  const { access_token: otherToken } = (await (await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: outsider.clientId, client_secret: outsider.clientSecret }),
  })).json()) as { access_token: string }
  client.setAccessToken(otherToken)
  try {
    return await call()
  } finally {
    client.setAccessToken(token)
  }
}

/** What an SDK call rejected with: the parsed ErrorBody for API errors. */
async function rejection(call: Promise<unknown>): Promise<{ status: number; code: string; message: string; contextId: string }> {
  try {
    await call
  } catch (error) {
    return error as { status: number; code: string; message: string; contextId: string }
  }
  throw new Error('the call succeeded')
}

describe('logging in with the SDK', () => {
  it('rejects a wrong secret with the axios error carrying the RFC 6749 body', async () => {
    try {
      const error = (await client.loginClientCredentialsGrant(randomUUID(), 'wrong').catch((e: unknown) => e)) as { response: { status: number; data: { error: string } } }
      expect(error.response.status).toBe(401)
      expect(error.response.data.error).toBe('invalid_client')
    } finally {
      client.setAccessToken(token)
    }
  })

  it('answers API calls without a token with 401 and an ErrorBody', async () => {
    client.setAccessToken('')
    try {
      expect(await rejection(api.getConversationRecordings(randomUUID()))).toMatchObject({ status: 401, code: 'authentication.required' })
    } finally {
      client.setAccessToken(token)
    }
  })

  it('keeps each organization to itself', async () => {
    const conversationId = randomUUID()
    const mine = await ingest(conversationId, chatRecording)
    expect(await asOutsider(() => rejection(api.getConversationRecording(conversationId, mine.id as string)))).toMatchObject({ status: 404 })
    expect(await api.getConversationRecording(conversationId, mine.id as string)).toEqual(mine)
  })
})

describe('RecordingApi against the service', () => {
  it.each([
    ['audio', audioRecording],
    ['chat', chatRecording],
    ['email', emailRecording],
    ['messaging (rich content)', messagingRecording],
  ])('getConversationRecording returns every field of a stored %s recording', async (_kind, body) => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, body)
    const read = await api.getConversationRecording(conversationId, stored.id as string)
    expect(read).toEqual(stored)
    for (const [field, value] of Object.entries(body).filter(([field]) => field !== 'users' && field !== 'annotations')) {
      expect(read[field as keyof typeof read], field).toEqual(value)
    }
    expect(read.selfUri).toBe(`/api/v2/conversations/${conversationId}/recordings/${stored.id}`)
  })

  it('passes query options the way the SDK serialises them (mediaFormats comma-joined, formatId NONE)', async () => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, {
      media: 'audio',
      mediaUris: { WAV: { mediaUri: 'https://m.example/a.wav' }, S: { mediaUri: 'https://m.example/a.webm' }, x: { mediaUri: 'https://m.example/a.mp3' } },
    })
    const narrowed = await api.getConversationRecording(conversationId, stored.id as string, { mediaFormats: ['WAV', 'MP3'], fileName: null as unknown as string })
    expect(Object.keys(narrowed.mediaUris ?? {}).sort()).toEqual(['WAV', 'x'])
    const none = await api.getConversationRecording(conversationId, stored.id as string, { formatId: 'NONE', download: false })
    expect(none).not.toHaveProperty('mediaUris')
    const list = await api.getConversationRecordings(conversationId, { maxWaitMs: 0, formatId: 'NONE', includePauseAnnotationsForScreenRecordings: false })
    expect(list).toHaveLength(1)
    expect(list[0]).not.toHaveProperty('mediaUris')
  })

  it('resolves 202 like 200, and shows it with extended responses', async () => {
    const conversationId = randomUUID()
    const uploading = await ingest(conversationId, { media: 'audio', name: 'not yet playable' })
    expect(await api.getConversationRecording(conversationId, uploading.id as string)).toMatchObject({ fileState: 'UPLOADING' })
    client.setReturnExtendedResponses(true)
    try {
      const extended = (await api.getConversationRecording(conversationId, uploading.id as string)) as unknown as { status: number; body: Recording }
      expect(extended.status).toBe(202)
      expect(extended.body).toMatchObject({ id: uploading.id, fileState: 'UPLOADING' })
      expect(extended.body).not.toHaveProperty('mediaUris')
    } finally {
      client.setReturnExtendedResponses(false)
    }
  })

  it('reads uploaded media: the recording turns AVAILABLE with size and duration, and its mediaUri plays and seeks without a token', async () => {
    const conversationId = randomUUID()
    const uploading = await ingest(conversationId, { media: 'audio', name: 'uploaded call', startTime: '2024-05-01T12:00:00.000Z' })
    const bytes = wav(1)
    const put = await fetch(`${baseUrl}/api/v2/conversations/${conversationId}/recordings/${uploading.id}/media`, {
      method: 'PUT',
      headers: { 'content-type': 'audio/wav', authorization: `Bearer ${token}` },
      body: bytes,
    })
    expect(put.status).toBe(200)
    // Asked for in its own format, the stored file itself (test/sdk-renditions.test.ts makes the others).
    const recording = await api.getConversationRecording(conversationId, uploading.id as string, { formatId: 'WAV' })
    expect(recording).toMatchObject({ fileState: 'AVAILABLE', outputSizeInBytes: bytes.length, outputDurationMs: 1000 })
    // On the origin the server listens on (PORT=0 took a free port).
    const mediaUri = recording.mediaUris?.S?.mediaUri ?? ''
    expect(mediaUri.startsWith(`${baseUrl}/media/`)).toBe(true)
    const played = await fetch(mediaUri)
    expect(played.status).toBe(200)
    expect(played.headers.get('content-type')).toBe('audio/wav')
    expect(Buffer.from(await played.arrayBuffer()).equals(bytes)).toBe(true)
    const sought = await fetch(mediaUri, { headers: { range: 'bytes=8000-8999' } })
    expect(sought.status).toBe(206)
    expect(Buffer.from(await sought.arrayBuffer()).equals(bytes.subarray(8000, 9000))).toBe(true)
    const asUploaded = await api.getConversationRecording(conversationId, uploading.id as string, { download: true })
    expect(asUploaded.mediaUris?.S?.mediaUri).toMatch(/\/S\.wav\?/)
  })

  it('getConversationRecordings lists the conversation in order', async () => {
    const conversationId = randomUUID()
    const first = await ingest(conversationId, chatRecording)
    const second = await ingest(conversationId, emailRecording)
    const list = await api.getConversationRecordings(conversationId)
    expect(list).toEqual([first, second])
  })

  it('putConversationRecording: read, modify, write back the whole object; only retention changes', async () => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, audioRecording)
    const read = await api.getConversationRecording(conversationId, stored.id as string)
    const body = { ...read, name: 'renamed by client', fileState: 'ARCHIVED', deleteDate: '2035-01-01T00:00:00.000Z', archiveDate: undefined }
    const updated = await api.putConversationRecording(conversationId, stored.id as string, body, { clearExport: true })
    const { archiveDate: _cleared, ...rest } = stored
    expect(updated).toEqual({ ...rest, deleteDate: '2035-01-01T00:00:00.000Z' })
    expect(await api.getConversationRecording(conversationId, stored.id as string)).toEqual(updated)
  })

  it('putConversationRecording with a later archiveDate restores an archived recording, which then plays again', async () => {
    // An organization of its own: a restore stores the organization's settings (its restoration counter), and the
    // settings test below needs this suite's organization without them.
    const restorer = await ctx.app.services.clients.create({ organization: `restorer-${randomUUID()}`, name: 'restorer', permissions: [...ALL_PERMISSIONS] })
    const ownToken = (await client.loginClientCredentialsGrant(restorer.clientId, restorer.clientSecret)).accessToken
    // The login made the restorer the SDK's caller, until the end of this test.
    try {
      const conversationId = randomUUID()
      const bytes = wav(0.5)
      const recordingUrl = (id = '') => `${baseUrl}/api/v2/conversations/${conversationId}/recordings${id && `/${id}`}`
      const headers = (type: string) => ({ 'content-type': type, authorization: `Bearer ${ownToken}` })
      const created = await fetch(recordingUrl(), {
        method: 'POST',
        headers: headers('application/json'),
        body: JSON.stringify({ media: 'audio', name: 'archived call', archiveDate: new Date(Date.now() + 500).toISOString() }),
      })
      expect(created.status).toBe(201)
      const stored = (await created.json()) as Recording
      const put = await fetch(`${recordingUrl(stored.id)}/media`, { method: 'PUT', headers: headers('audio/wav'), body: bytes })
      expect(put.status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 600))
      // This suite's sweep runs once a minute: one sweep now archives the recording.
      await createRetentionSweep({ prisma: ctx.app.prisma, media: ctx.app.services.media, batchSize: 100 }).sweep({ until: Date.now() + 10_000 })
      const archived = await api.getConversationRecording(conversationId, stored.id as string)
      expect(archived).toMatchObject({ fileState: 'ARCHIVED' })
      expect(archived).not.toHaveProperty('mediaUris')

      const until = new Date(Date.now() + 3_600_000).toISOString()
      const restoring = await api.putConversationRecording(conversationId, stored.id as string, { ...archived, archiveDate: until })
      expect(restoring).toMatchObject({ fileState: 'RESTORING', restoreExpirationTime: until, archiveDate: until })
      await eventually(async () => (await api.getConversationRecording(conversationId, stored.id as string)).fileState === 'RESTORED', 'the recording is restored')
      const restored = await api.getConversationRecording(conversationId, stored.id as string, { formatId: 'WAV' })
      expect(restored).toMatchObject({ fileState: 'RESTORED', restoreExpirationTime: until })
      const played = await fetch(restored.mediaUris?.S?.mediaUri ?? '')
      expect(played.status).toBe(200)
      expect(Buffer.from(await played.arrayBuffer()).equals(bytes)).toBe(true)
    } finally {
      client.setAccessToken(token)
    }
  })

  it('getConversationRecordingmetadata and getConversationRecordingmetadataRecordingId leave media and transcripts out', async () => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, { ...chatRecording, mediaUris: { S: { mediaUri: 'https://m.example/c.zip' } } })
    const one = await api.getConversationRecordingmetadataRecordingId(conversationId, stored.id as string)
    expect(one).toMatchObject({ id: stored.id, name: chatRecording.name, media: 'chat', fileState: 'AVAILABLE', selfUri: stored.selfUri })
    for (const absent of ['transcript', 'mediaUris', 'users', 'creationTime']) expect(one).not.toHaveProperty(absent)
    expect(await api.getConversationRecordingmetadata(conversationId)).toEqual([one])
  })

  it('annotations: post, list, get, put, delete', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(conversationId, audioRecording)
    const recordingId = recording.id as string
    const created = await api.postConversationRecordingAnnotations(conversationId, recordingId, {
      name: 'escalation', type: 'bookmark', location: 65_000, durationMs: 0, description: 'customer asked for a supervisor',
    })
    expect(created).toMatchObject({ name: 'escalation', type: 'bookmark', location: 65_000, durationMs: 0, description: 'customer asked for a supervisor' })
    expect(created.selfUri).toBe(`${recording.selfUri}/annotations/${created.id}`)

    const listed = await api.getConversationRecordingAnnotations(conversationId, recordingId)
    expect(listed.map((a) => a.id)).toContain(created.id)
    expect(await api.getConversationRecordingAnnotation(conversationId, recordingId, created.id as string)).toEqual(created)

    const updated = await api.putConversationRecordingAnnotation(conversationId, recordingId, created.id as string, { ...created, description: 'resolved', location: 70_000 })
    expect(updated).toEqual({ ...created, description: 'resolved', location: 70_000 })
    expect((await api.getConversationRecording(conversationId, recordingId)).annotations).toContainEqual(updated)

    // The SDK sends Content-Type: application/json with an empty body here.
    await expect(api.deleteConversationRecordingAnnotation(conversationId, recordingId, created.id as string)).resolves.toBeUndefined()
    const gone = await rejection(api.getConversationRecordingAnnotation(conversationId, recordingId, created.id as string))
    expect(gone).toMatchObject({ status: 404, code: 'not.found' })
  })

  it('rejects with the ErrorBody on 404 and 400', async () => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, audioRecording)

    const unknown = await rejection(api.getConversationRecording(conversationId, randomUUID()))
    expect(unknown).toMatchObject({ status: 404, code: 'not.found', message: expect.stringContaining('was not found') })
    expect(unknown.contextId).toEqual(expect.any(String))
    expect(await rejection(api.getConversationRecording(randomUUID(), stored.id as string))).toMatchObject({ status: 404, code: 'not.found' })
    expect(await rejection(api.getConversationRecordings(randomUUID()))).toMatchObject({ status: 404 })
    expect(await rejection(api.getConversationRecordingmetadataRecordingId(conversationId, 'nope'))).toMatchObject({ status: 404 })
    expect(await rejection(api.getConversationRecordingAnnotations(conversationId, randomUUID()))).toMatchObject({ status: 404 })

    const badFormat = await rejection(api.getConversationRecording(conversationId, stored.id as string, { formatId: 'FLAC' }))
    expect(badFormat).toMatchObject({ status: 400, code: 'bad.request', message: expect.stringContaining('formatId') })
    const badDate = await rejection(api.putConversationRecording(conversationId, stored.id as string, { ...stored, deleteDate: 'tomorrow' } as never))
    expect(badDate).toMatchObject({ status: 400, code: 'bad.request', message: expect.stringContaining('deleteDate') })
    const badAnnotation = await rejection(api.postConversationRecordingAnnotations(conversationId, stored.id as string, { location: -5 }))
    expect(badAnnotation).toMatchObject({ status: 400, code: 'bad.request', message: expect.stringContaining('location') })
  })
})

describe('settings, deletion protection and the retention query through the SDK', () => {
  it('getRecordingSettings and putRecordingSettings: 404 until created, createDefault, a write read back, 400 naming a field out of range', async () => {
    expect(await rejection(api.getRecordingSettings())).toMatchObject({ status: 404, code: 'not.found' })
    const defaults = await api.getRecordingSettings({ createDefault: true })
    expect(defaults).toMatchObject({ recordingPlaybackUrlTtl: 60, recordingBatchDownloadUrlTtl: 60, maxSimultaneousStreams: 1, regionalRecordingStorageEnabled: false })
    const written = await api.putRecordingSettings({ ...defaults, recordingPlaybackUrlTtl: 20, stopRecordingWhenOnlyExternalParticipants: true })
    expect(written).toEqual({ ...defaults, recordingPlaybackUrlTtl: 20, stopRecordingWhenOnlyExternalParticipants: true })
    expect(await api.getRecordingSettings()).toEqual(written)
    expect(await rejection(api.putRecordingSettings({ recordingBatchDownloadUrlTtl: 90 }))).toMatchObject({
      status: 400, code: 'bad.request', message: expect.stringContaining('recordingBatchDownloadUrlTtl'),
    })
    // Another organization has none of it.
    expect(await asOutsider(() => rejection(api.getRecordingSettings()))).toMatchObject({ status: 404 })
    expect(await asOutsider(() => api.getRecordingSettings({ createDefault: true }))).toMatchObject({ recordingPlaybackUrlTtl: 60 })
    expect(await api.getRecordingSettings()).toEqual(written)
  })

  it('putRecordingsDeletionprotection and postRecordingsDeletionprotection: protect, list, refuse deletion, revoke; a body-less PUT is a 400', async () => {
    const conversationId = randomUUID()
    const stored = await ingest(conversationId, audioRecording)
    expect(await api.putRecordingsDeletionprotection({ protect: true, body: { conversationIds: [conversationId] } })).toEqual({ failedUpdates: [] })
    expect(await api.postRecordingsDeletionprotection({ conversationIds: [conversationId, randomUUID()] })).toEqual([
      { id: conversationId, selfUri: `/api/v2/conversations/${conversationId}` },
    ])
    const earlier = await rejection(api.putConversationRecording(conversationId, stored.id as string, { ...stored, archiveDate: undefined, deleteDate: '2030-01-01T00:00:00.000Z' } as never))
    expect(earlier).toMatchObject({ status: 409, code: 'recording.deletion.protected' })
    expect(await rejection(api.putRecordingsDeletionprotection())).toMatchObject({ status: 400, message: expect.stringContaining('conversationIds required') })
    // Another organization neither sees nor lifts it.
    expect(await asOutsider(() => api.postRecordingsDeletionprotection({ conversationIds: [conversationId] }))).toEqual([])
    await asOutsider(() => api.putRecordingsDeletionprotection({ protect: false, body: { conversationIds: [conversationId] } }))
    expect(await api.postRecordingsDeletionprotection({ conversationIds: [conversationId] })).toHaveLength(1)

    expect(await api.putRecordingsDeletionprotection({ protect: false, body: { conversationIds: [conversationId] } })).toEqual({ failedUpdates: [] })
    expect(await api.postRecordingsDeletionprotection({ conversationIds: [conversationId] })).toEqual([])
    const moved = await api.putConversationRecording(conversationId, stored.id as string, { ...stored, archiveDate: undefined, deleteDate: '2030-01-01T00:00:00.000Z' } as never)
    expect(moved.deleteDate).toBe('2030-01-01T00:00:00.000Z')
  })

  it('getRecordingsRetentionQuery pages through the recordings kept longer than the threshold, by the cursor of nextUri', async () => {
    const kept = [] as string[]
    for (let i = 0; i < 3; i++) {
      const recording = await ingest(randomUUID(), { ...chatRecording, deleteDate: new Date(Date.now() + (4000 + i) * 86_400_000).toISOString() })
      kept.push(recording.id as string)
    }
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await api.getRecordingsRetentionQuery(3999, { pageSize: 2, ...(cursor ? { cursor } : {}) })
      expect(page.entities?.length).toBeLessThanOrEqual(2)
      seen.push(...(page.entities ?? []).map((e) => e.recordingId as string))
      cursor = page.nextUri ? new URL(page.nextUri, baseUrl).searchParams.get('cursor') ?? undefined : undefined
    } while (cursor)
    // Recordings without a deleteDate are kept indefinitely: they follow.
    expect(seen.slice(0, 3)).toEqual(kept)
    expect(await rejection(api.getRecordingsRetentionQuery(-1))).toMatchObject({ status: 400, code: 'bad.request' })
    const outsiders = await asOutsider(() => api.getRecordingsRetentionQuery(0, { pageSize: 500 }))
    expect(outsiders.entities).toEqual([])
  })
})

describe('examples/genesys-sdk.mjs, run as a newcomer runs it', () => {
  const example = new URL('../examples/genesys-sdk.mjs', import.meta.url).pathname

  /** Runs the example with only these settings of its own (none inherited from the test's environment). */
  async function runExample(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const { RECORDING_STORE_URL: _url, PORT: _port, GC_CLIENT_ID: _id, GC_CLIENT_SECRET: _secret, ...inherited } = process.env
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [example], { env: { ...inherited, ...env }, timeout: 20_000 })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string }
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
    }
  }

  /** A port nothing listens on: bound, then released. */
  async function closedPort(): Promise<number> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise((resolve) => server.close(resolve))
    return port
  }

  let credentials: { GC_CLIENT_ID: string; GC_CLIENT_SECRET: string }
  beforeAll(async () => {
    const created = await ctx.app.services.clients.create({ organization: 'example-org', name: 'example', permissions: [...ALL_PERMISSIONS] })
    credentials = { GC_CLIENT_ID: created.clientId, GC_CLIENT_SECRET: created.clientSecret }
  })

  it.each([
    ['RECORDING_STORE_URL', () => ({ RECORDING_STORE_URL: baseUrl })],
    ['PORT alone (the server\'s own setting)', () => ({ PORT: new URL(baseUrl).port })],
  ])('does the whole round against the server given by %s and exits 0', async (_how, where) => {
    const run = await runExample({ ...credentials, ...where() })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^logged in; token expires /),
      'read: support chat chat AVAILABLE 2 messages',
      'deleteDate now: 2031-01-01T00:00:00.000Z',
      "annotations: [ 'refund' ]",
      'recordings in the conversation: 1',
      expect.stringMatching(/^unknown id: 404 not\.found - Recording [0-9a-f-]+ was not found/),
    ])
  })

  it('says in one line that nothing listens at the address, and exits 1', async () => {
    const port = await closedPort()
    const run = await runExample({ ...credentials, PORT: String(port) })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(
      `genesys-sdk example failed: cannot reach recording-store at http://127.0.0.1:${port} (ECONNREFUSED): start it with \`npm start\`, or set RECORDING_STORE_URL (or PORT) to where it listens\n`,
    )
  })

  it('says in one line that the credentials were refused, and exits 1', async () => {
    const run = await runExample({ GC_CLIENT_ID: credentials.GC_CLIENT_ID, GC_CLIENT_SECRET: 'not-the-secret', RECORDING_STORE_URL: baseUrl })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr.split('\n')).toEqual([expect.stringMatching(/^genesys-sdk example failed: login refused by http:\/\/127\.0\.0\.1:\d+: 401 .+; check GC_CLIENT_ID and GC_CLIENT_SECRET$/), ''])
  })
})
