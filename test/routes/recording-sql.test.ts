import { randomUUID } from 'node:crypto'
// Fastify's own serializer (a dependency of fastify): what the routes send for an object, by their response schema.
import fastJson from 'fast-json-stringify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RecordingMetadataSchema, RecordingSchema, type Recording, type RecordingMetadata } from '../../src/schemas/recording.js'
import { metadataInclude, recordingInclude, toRecording, toRecordingMetadata } from '../wire-oracle.js'
import { applyView } from '../../src/services/recording-view.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { audioRecording, chatRecording, emailRecording, messagingRecording } from '../fixtures.js'
import { createTestContext, recordingsUrl, type TestContext } from '../helpers.js'

// The reads and the ingest answer with JSON that PostgreSQL builds (src/services/recording-sql.ts). These tests hold
// it to what the object path answers for the same rows: a Prisma read, the mapper, the view rules, and the route's
// response schema.

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const serializeRecording = fastJson(RecordingSchema)
const serializeMetadata = fastJson(RecordingMetadataSchema)

const url = (conversationId: string, rest = '') => `${recordingsUrl(encodeURIComponent(conversationId))}${rest}`
const metadataUrl = (conversationId: string, rest = '') => `/api/v2/conversations/${encodeURIComponent(conversationId)}/recordingmetadata${rest}`

/** What the object path sends for a GET of this recording: Prisma read, mapper, view rules, response schema. */
async function objectPath(conversationId: string, id: string): Promise<unknown> {
  const row = await ctx.app.prisma.recording.findFirst({ where: { id, conversationId, organizationId: DEFAULT_ORGANIZATION_ID }, include: recordingInclude })
  if (!row) throw new Error(`no recording ${id}`)
  return JSON.parse(serializeRecording(applyView(toRecording(row), {})))
}

async function objectPathMetadata(conversationId: string, id: string): Promise<unknown> {
  const row = await ctx.app.prisma.recording.findFirst({ where: { id, conversationId, organizationId: DEFAULT_ORGANIZATION_ID }, include: metadataInclude })
  if (!row) throw new Error(`no recording ${id}`)
  return JSON.parse(serializeMetadata(toRecordingMetadata(row)))
}

/** A recording with every field set, children in an order the answer must restore, and rich content. */
const everything = {
  ...audioRecording,
  users: [
    ...audioRecording.users,
    { id: '5f2e0000-0000-4000-8000-000000000003', division: { name: 'Only a name' } },
    { name: 'No id', division: { id: 'd2' } },
  ],
  annotations: [
    { name: 'late', type: 'bookmark', location: 90_000 },
    { name: 'nowhere', type: 'bookmark' },
    { name: 'first tie', type: 'bookmark', location: 5_000 },
    { name: 'second tie', type: 'bookmark', location: 5_000 },
    ...audioRecording.annotations,
    {
      name: 'full', type: 'pause', location: 0, durationMs: 1, absoluteLocation: 2, absoluteDurationMs: 3, recordingLocation: 4,
      recordingDurationMs: 5, realtimeLocation: Number.MAX_SAFE_INTEGER, description: 'd', reason: 'SecurePause',
      user: { id: 'u1', name: 'N', username: 'un', email: 'e@x', division: { id: 'dv', name: 'Div' } },
    },
  ],
  mediaUris: {
    ...audioRecording.mediaUris,
    A: { mediaUri: 'https://media.example.internal/a.wav', waveformData: [1, 0.000001, 1e-7, 123456.789, 0] },
    Z: {},
  },
  transcript: chatRecording.transcript,
  emailTranscript: emailRecording.emailTranscript,
  messagingTranscript: messagingRecording.messagingTranscript,
}

async function arrange(conversationId: string, body: object = everything): Promise<Recording> {
  const res = await ctx.inject({ method: 'POST', url: url(conversationId), payload: body })
  if (res.statusCode !== 201) throw new Error(`ingest failed: ${res.statusCode} ${res.body}`)
  return res.json<Recording>()
}

