import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Recording } from '../../src/schemas/recording.js'
import { audioRecording, chatRecording, emailRecording, messagingRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type TestContext } from '../helpers.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const get = (conversationId: string, id: string) =>
  ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}` })

describe('POST /api/v2/conversations/:conversationId/recordings (ingest)', () => {
  it('stores every field of an audio recording and answers 201 with Location', async () => {
    const conversationId = randomUUID()
    const res = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: audioRecording })
    expect(res.statusCode, res.body).toBe(201)
    const created = res.json<Recording>()
    expect(created.id).toMatch(UUID)
    const selfUri = `/api/v2/conversations/${conversationId}/recordings/${created.id}`
    expect(res.headers.location).toBe(selfUri)

    const { annotations, users, ...scalars } = audioRecording
    const expected = {
      ...scalars,
      id: created.id,
      conversationId,
      fileState: 'AVAILABLE',
      originalRecordingStartTime: audioRecording.startTime,
      creationTime: expect.stringMatching(ISO),
      maxAllowedRestorationsForOrg: 10000,
      remainingRestorationsAllowedForOrg: 10000,
      selfUri,
      users: [
        { ...users[0], division: { id: 'd1', name: 'Home', selfUri: '/api/v2/authorization/divisions/d1' }, selfUri: `/api/v2/users/${users[0]?.id}` },
        { ...users[1], selfUri: `/api/v2/users/${users[1]?.id}` },
      ],
      annotations: annotations.map((annotation) => ({
        ...annotation,
        ...('user' in annotation && annotation.user ? { user: { ...annotation.user, selfUri: `/api/v2/users/${annotation.user.id}` } } : {}),
        id: expect.stringMatching(UUID),
        selfUri: expect.stringMatching(new RegExp(`^${selfUri}/annotations/[0-9a-f-]{36}$`)),
      })),
    }
    expect(created).toEqual(expected)

    const read = await get(conversationId, created.id as string)
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual(created)
  })

  it.each([
    ['chat', chatRecording, 'transcript'],
    ['email', emailRecording, 'emailTranscript'],
    ['messaging', messagingRecording, 'messagingTranscript'],
  ] as const)('round-trips a %s transcript in order, rich content untouched', async (_kind, body, field) => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, body)
    const read = (await get(conversationId, created.id as string)).json<Recording>()
    expect(read).toEqual(created)
    expect(read[field]).toEqual(body[field as keyof typeof body])
    expect(read.fileState).toBe('AVAILABLE') // the transcript is the content
    for (const absent of ['transcript', 'emailTranscript', 'messagingTranscript'].filter((f) => f !== field)) {
      expect(read).not.toHaveProperty(absent)
    }
  })

  it('omits absent values instead of sending null, and marks media not yet attached as UPLOADING', async () => {
    const conversationId = randomUUID()
    const res = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: { media: 'screen' } })
    expect(res.statusCode).toBe(201)
    expect(res.body).not.toContain('null')
    expect(Object.keys(res.json()).sort()).toEqual(
      ['conversationId', 'creationTime', 'fileState', 'id', 'maxAllowedRestorationsForOrg', 'media', 'remainingRestorationsAllowedForOrg', 'selfUri'].sort(),
    )
    expect(res.json<Recording>().fileState).toBe('UPLOADING')
  })

  it('normalises instants to UTC with milliseconds', async () => {
    const created = await ingest(ctx, randomUUID(), { startTime: '2024-05-01T14:00:03+02:00', deleteDate: '2030-01-01T00:00:00Z' })
    expect(created.startTime).toBe('2024-05-01T12:00:03.000Z')
    expect(created.deleteDate).toBe('2030-01-01T00:00:00.000Z')
  })

  it('accepts the conversationId in the body only when it matches the path', async () => {
    const conversationId = randomUUID()
    expect((await ingest(ctx, conversationId, { conversationId, media: 'chat' })).conversationId).toBe(conversationId)
    const res = await ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload: { conversationId: 'other' } })
    expect(expectErrorBody(res, 400).message).toMatch(/conversationId/)
  })
})

describe('rejected requests', () => {
  const conversationId = randomUUID()
  const post = (payload: string | object, contentType = 'application/json') =>
    ctx.inject({ method: 'POST', url: recordingsUrl(conversationId), payload, headers: { 'content-type': contentType } })

  it.each([
    ['malformed JSON', '{"name": "x",', /JSON/],
    ['a body that is not an object', '[1,2]', /must be object/],
    ['a wrong type', { name: 42 }, /name must be string/],
    ['null where a string is expected', { name: null }, /name must be string/],
    ['a string where an integer is expected', { outputDurationMs: '458760' }, /outputDurationMs must be integer/],
    ['an unknown enum value', { mediaSubtype: 'TRUNK' }, /mediaSubtype must be one of Trunk, Station, Consult, Screen, Snippet/],
    ['an unknown media kind', { media: 'video' }, /media must be one of/],
    ['an unknown nested enum value', { media: 'chat', transcript: [{ body: 'x', bodyType: 'standard' }] }, /transcript\[0\]\.bodyType must be one of/],
    ['an unknown property', { name: 'x', fileState: 'ARCHIVED' }, /fileState is not a known property/],
    ['a date that is not ISO-8601', { startTime: 'yesterday' }, /startTime must match format "date-time"/],
    ['a negative annotation location', { annotations: [{ location: -1 }] }, /annotations\[0\]\.location must be >= 0/],
    ['an int32 overflow', { outputSizeInBytes: 2_147_483_648 }, /outputSizeInBytes must be <= 2147483647/],
    ['deleteDate before archiveDate', { archiveDate: '2031-01-01T00:00:00Z', deleteDate: '2030-01-01T00:00:00Z' }, /deleteDate must not be before archiveDate/],
    ['an archiveDate in the past', { archiveDate: '2020-01-01T00:00:00Z' }, /archiveDate must not be in the past/],
    ['a deleteDate in the past, no archiveDate', { deleteDate: '2021-01-01T00:00:00Z' }, /deleteDate must not be in the past/],
    ['a relative mediaUri', { mediaUris: { S: { mediaUri: '/media/a.webm' } } }, /mediaUris\.S\.mediaUri must match/],
    ['a javascript: mediaUri', { mediaUris: { S: { mediaUri: 'javascript:alert(1)' } } }, /mediaUris\.S\.mediaUri must match/],
    ['a file: mediaUri', { mediaUris: { WAV: { mediaUri: 'file:///etc/passwd' } } }, /mediaUris\.WAV\.mediaUri must match/],
    ['a mediaUri without a host', { mediaUris: { S: { mediaUri: 'https:///a.webm' } } }, /mediaUris\.S\.mediaUri must match/],
    ['an ftp imageUri', { media: 'chat', transcript: [{ user: { images: [{ imageUri: 'ftp://img.example/a.png' }] } }] }, /transcript\[0\]\.user\.images\[0\]\.imageUri must match/],
    ['a NUL character, which PostgreSQL cannot store', { name: 'a\u0000b' }, /NUL/],
    ['a lone surrogate, which PostgreSQL cannot store', '{"name":"\\ud800"}', /surrogate/],
    ['a __proto__ key', '{"name":"x","__proto__":{"polluted":true}}', /prototype|__proto__/i],
  ])('answers 400 with an ErrorBody for %s and stores nothing', async (_case, payload, message) => {
    const before = await rowCounts(ctx.sql)
    const body = expectErrorBody(await post(payload), 400)
    expect(body.code).toBe('bad.request')
    expect(body.message).toMatch(message)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('lists every validation problem with a JSON pointer', async () => {
    const body = expectErrorBody(await post({ name: 1, mediaSubtype: 'x', bogus: true, transcript: [{ bodyType: 'y' }] }), 400)
    expect(body.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ fieldName: 'name', pointer: '#/name', in: 'body', errorCode: 'invalid.type' }),
        expect.objectContaining({ fieldName: 'mediaSubtype', pointer: '#/mediaSubtype', errorCode: 'invalid.enum' }),
        expect.objectContaining({ fieldName: 'bogus', pointer: '#/bogus', errorCode: 'unknown.property' }),
        expect.objectContaining({ fieldName: 'transcript[0].bodyType', pointer: '#/transcript/0/bodyType' }),
      ]),
    )
    expect(body.details).toHaveLength(4)
  })

  it('answers 415 for a body that is not JSON and 413 above 512,000 bytes', async () => {
    expect(expectErrorBody(await post('name=x', 'text/plain'), 415).code).toBe('unsupported.media.type')
    const huge = { name: 'x'.repeat(1000), transcript: Array.from({ length: 600 }, () => ({ body: 'y'.repeat(900) })) }
    expect(expectErrorBody(await post(huge), 413).code).toBe('request.entity.too.large')
  })

  it('rolls back the recording when a child row fails to insert, answering 500 without internals', async () => {
    // A trigger stands in for any failure half-way through the write.
    await ctx.sql.query(`
      CREATE FUNCTION fail_on_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.body = 'boom' THEN RAISE EXCEPTION 'chat insert failed'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_on_boom BEFORE INSERT ON chat_messages FOR EACH ROW EXECUTE FUNCTION fail_on_boom();`)
    try {
      const before = await rowCounts(ctx.sql)
      const res = await post({ ...audioRecording, media: 'chat', transcript: [{ body: 'fine' }, { body: 'boom' }] })
      const body = expectErrorBody(res, 500)
      expect(body.code).toBe('internal.server.error')
      expect(res.body).not.toContain('chat insert failed')
      expect(await rowCounts(ctx.sql)).toEqual(before)
    } finally {
      await ctx.sql.query('DROP TRIGGER fail_on_boom ON chat_messages; DROP FUNCTION fail_on_boom()')
    }
  })
})

describe('GET', () => {
  it('lists the recordings of one conversation only, oldest first', async () => {
    const conversationId = randomUUID()
    const first = await ingest(ctx, conversationId, chatRecording)
    const second = await ingest(ctx, conversationId, audioRecording)
    await ingest(ctx, randomUUID(), audioRecording)
    const res = await ctx.inject({ method: 'GET', url: recordingsUrl(conversationId) })
    expect(res.statusCode).toBe(200)
    const list = res.json<Recording[]>()
    expect(list.map((r) => r.id)).toEqual([first.id, second.id])
    expect(list[0]).toEqual(first)
  })

  it('answers 404 for a conversation without recordings', async () => {
    const body = expectErrorBody(await ctx.inject({ method: 'GET', url: recordingsUrl(randomUUID()) }), 404)
    expect(body.code).toBe('not.found')
  })

  it('answers 404 for an unknown id, an id that is not a UUID, and a recording of another conversation', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    for (const [conversation, id] of [
      [conversationId, randomUUID()],
      [conversationId, 'not-a-uuid'],
      [randomUUID(), created.id as string],
    ] as const) {
      const body = expectErrorBody(await get(conversation, id), 404)
      expect(body).toMatchObject({ code: 'not.found', entityName: 'Recording', entityId: id })
    }
    expect((await get(conversationId, created.id as string)).statusCode).toBe(200)
  })

  it('answers with an ErrorBody when the router refuses the URL (over-long id, bad percent-encoding)', async () => {
    expect(expectErrorBody(await ctx.inject({ method: 'GET', url: recordingsUrl('c'.repeat(128)) }), 404).code).toBe('not.found')
    expect(expectErrorBody(await ctx.inject({ method: 'GET', url: recordingsUrl('c'.repeat(129)) }), 400).message).toMatch(/conversationId/)
    expectErrorBody(await ctx.inject({ method: 'GET', url: recordingsUrl('c'.repeat(300)) }), 414)
    expectErrorBody(await ctx.inject({ method: 'GET', url: '/api/v2/conversations/%E0%A4%A/recordings' }), 400)
  })

  it('lets mediaFormats take precedence over formatId=NONE, as on Genesys', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    const res = await get(conversationId, `${created.id}?formatId=NONE&mediaFormats=WEBM`)
    expect(Object.keys(res.json<Recording>().mediaUris ?? {}).sort()).toEqual(['L', 'S']) // both .webm
  })

  it('answers 404 with an ErrorBody for unknown routes', async () => {
    expectErrorBody(await ctx.inject({ method: 'GET', url: '/api/v2/nothing-here' }), 404)
  })
})

describe('PUT (Genesys retention semantics)', () => {
  const put = (conversationId: string, id: string, payload: object | string, query = '') =>
    ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${id}${query}`, payload, headers: { 'content-type': 'application/json' } })

  it('takes a whole Recording back and applies only archiveDate and deleteDate', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    const edited = {
      ...created,
      name: 'renamed',
      fileState: 'DELETED',
      id: randomUUID(),
      conversationId: 'elsewhere',
      creationTime: '2000-01-01T00:00:00.000Z',
      annotations: [],
      transcript: [{ body: 'injected' }],
      mediaUris: { X: { mediaUri: 'https://evil.example/x' } },
      selfUri: '/somewhere',
      archiveDate: '2032-01-01T00:00:00.000Z',
      deleteDate: '2033-01-01T00:00:00.000Z',
      unknownProperty: { anything: true },
    }
    const res = await put(conversationId, created.id as string, edited)
    expect(res.statusCode, res.body).toBe(200)
    const expected = { ...created, archiveDate: '2032-01-01T00:00:00.000Z', deleteDate: '2033-01-01T00:00:00.000Z' }
    expect(res.json()).toEqual(expected)
    expect((await get(conversationId, created.id as string)).json()).toEqual(expected)
  })

  it('clears a retention date that is null or absent, and the export date with clearExport=true', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    await ctx.sql.query(`UPDATE recordings SET export_date = '2030-06-01Z' WHERE id = $1`, [created.id])
    const kept = await put(conversationId, created.id as string, { archiveDate: null, deleteDate: audioRecording.deleteDate })
    expect(kept.json()).toMatchObject({ deleteDate: audioRecording.deleteDate, exportDate: '2030-06-01T00:00:00.000Z' })
    expect(kept.json()).not.toHaveProperty('archiveDate')
    const cleared = await put(conversationId, created.id as string, {}, '?clearExport=true')
    expect(cleared.statusCode).toBe(200)
    for (const field of ['archiveDate', 'deleteDate', 'exportDate']) expect(cleared.json()).not.toHaveProperty(field)
  })

  it('accepts an unchanged past date that a client echoes back, refuses a new one', async () => {
    const conversationId = randomUUID()
    const ingested = await ingest(ctx, conversationId, audioRecording)
    // Ingest refuses past dates; a date that has passed since is what a client echoes back.
    await ctx.sql.query(`UPDATE recordings SET archive_date = '2020-01-01T00:00:00Z' WHERE id = $1`, [ingested.id])
    const created = (await get(conversationId, ingested.id as string)).json<Recording>()
    expect(created.archiveDate).toBe('2020-01-01T00:00:00.000Z')
    expect((await put(conversationId, created.id as string, created)).statusCode).toBe(200)
    const body = expectErrorBody(await put(conversationId, created.id as string, { ...created, archiveDate: '2021-01-01T00:00:00.000Z' }), 400)
    expect(body.message).toMatch(/archiveDate must not be in the past/)
  })

  it('restores archived media when its archive date moves', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    await ctx.sql.query(`UPDATE recordings SET file_state = 'ARCHIVED' WHERE id = $1`, [created.id])
    const res = await put(conversationId, created.id as string, { ...created, archiveDate: '2030-12-24T00:00:00.000Z' })
    expect(res.json()).toMatchObject({ fileState: 'RESTORED', restoreExpirationTime: '2030-12-24T00:00:00.000Z' })
  })

  it('answers like GET while media is uploading: no mediaUris', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    await ctx.sql.query(`UPDATE recordings SET file_state = 'UPLOADING' WHERE id = $1`, [created.id])
    const res = await put(conversationId, created.id as string, { deleteDate: '2031-01-01T00:00:00.000Z' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ fileState: 'UPLOADING', deleteDate: '2031-01-01T00:00:00.000Z' })
    expect(res.json()).not.toHaveProperty('mediaUris')
  })

  it('refuses bad dates without changing anything', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    expectErrorBody(await put(conversationId, created.id as string, { archiveDate: 'soon' }), 400)
    expectErrorBody(await put(conversationId, created.id as string, { archiveDate: '2031-01-01T00:00:00Z', deleteDate: '2030-01-01T00:00:00Z' }), 400)
    expectErrorBody(await put(conversationId, created.id as string, '{"archiveDate":'), 400)
    expect((await get(conversationId, created.id as string)).json()).toEqual(created)
  })

  it('answers 404 for unknown ids and foreign conversations', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    expectErrorBody(await put(randomUUID(), created.id as string, created), 404)
    expectErrorBody(await put(conversationId, randomUUID(), created), 404)
  })
})

describe('DELETE', () => {
  it('removes the recording with all its children, answering 204 with an empty body', async () => {
    const conversationId = randomUUID()
    const keep = await ingest(ctx, conversationId, chatRecording)
    const before = await rowCounts(ctx.sql)
    const doomed = await ingest(ctx, conversationId, { ...audioRecording, transcript: chatRecording.transcript, messagingTranscript: messagingRecording.messagingTranscript, emailTranscript: emailRecording.emailTranscript })
    // The SDK sends Content-Type: application/json with an empty body on DELETE.
    const res = await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${doomed.id}`, headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expectErrorBody(await get(conversationId, doomed.id as string), 404)
    expect((await get(conversationId, keep.id as string)).statusCode).toBe(200)
  })

  it('answers 404 for unknown ids and foreign conversations, deleting nothing', async () => {
    const conversationId = randomUUID()
    const created = await ingest(ctx, conversationId, audioRecording)
    const before = await rowCounts(ctx.sql)
    expectErrorBody(await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(randomUUID())}/${created.id}` }), 404)
    expectErrorBody(await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${randomUUID()}` }), 404)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })
})
