import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Annotation, Recording } from '../../src/schemas/recording.js'
import { audioRecording } from '../fixtures.js'
import { createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type Method, type TestContext } from '../helpers.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

const annotationsUrl = (conversationId: string, recordingId: string) => `${recordingsUrl(conversationId)}/${recordingId}/annotations`

/** A request as the SDK sends it: JSON bodies with their content type. */
const send = (method: Method, url: string, payload?: object | string) =>
  ctx.inject({ method, url, ...(payload === undefined ? {} : { payload, headers: { 'content-type': 'application/json' } }) })

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`)
  return value
}

/** A recording (the audio fixture) with one client annotation (greeting, at 1000) and one system annotation (Hold, at 65000). */
async function arrange() {
  const conversationId = randomUUID()
  const recording = await ingest(ctx, conversationId, audioRecording)
  const recordingId = must(recording.id, 'recording id')
  const annotations = recording.annotations ?? []
  return {
    conversationId,
    recordingId,
    recording,
    url: annotationsUrl(conversationId, recordingId),
    bookmark: must(annotations.find((a) => a.name === 'greeting'), 'client annotation'),
    system: must(annotations.find((a) => a.reason === 'Hold'), 'system annotation'),
  }
}

const getRecording = async (conversationId: string, recordingId: string) => {
  const res = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${recordingId}` })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Recording>()
}

/** The stored row, to prove what was (not) written. Bigint columns come back as text. */
async function storedRow(id: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await ctx.sql.query<Record<string, unknown>>(
    `SELECT recording_id, name, type, location, duration_ms, absolute_location, absolute_duration_ms, recording_location,
            recording_duration_ms, realtime_location, "user", description, reason
       FROM annotations WHERE id = $1`,
    [id],
  )
  return rows[0]
}

describe('GET /annotations (list)', () => {
  it('answers a bare array ordered by location, the same annotations the recording GET carries', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, {
      media: 'audio',
      annotations: [
        { name: 'late', type: 'bookmark', location: 30_000 },
        { name: 'pause', type: 'pause', location: 65_000, durationMs: 2_000, reason: 'Pause' },
        { name: 'early', type: 'bookmark', location: 1_000 },
      ],
    })
    const url = annotationsUrl(conversationId, must(recording.id, 'id'))
    const res = await send('GET', url)
    expect(res.statusCode).toBe(200)
    const list = res.json<Annotation[]>()
    expect(Array.isArray(list)).toBe(true)
    expect(list.map((a) => [a.name, a.location])).toEqual([['early', 1_000], ['late', 30_000], ['pause', 65_000]])
    expect(list).toEqual(recording.annotations)

    const added = await send('POST', url, { name: 'first', location: 500 })
    expect(added.statusCode).toBe(200)
    expect((await send('GET', url)).json<Annotation[]>().map((a) => a.name)).toEqual(['first', 'early', 'late', 'pause'])
  })

  it('answers an empty array for a recording without annotations', async () => {
    const conversationId = randomUUID()
    const recording = await ingest(ctx, conversationId, { media: 'chat' })
    const res = await send('GET', annotationsUrl(conversationId, must(recording.id, 'id')))
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual([])
  })
})