describe('GET one: the SQL-built JSON is what the object path answers', () => {
  it.each([
    ['a UUID', randomUUID()],
    ['characters that need URL-encoding', `conv id/with ?#%&+=:@é€😀 "quotes" '!()*~ ${randomUUID().slice(0, 8)}`],
  ])('for a recording with every field set, in a conversation id with %s', async (_case, conversationId) => {
    const created = await arrange(conversationId)
    const id = created.id as string
    await ctx.sql.query(
      `UPDATE recordings SET restore_expiration_time = '2031-01-02T03:04:05.006Z', export_date = '2030-06-01Z', exported_date = '2030-06-02T00:00:00.5Z',
        archive_medium = 'CLOUDARCHIVE', recording_error_status = 'EMAIL_TRANSCRIPT_TOO_LARGE' WHERE id = $1`,
      [id],
    )
    const res = await ctx.inject({ method: 'GET', url: url(conversationId, `/${id}`) })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const read = res.json<Recording>()
    const expected = await objectPath(conversationId, id)
    expect(read).toEqual(expected)

    // Every member is there (so the comparison above is not vacuous) and nothing is null.
    expect(Object.keys(read).sort()).toEqual(Object.keys(RecordingSchema.properties).sort())
    expect(res.body).not.toMatch(/null/)
    expect(read.selfUri).toBe(`/api/v2/conversations/${encodeURIComponent(conversationId)}/recordings/${id}`)
    expect(read.annotations?.[0]?.selfUri).toBe(`${read.selfUri}/annotations/${read.annotations?.[0]?.id}`)
    expect(read.restoreExpirationTime).toBe('2031-01-02T03:04:05.006Z')
    expect(read.exportedDate).toBe('2030-06-02T00:00:00.500Z')
    expect(read.actualTranscodeTimeMs).toBe(9_007_199_254_740_991)
  })

  it('orders children as the object path does and omits empty ones', async () => {
    const conversationId = randomUUID()
    const created = await arrange(conversationId)
    const read = (await ctx.inject({ method: 'GET', url: url(conversationId, `/${created.id}`) })).json<Recording>()
    // Annotations by location, NULLs last, ties by id (ids of one ingest ascend in the order given).
    expect(read.annotations?.map((a) => a.name)).toEqual(['full', 'greeting', 'first tie', 'second tie', 'hold', 'late', 'nowhere'])
    for (const annotation of read.annotations ?? []) expect(annotation.id).toMatch(UUID7)
    expect(read.transcript?.map((m) => m.id)).toEqual(['m1', 'm2', 'm3'])
    expect(read.emailTranscript?.map((m) => m.id)).toEqual(['e1', 'e2'])
    expect(read.messagingTranscript).toEqual(messagingRecording.messagingTranscript)
    expect(read.users?.map((u) => u.name ?? u.id)).toEqual(['Ada Agent', 'Bo Supervisor', '5f2e0000-0000-4000-8000-000000000003', 'No id'])
    expect(read.users?.[2]).toEqual({ id: '5f2e0000-0000-4000-8000-000000000003', division: { name: 'Only a name' }, selfUri: '/api/v2/users/5f2e0000-0000-4000-8000-000000000003' })
    expect(read.users?.[3]).toEqual({ name: 'No id', division: { id: 'd2', selfUri: '/api/v2/authorization/divisions/d2' } })
    expect(read.mediaUris).toEqual({ ...audioRecording.mediaUris, A: everything.mediaUris.A, Z: {} })
    expect(Object.keys(read.mediaUris ?? {})).toEqual(['A', 'L', 'S', 'Z'])

    const bare = await arrange(conversationId, { media: 'chat' })
    const res = await ctx.inject({ method: 'GET', url: url(conversationId, `/${bare.id}`) })
    expect(res.body).not.toMatch(/null|\[\]/)
    expect(res.json()).toEqual(await objectPath(conversationId, bare.id as string))
    expect(Object.keys(res.json()).sort()).toEqual(
      ['conversationId', 'creationTime', 'fileState', 'id', 'maxAllowedRestorationsForOrg', 'media', 'remainingRestorationsAllowedForOrg', 'selfUri'].sort(),
    )
  })

  it('answers 202 without mediaUris while UPLOADING, like the object path', async () => {
    const conversationId = randomUUID()
    const fresh = await arrange(conversationId, { media: 'audio', name: 'no media yet' })
    expect(fresh.fileState).toBe('UPLOADING')
    const withMedia = await arrange(conversationId)
    await ctx.sql.query(`UPDATE recordings SET file_state = 'UPLOADING' WHERE id = $1`, [withMedia.id])
    for (const recording of [fresh, withMedia]) {
      const res = await ctx.inject({ method: 'GET', url: url(conversationId, `/${recording.id}`) })
      expect(res.statusCode).toBe(202)
      expect(res.json()).not.toHaveProperty('mediaUris')
      expect(res.json()).toEqual(await objectPath(conversationId, recording.id as string))
    }
    const list = await ctx.inject({ method: 'GET', url: url(conversationId) })
    expect(list.statusCode).toBe(200)
    expect(list.json()).toEqual([await objectPath(conversationId, fresh.id as string), await objectPath(conversationId, withMedia.id as string)])
  })

  it('stores of nested chat and e-mail objects only what the response schema shows, and keeps nulls inside messaging messages', async () => {
    const conversationId = randomUUID()
    const created = await arrange(conversationId, {
      media: 'email',
      emailTranscript: [{
        id: 'x1',
        to: [{ email: 'a@example.com', display: 'not in the schema' }, {}],
        cc: [],
        from: { email: 'b@example.com', extra: null },
        attachments: [{ name: 'f', size: 3 }],
      }],
      transcript: [{ body: 'hi', user: { id: 'u', images: [{ imageUri: 'https://i', extra: 1 }, {}] } }, { body: 'no images', user: { images: [] } }],
      messagingTranscript: [{ id: 'w1', messageText: 'null inside', fromExternalContact: { id: 'c', middleName: null }, futureProperty: null }],
    })
    const res = await ctx.inject({ method: 'GET', url: url(conversationId, `/${created.id}`) })
    const read = res.json<Recording>()
    expect(read).toEqual(await objectPath(conversationId, created.id as string))
    expect(read.emailTranscript?.[0]).toEqual({ id: 'x1', to: [{ email: 'a@example.com' }, {}], cc: [], from: { email: 'b@example.com' }, attachments: [{ name: 'f' }] })
    expect(read.transcript?.[0]?.user).toEqual({ id: 'u', images: [{ imageUri: 'https://i' }, {}] })
    expect(read.transcript?.[1]?.user).toEqual({ images: [] })
    expect(read.messagingTranscript).toEqual([{ id: 'w1', messageText: 'null inside', fromExternalContact: { id: 'c', middleName: null }, futureProperty: null }])
    // The ingest answer is the same statement's text.
    expect(JSON.stringify(read)).toBe(JSON.stringify(created))
  })
})

