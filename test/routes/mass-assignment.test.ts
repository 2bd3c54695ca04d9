import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AnnotationInputSchema, AnnotationSchema, CreateRecordingSchema, RecordingSchema, type Annotation, type Recording,
} from '../../src/schemas/recording.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { audioRecording, chatRecording, emailRecording } from '../fixtures.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, rowCounts, type TestContext } from '../helpers.js'

/**
 * Mass assignment: a client may only set what a route documents as client-owned. Random extra properties (names the
 * server owns, and any others) with random JSON values are merged into valid bodies of every write route.
 */

const RUNS = { numRuns: 25 }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Keys the JSON parser refuses by design (prototype pollution); they are tested on their own below. */
const POISONED_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Names a client might try in order to set what the server decides. */
const SERVER_OWNED = [
  'id', 'organizationId', 'organization_id', 'organization', 'orgId', 'fileState', 'file_state', 'creationTime', 'creation_time',
  'selfUri', 'conversationId', 'conversation_id', 'recordingId', 'recording_id', 'originalRecordingStartTime', 'exportDate',
  'exportedDate', 'restoreExpirationTime', 'archiveMedium', 'recordingErrorStatus', 'maxAllowedRestorationsForOrg',
  'remainingRestorationsAllowedForOrg', 'user', 'reason', 'absoluteLocation', 'absoluteDurationMs', 'recordingLocation',
  'recordingDurationMs', 'realtimeLocation', 'createdAt', 'updatedAt', 'clientId', 'permissions',
]

/** PostgreSQL cannot store NUL or unpaired surrogates, and the parser refuses them with 400: keep generated values clean. */
function storable(value: unknown): boolean {
  if (typeof value === 'string') return !value.includes('\u0000') && value.isWellFormed()
  if (Array.isArray(value)) return value.every(storable)
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(([key, child]) => !POISONED_KEYS.has(key) && storable(key) && storable(child))
  }
  return true
}

/** Up to `maxLength` code points (the unit of the schemas' maxLength), from any printable graphemes. */
const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength }).filter((s) => storable(s) && [...s].length <= maxLength)
const json = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).filter(storable) as fc.Arbitrary<unknown>

/**
 * Extra properties: keys drawn from `owned` or random (never one of `allowed`, the keys the route reads), each with a
 * random JSON value or one of the `hostile` values (another tenant's ids, states, dates). `valueFor` narrows a key's
 * values where the route types that key (an `id` must be a string, say).
 */
function extras(
  owned: readonly string[],
  allowed: readonly string[],
  hostile: () => unknown[],
  valueFor: (key: string) => fc.Arbitrary<unknown> | undefined = () => undefined,
): fc.Arbitrary<Record<string, unknown>> {
  const skip = new Set([...allowed, ...POISONED_KEYS])
  const key = fc.oneof(
    fc.constantFrom(...owned.filter((k) => !skip.has(k))),
    text(24).filter((k) => k.length > 0 && !skip.has(k)),
  )
  return fc.uniqueArray(key, { minLength: 1, maxLength: 6 }).chain((keys) =>
    fc.tuple(...keys.map((k) => valueFor(k) ?? fc.oneof(json, fc.constantFrom(...hostile())))).map((values) =>
      Object.fromEntries(keys.map((k, i) => [k, values[i]])),
    ),
  )
}

let ctx: TestContext
let otherOrganization: string
let foreign: { conversationId: string; recordingId: string; annotationId: string }
beforeAll(async () => {
  ctx = await createTestContext()
  otherOrganization = await createOrganization(ctx, 'mass-assignment-other')
  const outsider = await ctx.token(undefined, otherOrganization)
  const conversationId = randomUUID()
  const res = await ctx.app.inject({
    method: 'POST',
    url: recordingsUrl(conversationId),
    headers: { authorization: `Bearer ${outsider}` },
    payload: { media: 'audio', annotations: [{ name: 'theirs' }] },
  })
  expect(res.statusCode, res.body).toBe(201)
  const recording = res.json<Recording>()
  foreign = { conversationId, recordingId: recording.id as string, annotationId: recording.annotations?.[0]?.id as string }
})
afterAll(async () => {
  await ctx.close()
})

const hostileValues = () => [
  otherOrganization, DEFAULT_ORGANIZATION_ID, foreign.recordingId, foreign.annotationId, foreign.conversationId, randomUUID(),
  'ARCHIVED', 'DELETED', 'RESTORED', 'CLOUDARCHIVE', 'EMAIL_TRANSCRIPT_TOO_LARGE', 'Hold', 'SecurePause', 0, -1, 2 ** 31, 1e21,
  '1999-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z', { id: randomUUID(), name: 'Mallory' }, null, true,
]