describe('POST /annotations', () => {
  it('creates an annotation, answering 200 with its id and selfUri, and the recording GET shows it', async () => {
    const { conversationId, recordingId, url } = await arrange()
    const before = await rowCounts(ctx.sql)
    const body = { name: 'escalation', type: 'bookmark', location: 12_345, durationMs: 2_500, description: 'customer asks for a manager' }
    const res = await send('POST', url, body)
    expect(res.statusCode, res.body).toBe(200)
    const created = res.json<Annotation>()
    expect(created.id).toMatch(UUID)
    expect(created).toEqual({ ...body, id: created.id, selfUri: `/api/v2/conversations/${conversationId}/recordings/${recordingId}/annotations/${created.id}` })
    expect(await rowCounts(ctx.sql)).toEqual({ ...before, annotations: before.annotations! + 1 })

    expect((await getRecording(conversationId, recordingId)).annotations).toContainEqual(created)
    expect((await send('GET', `${url}/${created.id}`)).json()).toEqual(created)
  })

  it('creates an annotation with no fields at all', async () => {
    const { url } = await arrange()
    const res = await send('POST', url, {})
    expect(res.statusCode).toBe(200)
    const created = res.json<Annotation>()
    expect(Object.keys(created).sort()).toEqual(['id', 'selfUri'])
    expect(await storedRow(must(created.id, 'id'))).toBeDefined()
  })

  it('updates (upserts) when the body carries the id of an existing annotation of the recording', async () => {
    const { conversationId, recordingId, url, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    const res = await send('POST', url, { id: bookmark.id, name: 'greeting (edited)', location: 1_500, durationMs: 300 })
    expect(res.statusCode, res.body).toBe(200)
    // type and description were absent: a POST carries the whole annotation, so they are cleared.
    const expected = { id: bookmark.id, name: 'greeting (edited)', location: 1_500, durationMs: 300, selfUri: bookmark.selfUri }
    expect(res.json()).toEqual(expected)
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('GET', `${url}/${bookmark.id}`)).json()).toEqual(expected)
    const annotations = (await getRecording(conversationId, recordingId)).annotations ?? []
    expect(annotations.filter((a) => a.id === bookmark.id)).toEqual([expected])
  })
})

describe('GET /annotations/:annotationId', () => {
  it('answers the annotation as listed', async () => {
    const { url, bookmark, system } = await arrange()
    for (const annotation of [bookmark, system]) {
      const res = await send('GET', `${url}/${annotation.id}`)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual(annotation)
    }
  })
})

describe('PUT /annotations/:annotationId', () => {
  it('replaces name, type, location, durationMs and description, clearing the absent ones', async () => {
    const { conversationId, recordingId, url, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    const res = await send('PUT', `${url}/${bookmark.id}`, { name: 'renamed', location: 2_000 })
    expect(res.statusCode, res.body).toBe(200)
    const expected = { id: bookmark.id, name: 'renamed', location: 2_000, selfUri: bookmark.selfUri }
    expect(res.json()).toEqual(expected)
    expect(await storedRow(must(bookmark.id, 'id'))).toMatchObject({ name: 'renamed', location: '2000', type: null, duration_ms: null, description: null })
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('GET', `${url}/${bookmark.id}`)).json()).toEqual(expected)

    const full = { name: 'full', type: 'note', location: 3_000, durationMs: 10, description: 'all five' }
    const replaced = await send('PUT', `${url}/${bookmark.id}`, full)
    expect(replaced.json()).toEqual({ ...full, id: bookmark.id, selfUri: bookmark.selfUri })
    expect((await getRecording(conversationId, recordingId)).annotations).toContainEqual({ ...full, id: bookmark.id, selfUri: bookmark.selfUri })

    const typeOnly = await send('PUT', `${url}/${bookmark.id}`, { type: 'note' })
    expect(typeOnly.json()).toEqual({ id: bookmark.id, type: 'note', selfUri: bookmark.selfUri })
    expect(await storedRow(must(bookmark.id, 'id'))).toMatchObject({ name: null, type: 'note', location: null, duration_ms: null, description: null })
  })

  it('takes the id from the path, not from the body', async () => {
    const { url, bookmark } = await arrange()
    const other = (await send('POST', url, { name: 'other', location: 40_000 })).json<Annotation>()
    const before = await rowCounts(ctx.sql)
    for (const bodyId of [other.id, randomUUID(), 'not-even-a-uuid']) {
      const res = await send('PUT', `${url}/${bookmark.id}`, { id: bodyId, name: `via path ${bodyId}`, location: 7 })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json()).toEqual({ id: bookmark.id, name: `via path ${bodyId}`, location: 7, selfUri: bookmark.selfUri })
    }
    expect((await send('GET', `${url}/${other.id}`)).json()).toEqual(other)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('creates the annotation with the path id when the id (a UUID) is unknown', async () => {
    const { conversationId, recordingId, url } = await arrange()
    const id = randomUUID()
    const before = await rowCounts(ctx.sql)
    const res = await send('PUT', `${url}/${id}`, { name: 'made by PUT', type: 'bookmark', location: 9_000 })
    expect(res.statusCode, res.body).toBe(200)
    const expected = { id, name: 'made by PUT', type: 'bookmark', location: 9_000, selfUri: `${url}/${id}` }
    expect(res.json()).toEqual(expected)
    expect(await rowCounts(ctx.sql)).toEqual({ ...before, annotations: before.annotations! + 1 })
    expect((await send('GET', `${url}/${id}`)).json()).toEqual(expected)
    expect((await getRecording(conversationId, recordingId)).annotations).toContainEqual(expected)
  })

  it('refuses a path id that is not a UUID with 400, storing nothing', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    const body = expectErrorBody(await send('PUT', `${url}/not-a-uuid`, { name: 'x' }), 400)
    expect(body.message).toMatch(/UUID/)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })
})

