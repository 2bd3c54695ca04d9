import platformClient from 'purecloud-platform-client-v2'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from './database.js'
import { EXPECTED, makeMedia, probe } from './ffmpeg.js'
import { wav } from './media.js'
import { BOOTSTRAP, killLeftovers, scratchDir, startService, type Service } from './processes.js'

/**
 * On-demand renditions through the official Genesys JavaScript SDK against the built server (dist/server.js, as
 * `npm start` runs it) over real HTTP: the 202 while ffmpeg works, the 200 with a signed mediaUri that downloads
 * without a token and plays as the format asked for, the list's maxWaitMs, and a transcode that fails.
 */

type Recording = platformClient.Models.Recording
/** What the SDK resolves (and rejects) with after setReturnExtendedResponses(true). */
interface Extended<T> {
  status: number
  body: T
}

const client = platformClient.ApiClient.instance
const api = new platformClient.RecordingApi()
let service: Service
let scratch: Awaited<ReturnType<typeof scratchDir>>
let token: string

beforeAll(async () => {
  scratch = await scratchDir('sdk-renditions')
  service = await startService({
    ...BOOTSTRAP,
    DATABASE_URL: await createTestDatabase(inject('testDatabase')),
    MIGRATE_ON_START: 'false',
    DATA_DIR: scratch.dir,
    // Polling for renditions is many requests a minute.
    RATE_LIMIT_PER_MINUTE: '100000',
  })
  const { port } = new URL(service.baseUrl)
  // ApiClient.instance is a process-wide singleton: point it at this server for this suite only.
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(port) })
  token = (await client.loginClientCredentialsGrant(BOOTSTRAP.BOOTSTRAP_CLIENT_ID, BOOTSTRAP.BOOTSTRAP_CLIENT_SECRET)).accessToken
  // Without it the SDK resolves 202 exactly like 200: the status is what this suite is about.
  client.setReturnExtendedResponses(true)
})
afterAll(async () => {
  client.setReturnExtendedResponses(false)
  client.setAccessToken('')
  client.setGateway({ host: '' }) // an empty host removes the override
  if (service) {
    service.process.kill('SIGTERM')
    await service.exited
  }
  killLeftovers()
  await scratch?.remove()
})

/** The SDK cannot create recordings nor upload media (Genesys has no such calls): producers use the store's routes. */
async function recordingWithMedia(conversationId: string, bytes: Buffer, contentType = 'audio/wav'): Promise<string> {
  const headers = { authorization: `Bearer ${token}` }
  const recordings = `${service.baseUrl}/api/v2/conversations/${conversationId}/recordings`
  const created = await fetch(recordings, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'call', media: 'audio' }),
  })
  expect(created.status).toBe(201)
  const { id } = (await created.json()) as Recording
  const uploaded = await fetch(`${recordings}/${id}/media`, { method: 'PUT', headers: { ...headers, 'content-type': contentType }, body: bytes })
  expect(uploaded.status, await uploaded.clone().text()).toBe(200)
  return id as string
}

const getRecording = (conversationId: string, recordingId: string, formatId: string) =>
  api.getConversationRecording(conversationId, recordingId, { formatId }) as unknown as Promise<Extended<Recording>>