const send = (method: 'POST' | 'PUT', url: string, body: object) =>
  ctx.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } })

/** The stored recording row, every column. */
async function recordingRow(id: string): Promise<Record<string, unknown>> {
  const { rows } = await ctx.sql.query<Record<string, unknown>>('SELECT * FROM recordings WHERE id = $1', [id])
  expect(rows).toHaveLength(1)
  return rows[0] as Record<string, unknown>
}

/** Every annotation row of a recording, every column, keyed by id. */
async function annotationRows(recordingId: string): Promise<Record<string, Record<string, unknown>>> {
  const { rows } = await ctx.sql.query<Record<string, unknown>>('SELECT * FROM annotations WHERE recording_id = $1', [recordingId])
  return Object.fromEntries(rows.map((row) => [String(row.id), row]))
}

const without = <T extends object>(value: T, ...keys: string[]): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key))) as Partial<T>

/** A recording of the default organization whose server-owned columns are all set, so "unchanged" means something. */
async function arrangeRecording() {
  const conversationId = randomUUID()
  const recording = await ingest(ctx, conversationId, {
    ...audioRecording,
    annotations: [
      ...audioRecording.annotations,
      // A client annotation (no reason) that still carries server-derived positions and a user from the producer.
      { name: 'note', type: 'bookmark', location: 5_000, durationMs: 10, absoluteLocation: 4_000, absoluteDurationMs: 10, recordingLocation: 3_900, recordingDurationMs: 9, realtimeLocation: 5_100, user: { id: 'u-1', name: 'Ada' } },
    ],
  })
  const recordingId = recording.id as string
  await ctx.sql.query(
    `UPDATE recordings SET export_date = '2031-02-03T04:05:06.007Z', exported_date = '2024-06-01T00:00:00.000Z',
            archive_medium = 'CLOUDARCHIVE', recording_error_status = 'EMAIL_TRANSCRIPT_TOO_LARGE',
            restore_expiration_time = '2032-01-01T00:00:00.000Z', remaining_restorations_allowed_for_org = 42
      WHERE id = $1`,
    [recordingId],
  )
  const annotations = recording.annotations ?? []
  return {
    conversationId,
    recordingId,
    url: `${recordingsUrl(conversationId)}/${recordingId}`,
    note: annotations.find((a) => a.name === 'note') as Annotation,
    system: annotations.find((a) => a.reason !== undefined) as Annotation,
  }
}

const getJson = async <T>(url: string): Promise<T> => {
  const res = await ctx.inject({ method: 'GET', url })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<T>()
}

describe('POST ingest (closed schema)', () => {
  const known = Object.keys(CreateRecordingSchema.properties)

  it('refuses any extra property with 400, naming each one, and stores nothing', async () => {
    const base = fc.constantFrom<object>(audioRecording, chatRecording, emailRecording, {}, { media: 'screen', name: 'x' })
    await fc.assert(
      fc.asyncProperty(base, extras(SERVER_OWNED, known, hostileValues), async (valid, extra) => {
        const before = await rowCounts(ctx.sql)
        const res = await send('POST', recordingsUrl(randomUUID()), { ...valid, ...extra })
        const body = expectErrorBody(res, 400)
        const unknown = body.details.filter((d) => d.errorCode === 'unknown.property')
        expect(unknown).toHaveLength(Object.keys(extra).length)
        expect(body.details).toHaveLength(Object.keys(extra).length)
        expect(await rowCounts(ctx.sql)).toEqual(before)
      }),
      RUNS,
    )
  })

  it('names an unknown property with an RFC 6901 pointer, escaping "/" and "~"', async () => {
    const body = expectErrorBody(await send('POST', recordingsUrl(randomUUID()), { 'a/b': 1, 'c~d': 2 }), 400)
    expect(body.details.map((d) => d.pointer).sort()).toEqual(['#/a~1b', '#/c~0d'])
  })
})