describe('server-owned fields', () => {
  const serverOwned = {
    selfUri: '/api/v2/somewhere/else',
    user: { id: '5f2e0000-0000-4000-8000-0000000000ff', name: 'Mallory' },
    absoluteLocation: 111,
    absoluteDurationMs: 222,
    recordingLocation: 333,
    recordingDurationMs: 444,
    realtimeLocation: 555,
    reason: 'SecurePause',
    annotations: [{ name: 'child', location: 1 }],
    someFutureSdkProperty: { nested: true },
  }
  const untouched = {
    absolute_location: null,
    absolute_duration_ms: null,
    recording_location: null,
    recording_duration_ms: null,
    realtime_location: null,
    user: null,
    reason: null,
  }

  it('are ignored on POST and never stored', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    const res = await send('POST', url, { ...serverOwned, name: 'client', type: 'bookmark', location: 100, durationMs: 5, description: 'd' })
    expect(res.statusCode, res.body).toBe(200)
    const created = res.json<Annotation>()
    expect(created).toEqual({ id: created.id, name: 'client', type: 'bookmark', location: 100, durationMs: 5, description: 'd', selfUri: `${url}/${created.id}` })
    expect(await storedRow(must(created.id, 'id'))).toMatchObject(untouched)
    // Only the annotation itself: the child list is not stored either.
    expect(await rowCounts(ctx.sql)).toEqual({ ...before, annotations: before.annotations! + 1 })
    // Not made a system annotation by the client's `reason`: it can still be deleted.
    expect((await send('DELETE', `${url}/${created.id}`)).statusCode).toBe(204)
  })

  it('are ignored on PUT (id included), and a whole annotation read back can be PUT again', async () => {
    const { url, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    const res = await send('PUT', `${url}/${bookmark.id}`, { ...serverOwned, id: randomUUID(), name: 'edited', location: 1_000 })
    expect(res.statusCode, res.body).toBe(200)
    const edited = res.json<Annotation>()
    expect(edited).toEqual({ id: bookmark.id, name: 'edited', location: 1_000, selfUri: bookmark.selfUri })
    expect(await storedRow(must(bookmark.id, 'id'))).toMatchObject(untouched)
    expect(await rowCounts(ctx.sql)).toEqual(before)

    // The SDK pattern: read, change one field, send the whole object back.
    const again = await send('PUT', `${url}/${bookmark.id}`, { ...edited, description: 'now described' })
    expect(again.json()).toEqual({ ...edited, description: 'now described' })
  })
})