/** Asks until the answer is no longer 202 (made, or failed), failing after `ms`: a stuck 202 must not hang the suite. */
async function untilDone(conversationId: string, recordingId: string, formatId: string, ms = 25_000): Promise<Extended<Recording>> {
  const deadline = Date.now() + ms
  for (;;) {
    const answer = await getRecording(conversationId, recordingId, formatId)
    if (answer.status !== 202) return answer
    if (Date.now() > deadline) throw new Error(`${formatId} of ${recordingId} still 202 after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The bytes behind a mediaUri, fetched as a player does: no token, the signed URL is the credential. */
async function download(mediaUri: string | undefined): Promise<{ bytes: Buffer; contentType: string | null }> {
  expect(mediaUri?.startsWith(`${service.baseUrl}/media/`)).toBe(true)
  expect(mediaUri).toMatch(/[?&]signature=/)
  const res = await fetch(mediaUri ?? '')
  expect(res.status).toBe(200)
  return { bytes: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') }
}

describe('RecordingApi.getConversationRecording with formatId', () => {
  const conversationId = randomUUID()
  const seconds = 3.2
  let recordingId: string
  beforeAll(async () => {
    recordingId = await recordingWithMedia(conversationId, wav(seconds))
  })

  it.each(['MP3', 'OGG_OPUS', 'WAV_ULAW', 'WEBM'])(
    '%s: 202 without mediaUris and with estimatedTranscodeTimeMs, then 200 with a mediaUri that downloads without a token, probes as the format and plays as long (±50 ms)',
    async (formatId) => {
      const first = await getRecording(conversationId, recordingId, formatId)
      expect(first.status).toBe(202)
      expect(first.body).toMatchObject({ id: recordingId, fileState: 'AVAILABLE' })
      expect(first.body).not.toHaveProperty('mediaUris')
      expect(first.body.estimatedTranscodeTimeMs).toBeGreaterThan(0)

      const made = await untilDone(conversationId, recordingId, formatId)
      expect(made.status).toBe(200)
      expect(made.body).not.toHaveProperty('recordingErrorStatus')
      const { bytes, contentType } = await download(made.body.mediaUris?.S?.mediaUri)
      expect(contentType).toMatch(/^audio\//)
      const probed = await probe(bytes)
      const expected = EXPECTED[formatId] ?? { container: '?', codec: '?' }
      expect(probed.container).toBe(expected.container)
      expect(probed.audio?.codec).toBe(expected.codec)
      if (expected.sampleRate) expect(probed.audio?.sampleRate).toBe(expected.sampleRate)
      expect(Math.abs(probed.decodedMs - seconds * 1000)).toBeLessThanOrEqual(50)
    },
  )
})

describe('RecordingApi.getConversationRecordings with formatId and maxWaitMs', () => {
  it('waits for the renditions and answers 200 with a playable OGG_OPUS mediaUri for every recording', async () => {
    const conversationId = randomUUID()
    const lengths = [1, 1.5]
    const ids: string[] = []
    for (const length of lengths) ids.push(await recordingWithMedia(conversationId, wav(length)))
    const listed = (await api.getConversationRecordings(conversationId, { formatId: 'OGG_OPUS', maxWaitMs: 10_000 })) as unknown as Extended<Recording[]>
    expect(listed.status).toBe(200)
    expect(listed.body.map((recording) => recording.id)).toEqual(ids)
    for (const [i, recording] of listed.body.entries()) {
      const probed = await probe((await download(recording.mediaUris?.S?.mediaUri)).bytes)
      expect([probed.container, probed.audio?.codec]).toEqual(['ogg', 'opus'])
      expect(Math.abs(probed.decodedMs - (lengths[i] ?? 0) * 1000)).toBeLessThanOrEqual(50)
    }
  })
})

describe('media ffmpeg cannot read', () => {
  it('ends in 200 with recordingErrorStatus TRANSCODING_FAILED and no mediaUris, never a 202 for ever', async () => {
    const conversationId = randomUUID()
    // An Ogg Vorbis file whose first page is whole and the rest noise: it passes the type check, not the decoder.
    const real = await makeMedia(2, 'ogg', ['-c:a', 'libvorbis'])
    const noise = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919 + 13) % 251))
    const recordingId = await recordingWithMedia(conversationId, Buffer.concat([real.subarray(0, 58), noise]), 'audio/ogg')
    const failed = await untilDone(conversationId, recordingId, 'MP3')
    expect(failed.status).toBe(200)
    expect(failed.body.recordingErrorStatus).toBe('TRANSCODING_FAILED')
    expect(failed.body).not.toHaveProperty('mediaUris')
  })
})