describe('PUT recording (open: only archiveDate and deleteDate are read)', () => {
  const date = (min: string, max: string) =>
    fc.date({ min: new Date(min), max: new Date(max), noInvalidDate: true }).map((d) => d.toISOString())
  const retention = fc.record(
    { archiveDate: fc.option(date('2031-01-01', '2035-12-31'), { nil: null }), deleteDate: fc.option(date('2036-01-01', '2040-12-31'), { nil: null }) },
    { requiredKeys: [] },
  )
  const owned = [...new Set([...SERVER_OWNED, ...Object.keys(RecordingSchema.properties)])]

  it('applies the retention dates and leaves every other field, stored or derived, as it was', async () => {
    const target = await arrangeRecording()
    await fc.assert(
      fc.asyncProperty(retention, extras(owned, ['archiveDate', 'deleteDate'], hostileValues), async (dates, extra) => {
        const before = { view: await getJson<Recording>(target.url), row: await recordingRow(target.recordingId), counts: await rowCounts(ctx.sql) }
        const beforeAnnotations = await annotationRows(target.recordingId)

        const res = await send('PUT', target.url, { ...extra, ...dates })
        expect(res.statusCode, res.body).toBe(200)
        const answered = res.json<Recording>()
        expect(answered.archiveDate).toBe(dates.archiveDate ?? undefined)
        expect(answered.deleteDate).toBe(dates.deleteDate ?? undefined)
        expect(await getJson<Recording>(target.url)).toEqual(answered)
        expect(without(answered, 'archiveDate', 'deleteDate')).toEqual(without(before.view, 'archiveDate', 'deleteDate'))

        const row = await recordingRow(target.recordingId)
        expect(row.organization_id).toBe(DEFAULT_ORGANIZATION_ID)
        expect(without(row, 'archive_date', 'delete_date', 'updated_at', 'version')).toEqual(without(before.row, 'archive_date', 'delete_date', 'updated_at', 'version'))
        expect(await annotationRows(target.recordingId)).toEqual(beforeAnnotations)
        expect(await rowCounts(ctx.sql)).toEqual(before.counts)
      }),
      RUNS,
    )
    // The other organization's recording was never touched.
    expect(await recordingRow(foreign.recordingId)).toMatchObject({ organization_id: otherOrganization, archive_date: null, delete_date: null })
  })
})

describe('annotations (open: only name, type, location, durationMs and description are read)', () => {
  const clientFields = fc.record(
    { name: text(20), type: text(20), location: fc.maxSafeNat(), durationMs: fc.maxSafeNat(), description: text(40) },
    { requiredKeys: [] },
  )
  const CLIENT_FIELDS = ['name', 'type', 'location', 'durationMs', 'description']
  const owned = [...new Set([...SERVER_OWNED, ...Object.keys(AnnotationSchema.properties)])]
  const SERVER_COLUMNS = ['recording_id', 'absolute_location', 'absolute_duration_ms', 'recording_location', 'recording_duration_ms', 'realtime_location', 'user', 'reason']

  /** What the route may change in a row: exactly the client fields. */
  const expectClientColumns = (row: Record<string, unknown> | undefined, fields: Record<string, unknown>) =>
    expect(row).toMatchObject({
      name: fields.name ?? null,
      type: fields.type ?? null,
      location: fields.location === undefined ? null : String(fields.location),
      duration_ms: fields.durationMs === undefined ? null : String(fields.durationMs),
      description: fields.description ?? null,
    })

  it('POST creates an annotation of this recording with a new id and no server-owned value from the body', async () => {
    const target = await arrangeRecording()
    const url = `${target.url}/annotations`
    // On POST an `id` is Genesys' upsert key (a documented client choice), so it is not among the extras here.
    const known = [...Object.keys(AnnotationInputSchema.properties), 'id']
    await fc.assert(
      fc.asyncProperty(clientFields, extras(owned, known, hostileValues), async (fields, extra) => {
        const before = { recording: await recordingRow(target.recordingId), annotations: await annotationRows(target.recordingId), counts: await rowCounts(ctx.sql) }

        const res = await send('POST', url, { ...extra, ...fields })
        expect(res.statusCode, res.body).toBe(200)
        const created = res.json<Annotation>()
        expect(created.id).toMatch(UUID)
        expect(Object.keys(before.annotations)).not.toContain(created.id)
        expect(created).toEqual({ ...fields, id: created.id, selfUri: `${url}/${created.id}` })
        expect(await getJson<Annotation>(`${url}/${created.id}`)).toEqual(created)

        const after = await annotationRows(target.recordingId)
        const row = after[created.id as string]
        expectClientColumns(row, fields)
        expect(row).toMatchObject({
          recording_id: target.recordingId, absolute_location: null, absolute_duration_ms: null, recording_location: null,
          recording_duration_ms: null, realtime_location: null, user: null, reason: null,
        })
        expect(without(after, created.id as string)).toEqual(before.annotations)
        // The recording's version (its ETag) moves with its annotations; nothing else of it does.
        expect(without(await recordingRow(target.recordingId), 'version')).toEqual(without(before.recording, 'version'))
        expect(await rowCounts(ctx.sql)).toEqual({ ...before.counts, annotations: (before.counts.annotations ?? 0) + 1 })
      }),
      RUNS,
    )
  })

  it('PUT changes only the client fields of the annotation in the path, whatever the body says', async () => {
    const target = await arrangeRecording()
    const url = `${target.url}/annotations/${target.note.id}`
    // The body's `id` is typed (a string) and ignored: the path wins. Try the ids that matter.
    const idValues = fc.oneof(fc.constantFrom(target.system.id as string, foreign.annotationId, randomUUID(), ''), text(40))
    const extra = extras(owned, CLIENT_FIELDS, hostileValues, (key) => (key === 'id' ? idValues : undefined))
    await fc.assert(
      fc.asyncProperty(clientFields, extra, async (fields, extraProps) => {
        const before = { recording: await recordingRow(target.recordingId), annotations: await annotationRows(target.recordingId), counts: await rowCounts(ctx.sql) }
        const foreignBefore = await annotationRows(foreign.recordingId)
        const noteBefore = before.annotations[target.note.id as string] as Record<string, unknown>

        const res = await send('PUT', url, { ...extraProps, ...fields })
        expect(res.statusCode, res.body).toBe(200)
        const updated = res.json<Annotation>()
        expect(updated.id).toBe(target.note.id)
        expect(await getJson<Annotation>(url)).toEqual(updated)
        // Server-derived members are as stored, not as sent.
        for (const derived of ['absoluteLocation', 'absoluteDurationMs', 'recordingLocation', 'recordingDurationMs', 'realtimeLocation', 'user', 'selfUri'] as const) {
          expect(updated[derived]).toEqual(target.note[derived])
        }
        expect(updated).not.toHaveProperty('reason')

        const after = await annotationRows(target.recordingId)
        const row = after[target.note.id as string]
        expectClientColumns(row, fields)
        for (const column of [...SERVER_COLUMNS, 'created_at']) expect(row?.[column], column).toEqual(noteBefore[column])
        expect(without(after, target.note.id as string)).toEqual(without(before.annotations, target.note.id as string))
        expect(await annotationRows(foreign.recordingId)).toEqual(foreignBefore)
        // The recording's version (its ETag) moves with its annotations; nothing else of it does.
        expect(without(await recordingRow(target.recordingId), 'version')).toEqual(without(before.recording, 'version'))
        expect(await rowCounts(ctx.sql)).toEqual(before.counts)
      }),
      RUNS,
    )
  })
})