describe('validation', () => {
  it.each([
    ['a negative location', { location: -1 }, /location must be >= 0/],
    ['a negative durationMs', { durationMs: -5 }, /durationMs must be >= 0/],
    ['a non-integer durationMs', { durationMs: 1.5 }, /durationMs must be integer/],
    ['a location beyond 2^53 - 1', { location: 2 ** 53 }, /location must be <=/],
    ['a description of 501 characters', { description: 'd'.repeat(501) }, /description must NOT have more than 500 characters/],
    ['a name over 200 characters', { name: 'n'.repeat(201) }, /name must NOT have more than 200 characters/],
    ['a type over 100 characters', { type: 't'.repeat(101) }, /type must NOT have more than 100 characters/],
    ['a number for name', { name: 42 }, /name must be string/],
    ['a string for location', { location: '1000' }, /location must be integer/],
    ['null for description', { description: null }, /description must be string/],
    ['a boolean for type', { type: true }, /type must be string/],
    ['a number for id', { id: 42 }, /id must be string/],
    ['a body that is not an object', [{ name: 'x' }], /must be object/],
    ['malformed JSON', '{"name": ', /JSON/],
  ])('answers 400 with an ErrorBody on POST and PUT for %s, storing nothing', async (_case, payload, message) => {
    const { url, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    for (const [method, target] of [['POST', url], ['PUT', `${url}/${bookmark.id}`], ['PUT', `${url}/${randomUUID()}`]] as const) {
      const body = expectErrorBody(await send(method, target, payload), 400)
      expect(body.code).toBe('bad.request')
      expect(body.message).toMatch(message)
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('GET', `${url}/${bookmark.id}`)).json()).toEqual(bookmark)
  })

  it('names the field with a JSON pointer for each problem', async () => {
    const { url } = await arrange()
    const body = expectErrorBody(await send('POST', url, { location: -1, description: 'd'.repeat(501), name: 7 }), 400)
    expect(body.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ fieldName: 'location', pointer: '#/location', in: 'body' }),
        expect.objectContaining({ fieldName: 'description', pointer: '#/description', in: 'body' }),
        expect.objectContaining({ fieldName: 'name', pointer: '#/name', in: 'body', errorCode: 'invalid.type' }),
      ]),
    )
    expect(body.details).toHaveLength(3)
  })

  it('refuses a POST whose id is not a UUID, storing nothing', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    const body = expectErrorBody(await send('POST', url, { id: 'bookmark-1', name: 'x' }), 400)
    expect(body.message).toMatch(/UUID/)
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('accepts the limits themselves: description of 500, name of 200, type of 100, location 0', async () => {
    const { url } = await arrange()
    const limits = { name: 'n'.repeat(200), type: 't'.repeat(100), description: 'd'.repeat(500), location: 0, durationMs: 0 }
    const res = await send('POST', url, limits)
    expect(res.statusCode, res.body).toBe(200)
    const created = res.json<Annotation>()
    expect(created).toMatchObject(limits)
    expect((await send('GET', `${url}/${created.id}`)).json()).toMatchObject(limits)
    const put = await send('PUT', `${url}/${created.id}`, { ...limits, description: 'e'.repeat(500) })
    expect(put.statusCode).toBe(200)
    expect(put.json<Annotation>().description).toBe('e'.repeat(500))
  })
})

describe('DELETE /annotations/:annotationId', () => {
  it('answers 204 with an empty body and the annotation is gone', async () => {
    const { conversationId, recordingId, url, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    const res = await send('DELETE', `${url}/${bookmark.id}`)
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    expect(await rowCounts(ctx.sql)).toEqual({ ...before, annotations: before.annotations! - 1 })
    expect(await storedRow(must(bookmark.id, 'id'))).toBeUndefined()
    expectErrorBody(await send('GET', `${url}/${bookmark.id}`), 404)
    expect((await send('GET', url)).json<Annotation[]>().map((a) => a.id)).not.toContain(bookmark.id)
    expect((await getRecording(conversationId, recordingId)).annotations?.map((a) => a.id)).not.toContain(bookmark.id)
    // Gone means gone: a second DELETE finds nothing.
    expectErrorBody(await send('DELETE', `${url}/${bookmark.id}`), 404)
  })

  it('accepts the SDK request: Content-Type application/json with an empty body', async () => {
    const { url, bookmark } = await arrange()
    const res = await ctx.inject({ method: 'DELETE', url: `${url}/${bookmark.id}`, headers: { 'content-type': 'application/json' }, payload: '' })
    expect(res.statusCode, res.body).toBe(204)
    expect(res.body).toBe('')
    expect(await storedRow(must(bookmark.id, 'id'))).toBeUndefined()
  })
})

describe('system annotations (with a reason)', () => {
  it('cannot be changed by PUT or by POST with their id (400), and stay unchanged', async () => {
    const { url, system } = await arrange()
    const before = await rowCounts(ctx.sql)
    const storedBefore = await storedRow(must(system.id, 'id'))
    for (const [method, target, payload] of [
      ['PUT', `${url}/${system.id}`, { name: 'not a hold any more', location: 1 }],
      ['PUT', `${url}/${system.id}`, system],
      ['POST', url, { id: system.id, name: 'hijack' }],
    ] as const) {
      const body = expectErrorBody(await send(method, target, payload), 400)
      expect(body.message).toMatch(/system annotation/)
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect(await storedRow(must(system.id, 'id'))).toEqual(storedBefore)
    expect((await send('GET', `${url}/${system.id}`)).json()).toEqual(system)
  })

  it('cannot be deleted (400), also not with the SDK empty JSON body, and stay', async () => {
    const { url, system } = await arrange()
    const before = await rowCounts(ctx.sql)
    expect(expectErrorBody(await send('DELETE', `${url}/${system.id}`), 400).message).toMatch(/system annotation/)
    expectErrorBody(await ctx.inject({ method: 'DELETE', url: `${url}/${system.id}`, headers: { 'content-type': 'application/json' }, payload: '' }), 400)
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('GET', `${url}/${system.id}`)).json()).toEqual(system)
  })
})