describe('the other reads and the ingest', () => {
  it('lists a conversation as the object path does, oldest first, and keeps query options working', async () => {
    const conversationId = `list / ${randomUUID()}`
    const first = await arrange(conversationId)
    const second = await arrange(conversationId, chatRecording)
    await arrange(randomUUID(), chatRecording)
    const res = await ctx.inject({ method: 'GET', url: url(conversationId) })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(res.json()).toEqual([await objectPath(conversationId, first.id as string), await objectPath(conversationId, second.id as string)])
    const none = (await ctx.inject({ method: 'GET', url: url(conversationId, '?formatId=NONE') })).json<Recording[]>()
    expect(none.map((r) => 'mediaUris' in r)).toEqual([false, false])
    expect(none[0]?.annotations).toEqual(first.annotations)
  })

  it('answers the ingest with the recording as a GET answers it, byte for byte', async () => {
    const conversationId = `ingest ${randomUUID()}`
    const res = await ctx.inject({ method: 'POST', url: url(conversationId), payload: everything })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const created = res.json<Recording>()
    expect(created.id).toMatch(UUID7)
    expect(res.headers.location).toBe(created.selfUri)
    const read = await ctx.inject({ method: 'GET', url: url(conversationId, `/${created.id}`) })
    expect(read.body).toBe(res.body)
    expect(created).toEqual(await objectPath(conversationId, created.id as string))
  })

  it('keeps the full-text document of an ingested recording up to date (one statement per transcript table)', async () => {
    const created = await arrange(randomUUID(), { ...everything, name: 'walrus', transcript: [{ body: 'zebra' }, { body: 'okapi' }] })
    const { rows } = await ctx.sql.query<{ word: string; found: boolean }>(
      `SELECT w AS word, search_vector @@ to_tsquery('simple', w) AS found FROM recordings, unnest(ARRAY['walrus', 'zebra', 'okapi', 'invoice', 'delivery']) w WHERE id = $1`,
      [created.id],
    )
    expect(rows.every((row) => row.found)).toBe(true)
  })

  it('answers metadata, one and listed, as the object path does', async () => {
    const conversationId = `meta/${randomUUID()}`
    const audio = await arrange(conversationId)
    const chat = await arrange(conversationId, chatRecording)
    const one = await ctx.inject({ method: 'GET', url: metadataUrl(conversationId, `/${audio.id}`) })
    expect(one.statusCode).toBe(200)
    expect(one.headers['content-type']).toBe('application/json; charset=utf-8')
    const metadata = one.json<RecordingMetadata>()
    expect(metadata).toEqual(await objectPathMetadata(conversationId, audio.id as string))
    expect(metadata.annotations?.every((a) => a.reason === undefined)).toBe(true)
    expect(metadata.annotations?.length).toBeGreaterThan(0)
    const list = await ctx.inject({ method: 'GET', url: metadataUrl(conversationId) })
    expect(list.json()).toEqual([metadata, await objectPathMetadata(conversationId, chat.id as string)])
  })
})