describe('text the store cannot keep, and poisoned keys, are refused even in ignored properties', () => {
  /** A string with a NUL or an unpaired surrogate somewhere in it. */
  const unstorable = fc
    .tuple(text(8), fc.constantFrom('\u0000', '\ud800', '\udfff', '\udc00x'), text(8))
    .map(([a, bad, b]) => a + bad + b)
  const routes = ['PUT recording', 'POST annotation', 'PUT annotation'] as const

  const targetOf = async () => {
    const target = await arrangeRecording()
    return {
      target,
      urls: {
        'PUT recording': ['PUT', target.url],
        'POST annotation': ['POST', `${target.url}/annotations`],
        'PUT annotation': ['PUT', `${target.url}/annotations/${target.note.id}`],
      } as const,
    }
  }

  it('answers 400 and changes nothing when an ignored key or value holds NUL or a lone surrogate', async () => {
    const { target, urls } = await targetOf()
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), unstorable, fc.boolean(), async (route, bad, asKey) => {
        const before = { recording: await recordingRow(target.recordingId), annotations: await annotationRows(target.recordingId), counts: await rowCounts(ctx.sql) }
        const [method, url] = urls[route]
        const body = asKey ? { name: 'ok', [bad]: 1 } : { name: 'ok', ignored: { deeper: [bad] } }
        const error = expectErrorBody(await send(method, url, body), 400)
        expect(error.message).toMatch(/NUL|surrogate/)
        expect(await recordingRow(target.recordingId)).toEqual(before.recording)
        expect(await annotationRows(target.recordingId)).toEqual(before.annotations)
        expect(await rowCounts(ctx.sql)).toEqual(before.counts)
      }),
      RUNS,
    )
  })

  it.each(routes)('%s: answers 400 for __proto__ and constructor.prototype keys and changes nothing', async (route) => {
    const { target, urls } = await targetOf()
    const [method, url] = urls[route]
    for (const raw of [
      '{"name":"x","__proto__":{"organizationId":"evil"}}',
      '{"name":"x","nested":{"__proto__":{"fileState":"DELETED"}}}',
      '{"name":"x","constructor":{"prototype":{"organizationId":"evil"}}}',
    ]) {
      const before = { recording: await recordingRow(target.recordingId), annotations: await annotationRows(target.recordingId) }
      const res = await ctx.inject({ method, url, payload: raw, headers: { 'content-type': 'application/json' } })
      expect(expectErrorBody(res, 400).message).toMatch(/prototype|__proto__|constructor/i)
      expect(await recordingRow(target.recordingId)).toEqual(before.recording)
      expect(await annotationRows(target.recordingId)).toEqual(before.annotations)
    }
    expect(({} as Record<string, unknown>).organizationId).toBeUndefined()
  })
})