describe('not found', () => {
  it('answers 404 for an unknown recording, a non-UUID recording id, and a recording under another conversation', async () => {
    const { conversationId, recordingId, bookmark } = await arrange()
    const before = await rowCounts(ctx.sql)
    for (const url of [annotationsUrl(conversationId, randomUUID()), annotationsUrl(conversationId, 'not-a-uuid'), annotationsUrl(randomUUID(), recordingId)]) {
      for (const [method, target, payload] of [
        ['GET', url, undefined],
        ['POST', url, { name: 'x' }],
        ['POST', url, { id: bookmark.id, name: 'x' }],
        ['GET', `${url}/${bookmark.id}`, undefined],
        ['PUT', `${url}/${bookmark.id}`, { name: 'x' }],
        ['PUT', `${url}/${randomUUID()}`, { name: 'x' }],
        ['DELETE', `${url}/${bookmark.id}`, undefined],
      ] as const) {
        const body = expectErrorBody(await send(method, target, payload), 404)
        expect(body, `${method} ${target}`).toMatchObject({ code: 'not.found', entityName: 'Recording' })
      }
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
    expect((await send('GET', `${annotationsUrl(conversationId, recordingId)}/${bookmark.id}`)).json()).toEqual(bookmark)
  })

  it('answers 404 for an unknown annotation id and a non-UUID one on GET and DELETE', async () => {
    const { url } = await arrange()
    const before = await rowCounts(ctx.sql)
    for (const id of [randomUUID(), 'not-a-uuid', '12345']) {
      for (const method of ['GET', 'DELETE'] as const) {
        const body = expectErrorBody(await send(method, `${url}/${id}`), 404)
        expect(body).toMatchObject({ code: 'not.found', entityName: 'Annotation', entityId: id })
      }
    }
    expect(await rowCounts(ctx.sql)).toEqual(before)
  })

  it('treats an annotation id of another recording as unknown here, leaving that annotation alone', async () => {
    // Ids are scoped to their recording: reads and deletes answer 404, and the upserts create an annotation of this
    // recording with that id, exactly as for any unknown id.
    const mine = await arrange()
    const theirs = await arrange()
    for (const foreign of [theirs.bookmark, theirs.system]) {
      for (const [method, target] of [['GET', `${mine.url}/${foreign.id}`], ['DELETE', `${mine.url}/${foreign.id}`]] as const) {
        const body = expectErrorBody(await send(method, target), 404)
        expect(body, `${method} ${target}`).toMatchObject({ code: 'not.found', entityName: 'Annotation', entityId: foreign.id })
      }
      expect((await send('GET', `${theirs.url}/${foreign.id}`)).json()).toEqual(foreign)
    }
    const put = await send('PUT', `${mine.url}/${theirs.bookmark.id}`, { name: 'mine now' })
    expect(put.statusCode).toBe(200)
    expect(put.json()).toMatchObject({ id: theirs.bookmark.id, name: 'mine now', selfUri: `${mine.url}/${theirs.bookmark.id}` })
    const post = await send('POST', mine.url, { id: theirs.system.id, name: 'also mine' })
    expect(post.statusCode).toBe(200)
    expect(post.json()).toMatchObject({ id: theirs.system.id, name: 'also mine' })
    expect(post.json()).not.toHaveProperty('reason')
    expect((await send('GET', `${theirs.url}/${theirs.bookmark.id}`)).json()).toEqual(theirs.bookmark)
    expect((await send('GET', `${theirs.url}/${theirs.system.id}`)).json()).toEqual(theirs.system)
  })
})
