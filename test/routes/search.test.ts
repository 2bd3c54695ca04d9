import { randomUUID } from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_PERMISSIONS } from '../../src/auth/permissions.js'
import type { RecordingMetadata } from '../../src/schemas/recording.js'
import type { SearchResult } from '../../src/schemas/search.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { chatRecording, emailRecording, messagingRecording } from '../fixtures.js'
import { createOrganization, createTestContext, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

/** An organization of its own, so that what a test finds is only what it stored. */
interface Tenant {
  id: string
  inject(options: InjectOptions): Promise<LightMyRequestResponse>
}

async function tenant(name: string): Promise<Tenant> {
  const id = await createOrganization(ctx, `${name}-${randomUUID()}`)
  const token = await ctx.token(ALL_PERMISSIONS, id)
  return { id, inject: (options) => ctx.inject({ ...options, headers: { ...options.headers, authorization: `Bearer ${token}` } }) }
}

type Params = Record<string, string | number>
const searchUrl = (params: Params = {}) =>
  `/api/v2/recordings?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()}`

const search = (t: Pick<Tenant, 'inject'>, params: Params = {}) => t.inject({ method: 'GET', url: searchUrl(params) })

async function page(t: Pick<Tenant, 'inject'>, urlOrParams: string | Params = {}): Promise<SearchResult> {
  const res = await t.inject({ method: 'GET', url: typeof urlOrParams === 'string' ? urlOrParams : searchUrl(urlOrParams) })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<SearchResult>()
}

/** Follows nextUri to the last page; every page but the last is full, and nextUri keeps the listing. */
async function pages(t: Pick<Tenant, 'inject'>, params: Params, between?: (seen: string[]) => Promise<void>) {
  const seen: string[] = []
  const results: SearchResult[] = []
  let url: string | undefined = searchUrl(params)
  while (url) {
    const result = await page(t, url)
    results.push(result)
    seen.push(...result.entities.map((e) => e.id as string))
    if (result.nextUri) {
      expect(result.entities).toHaveLength(result.pageSize)
      const next = new URL(result.nextUri, 'http://x')
      expect(next.pathname).toBe('/api/v2/recordings')
      expect(next.searchParams.get('cursor')).toMatch(/^[\w-]+\.[\w-]+$/)
      for (const [name, value] of Object.entries(params)) {
        if (name === 'cursor') continue
        expect(next.searchParams.get(name)).toBe(name === 'pageSize' ? String(Math.min(Number(value), 100)) : String(value))
      }
      if (between) await between(seen)
    }
    expect(results.length).toBeLessThan(500)
    url = result.nextUri
  }
  return { ids: seen, results }
}

const cursorOf = (uri: string | undefined) => {
  expect(uri).toBeDefined()
  return new URL(uri as string, 'http://x').searchParams.get('cursor') as string
}

/** Recordings inserted set-based, `n` of them with distinct start times `minutes` apart. */
async function seed(organizationId: string, n: number, { media = 'audio', start = '2024-01-01T00:00:00Z', minutes = 1 } = {}) {
  const { rows } = await ctx.sql.query<{ id: string; conversation_id: string }>(
    `INSERT INTO recordings (id, organization_id, conversation_id, media, file_state, start_time)
     SELECT gen_random_uuid(), $1, 'seed-' || i, $2, 'AVAILABLE', $3::timestamptz + i * ($4 || ' minutes')::interval
     FROM generate_series(1, $5) AS i
     RETURNING id, conversation_id`,
    [organizationId, media, start, minutes, n],
  )
  return rows
}

/** PostgreSQL orders uuids byte by byte, which is the order of their lower-case text. */
const byKeyThenId = (descending: boolean) => (a: { key: number; id: string }, b: { key: number; id: string }) => {
  const order = a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  return descending ? -order : order
}

describe('GET /api/v2/recordings: filters and sorting', () => {
  // Every filterable field varies; d and f have no start time and sort at their creation time; i and j tie.
  const ITEMS = {
    a: { conversation: 'conv-1', creationTime: '2024-05-01T13:00:00.000Z', fileState: undefined, body: { name: 'a', media: 'audio', mediaSubtype: 'Trunk', recordingFileRole: 'CUSTOMER_EXPERIENCE', startTime: '2024-05-01T12:00:00.000Z', users: [{ id: 'user-1' }, { id: 'user-2' }], archiveDate: '2030-01-01T00:00:00.000Z', deleteDate: '2031-01-01T00:00:00.000Z', mediaUris: { S: { mediaUri: 'https://media.example/a.webm' } }, annotations: [{ name: 'note', location: 5 }] } },
    b: { conversation: 'conv-1', creationTime: '2024-05-02T01:00:00.000Z', fileState: undefined, body: { name: 'b', media: 'audio', mediaSubtype: 'Station', recordingFileRole: 'ADHOC', startTime: '2024-05-02T00:00:00.000Z', users: [{ id: 'user-2' }], archiveDate: '2029-06-01T00:00:00.000Z' } },
    c: { conversation: 'conv-2', creationTime: '2024-05-03T00:30:00.000Z', fileState: undefined, body: { ...chatRecording, name: 'c', startTime: '2024-05-03T00:00:00.000Z', endTime: undefined, users: [{ id: 'user-1' }], deleteDate: '2029-01-01T00:00:00.000Z' } },
    d: { conversation: 'conv-3', creationTime: '2024-05-02T12:00:00.000Z', fileState: undefined, body: { ...emailRecording, name: 'd', archiveDate: '2028-01-01T00:00:00.000Z', deleteDate: '2028-06-01T00:00:00.000Z' } },
    e: { conversation: 'conv-4', creationTime: '2024-05-04T00:00:01.000Z', fileState: undefined, body: { ...messagingRecording, name: 'e', startTime: '2024-05-04T00:00:00.000Z', recordingFileRole: 'CUSTOMER_EXPERIENCE', users: [{ id: 'user-3' }] } },
    f: { conversation: 'conv-5', creationTime: '2024-04-30T00:00:00.000Z', fileState: 'ARCHIVED', body: { name: 'f', media: 'screen', mediaSubtype: 'Screen', users: [{ id: 'user-1' }] } },
    g: { conversation: 'conv-6', creationTime: '2024-05-06T00:00:00.000Z', fileState: 'ERROR', body: { name: 'g', media: 'audio', mediaSubtype: 'Consult', recordingFileRole: 'CUSTOMER_EXPERIENCE', startTime: '2024-05-02T23:59:59.999Z' } },
    h: { conversation: 'conv-2', creationTime: '2024-05-05T00:00:00.000Z', fileState: undefined, body: { name: 'h', media: 'audio', mediaSubtype: 'Trunk', recordingFileRole: 'ADHOC', startTime: '2024-04-29T00:00:00.000Z', users: [{ id: 'user-3' }], archiveDate: '2031-01-01T00:00:00.000Z' } },
    i: { conversation: 'conv-7', creationTime: '2024-05-01T07:00:00.000Z', fileState: undefined, body: { name: 'i', media: 'audio', startTime: '2024-05-01T06:00:00.000Z' } },
    j: { conversation: 'conv-7', creationTime: '2024-05-01T07:00:00.000Z', fileState: undefined, body: { name: 'j', media: 'audio', startTime: '2024-05-01T06:00:00.000Z' } },
  } as const
  type Key = keyof typeof ITEMS
  interface Model {
    name: Key
    id: string
    conversationId: string
    media?: string
    mediaSubtype?: string
    recordingFileRole?: string
    fileState: string
    users: string[]
    startTime?: number
    creationTime: number
    archiveDate?: number
    deleteDate?: number
  }

  let t: Tenant
  let other: Tenant
  const model: Model[] = []
  const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso))

  beforeAll(async () => {
    t = await tenant('filters')
    other = await tenant('filters-other')
    for (const [name, item] of Object.entries(ITEMS) as [Key, (typeof ITEMS)[Key]][]) {
      const created = await ingest(t, item.conversation, item.body)
      await ctx.sql.query('UPDATE recordings SET creation_time = $2, file_state = coalesce($3::"FileState", file_state) WHERE id = $1', [created.id, item.creationTime, item.fileState ?? null])
      const { rows } = await ctx.sql.query<{ file_state: string }>('SELECT file_state FROM recordings WHERE id = $1', [created.id])
      const body = item.body as { media?: string; mediaSubtype?: string; recordingFileRole?: string; users?: { id: string }[]; startTime?: string; archiveDate?: string; deleteDate?: string }
      model.push({
        name, id: created.id as string, conversationId: item.conversation, media: body.media, mediaSubtype: body.mediaSubtype,
        recordingFileRole: body.recordingFileRole, fileState: rows[0]?.file_state as string, users: (body.users ?? []).map((u) => u.id),
        startTime: ms(body.startTime), creationTime: ms(item.creationTime) as number, archiveDate: ms(body.archiveDate), deleteDate: ms(body.deleteDate),
      })
    }
    // The same kinds of recordings in another organization must never show up.
    for (const item of Object.values(ITEMS)) await ingest(other, item.conversation, item.body)
  })

  const names = (ids: string[]) => ids.map((id) => model.find((m) => m.id === id)?.name ?? `foreign:${id}`)
  function expected(filter: (m: Model) => boolean, sortBy: 'startTime' | 'creationTime' = 'startTime', sortOrder: 'asc' | 'desc' = 'desc') {
    return model
      .filter(filter)
      .map((m) => ({ key: sortBy === 'creationTime' ? m.creationTime : (m.startTime ?? m.creationTime), id: m.id, name: m.name }))
      .sort(byKeyThenId(sortOrder === 'desc'))
      .map((m) => m.name)
  }

  it('lists every recording of the organization, newest start first, recordings without startTime at their creation time', async () => {
    const result = await page(t)
    expect(Object.keys(result).sort()).toEqual(['entities', 'pageSize', 'selfUri'])
    expect(result.pageSize).toBe(25)
    expect(result.selfUri).toBe('/api/v2/recordings?sortBy=startTime&sortOrder=desc&pageSize=25')
    // i and j tie on startTime: the id decides
    const tie = [model.find((m) => m.name === 'i'), model.find((m) => m.name === 'j')].map((m) => m?.id as string).sort().reverse()
    expect(names(result.entities.map((e) => e.id as string))).toEqual(['e', 'c', 'g', 'd', 'b', 'a', ...names(tie), 'f', 'h'])
    expect(names(result.entities.map((e) => e.id as string))).toEqual(expected(() => true))
  })

  it('answers recording metadata only: what GET recordingmetadata answers, without transcripts, media links or users', async () => {
    const result = await page(t)
    expect(result.entities).toHaveLength(model.length)
    for (const entity of result.entities) {
      const m = model.find((x) => x.id === entity.id) as Model
      const res = await t.inject({ method: 'GET', url: `/api/v2/conversations/${m.conversationId}/recordingmetadata/${m.id}` })
      expect(res.statusCode).toBe(200)
      expect(entity).toEqual(res.json<RecordingMetadata>())
      for (const absent of ['transcript', 'emailTranscript', 'messagingTranscript', 'mediaUris', 'users', 'snippet', 'path']) {
        expect(entity).not.toHaveProperty(absent)
      }
    }
    const a = result.entities.find((e) => e.name === 'a') as RecordingMetadata
    expect(a).toMatchObject({ media: 'audio', mediaSubtype: 'Trunk', fileState: 'AVAILABLE', startTime: ITEMS.a.body.startTime, archiveDate: ITEMS.a.body.archiveDate, annotations: [expect.objectContaining({ name: 'note' })] })
    expect(a.selfUri).toBe(`/api/v2/conversations/conv-1/recordings/${a.id}`)
  })

  type Case = [string, Params, (m: Model) => boolean]
  const isBefore = (value: number | undefined, limit: string) => value !== undefined && value < Date.parse(limit)
  const inInterval = (value: number | undefined, from?: string, to?: string) =>
    value !== undefined && (from === undefined || value >= Date.parse(from)) && (to === undefined || value < Date.parse(to))
  const CASES: Case[] = [
    ['conversationId', { conversationId: 'conv-1' }, (m) => m.conversationId === 'conv-1'],
    ['conversationId (another)', { conversationId: 'conv-2' }, (m) => m.conversationId === 'conv-2'],
    ['media', { media: 'audio' }, (m) => m.media === 'audio'],
    ['media email', { media: 'email' }, (m) => m.media === 'email'],
    ['mediaSubtype', { mediaSubtype: 'Trunk' }, (m) => m.mediaSubtype === 'Trunk'],
    ['fileState ARCHIVED', { fileState: 'ARCHIVED' }, (m) => m.fileState === 'ARCHIVED'],
    ['fileState UPLOADING', { fileState: 'UPLOADING' }, (m) => m.fileState === 'UPLOADING'],
    ['fileState AVAILABLE', { fileState: 'AVAILABLE' }, (m) => m.fileState === 'AVAILABLE'],
    ['recordingFileRole', { recordingFileRole: 'ADHOC' }, (m) => m.recordingFileRole === 'ADHOC'],
    ['userId', { userId: 'user-1' }, (m) => m.users.includes('user-1')],
    ['userId (another)', { userId: 'user-2' }, (m) => m.users.includes('user-2')],
    ['a closed startTime interval: start included, end excluded, no startTime never matches', { startTime: '2024-05-02T00:00:00Z/2024-05-03T00:00:00Z' }, (m) => inInterval(m.startTime, '2024-05-02T00:00:00Z', '2024-05-03T00:00:00Z')],
    ['a startTime interval open at the end', { startTime: '2024-05-02T00:00:00Z/' }, (m) => inInterval(m.startTime, '2024-05-02T00:00:00Z')],
    ['a startTime interval open at the start', { startTime: '/2024-05-02T00:00:00Z' }, (m) => inInterval(m.startTime, undefined, '2024-05-02T00:00:00Z')],
    ['a startTime interval open at the start, written ..', { startTime: '../2024-05-02T00:00:00Z' }, (m) => inInterval(m.startTime, undefined, '2024-05-02T00:00:00Z')],
    ['a startTime interval open on both sides: only recordings with a startTime', { startTime: '/' }, (m) => m.startTime !== undefined],
    ['a startTime interval with a UTC offset', { startTime: '2024-05-02T02:00:00+02:00/2024-05-02T23:59:59.999Z' }, (m) => inInterval(m.startTime, '2024-05-02T00:00:00Z', '2024-05-02T23:59:59.999Z')],
    ['a creationTime interval', { creationTime: '2024-05-02T00:00:00Z/2024-05-04T00:00:00Z' }, (m) => inInterval(m.creationTime, '2024-05-02T00:00:00Z', '2024-05-04T00:00:00Z')],
    ['a creationTime interval open at the start, end excluded', { creationTime: '/2024-05-01T13:00:00Z' }, (m) => inInterval(m.creationTime, undefined, '2024-05-01T13:00:00Z')],
    ['a creationTime interval open at the end', { creationTime: '2024-05-04T00:00:01Z/..' }, (m) => inInterval(m.creationTime, '2024-05-04T00:00:01Z')],
    ['archiveDateBefore (strictly before)', { archiveDateBefore: '2030-01-01T00:00:00Z' }, (m) => isBefore(m.archiveDate, '2030-01-01T00:00:00Z')],
    ['deleteDateBefore', { deleteDateBefore: '2029-01-01T00:00:00.001Z' }, (m) => isBefore(m.deleteDate, '2029-01-01T00:00:00.001Z')],
    ['several filters together', { media: 'audio', userId: 'user-2', startTime: '2024-05-02T00:00:00Z/' }, (m) => m.media === 'audio' && m.users.includes('user-2') && inInterval(m.startTime, '2024-05-02T00:00:00Z')],
    ['several filters together (another)', { media: 'audio', recordingFileRole: 'ADHOC', conversationId: 'conv-2' }, (m) => m.media === 'audio' && m.recordingFileRole === 'ADHOC' && m.conversationId === 'conv-2'],
    ['a filter nothing matches', { userId: 'nobody' }, () => false],
  ]

  it.each(CASES)('filters by %s', async (_name, params, filter) => {
    const want = expected(filter)
    expect(want.length, 'the case must leave some recordings out').toBeLessThan(model.length)
    const { ids, results } = await pages(t, { ...params, pageSize: 2 })
    expect(names(ids)).toEqual(want)
    expect(results.at(-1)?.nextUri).toBeUndefined()
    // every page is a page of this listing
    for (const result of results) for (const [name, value] of Object.entries(params)) expect(new URL(result.selfUri, 'http://x').searchParams.get(name)).toBe(String(value))
  })

  it('has at least one case per filter that matches something', () => {
    const nonEmpty = CASES.filter(([, , filter]) => model.some(filter)).flatMap(([, params]) => Object.keys(params))
    for (const name of ['conversationId', 'media', 'mediaSubtype', 'fileState', 'recordingFileRole', 'userId', 'startTime', 'creationTime', 'archiveDateBefore', 'deleteDateBefore']) {
      expect(nonEmpty).toContain(name)
    }
    expect(expected((m) => inInterval(m.startTime, '2024-05-02T00:00:00Z', '2024-05-03T00:00:00Z'))).toEqual(['g', 'b'])
  })

  it.each([
    [{}, 'startTime', 'desc'],
    [{ sortOrder: 'desc' }, 'startTime', 'desc'],
    [{ sortOrder: 'asc' }, 'startTime', 'asc'],
    [{ sortBy: 'startTime', sortOrder: 'asc' }, 'startTime', 'asc'],
    [{ sortBy: 'creationTime' }, 'creationTime', 'desc'],
    [{ sortBy: 'creationTime', sortOrder: 'asc' }, 'creationTime', 'asc'],
    [{ sortBy: 'creationTime', sortOrder: 'asc', media: 'audio' }, 'creationTime', 'asc'],
  ] as const)('sorts %j by %s %s, one recording a page', async (params, sortBy, sortOrder) => {
    const filter = 'media' in params ? (m: Model) => m.media === params.media : () => true
    const { ids, results } = await pages(t, { ...params, pageSize: 1 })
    expect(names(ids)).toEqual(expected(filter, sortBy, sortOrder))
    expect(results).toHaveLength(ids.length)
    expect(new URL(results[0]?.selfUri as string, 'http://x').searchParams.get('sortBy')).toBe(sortBy)
    expect(new URL(results[0]?.selfUri as string, 'http://x').searchParams.get('sortOrder')).toBe(sortOrder)
  })

  it('sorts by startTime asc and desc in exactly opposite orders', async () => {
    const desc = (await page(t, { sortOrder: 'desc' })).entities.map((e) => e.id)
    const asc = (await page(t, { sortOrder: 'asc' })).entities.map((e) => e.id)
    expect(asc).toEqual([...desc].reverse())
    expect(names(asc as string[]).slice(0, 3)).toEqual(['h', 'f', ...names([model.find((m) => m.name === 'i')?.id as string, model.find((m) => m.name === 'j')?.id as string].sort())].slice(0, 3))
  })

  it('needs q for sortBy=relevance', async () => {
    const body = expectErrorBody(await search(t, { sortBy: 'relevance' }), 400)
    expect(body.message).toMatch(/relevance/)
    expect(body.details).toEqual([expect.objectContaining({ fieldName: 'sortBy', in: 'querystring' })])
  })

  it('never lists recordings of another organization, and the other organization sees only its own', async () => {
    const mine = (await pages(t, { pageSize: 100 })).ids
    const theirs = (await pages(other, { pageSize: 100 })).ids
    expect(mine).toHaveLength(model.length)
    expect(theirs).toHaveLength(model.length)
    expect(mine.filter((id) => theirs.includes(id))).toEqual([])
    const { rows } = await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM recordings WHERE organization_id = $1 AND id = ANY($2::uuid[])', [other.id, theirs])
    expect(Number(rows[0]?.n)).toBe(model.length)
    // ... including filters that match in both
    const user = (await page(other, { userId: 'user-1', conversationId: 'conv-1' })).entities
    expect(user).toHaveLength(1)
    expect(mine).not.toContain(user[0]?.id)
  })

  it('refuses a client without a view permission with 403', async () => {
    const token = await ctx.token(['recording:recording:add'], t.id)
    const res = await ctx.inject({ method: 'GET', url: '/api/v2/recordings', headers: { authorization: `Bearer ${token}` } })
    expect(expectErrorBody(res, 403).code).toBe('missing.permissions')
    expectErrorBody(await ctx.app.inject({ method: 'GET', url: '/api/v2/recordings' }), 401)
  })
})

describe('GET /api/v2/recordings: page size and refused requests', () => {
  let t: Tenant
  let seeded: string[]
  beforeAll(async () => {
    t = await tenant('sizes')
    seeded = (await seed(t.id, 130)).map((row) => row.id)
  })

  it('pages by 25 by default', async () => {
    const result = await page(t)
    expect(result.pageSize).toBe(25)
    expect(result.entities).toHaveLength(25)
    expect(result.nextUri).toMatch(/^\/api\/v2\/recordings\?.*pageSize=25.*&cursor=/)
    const second = await page(t, result.nextUri as string)
    expect(second.entities).toHaveLength(25)
    expect(second.selfUri).toBe(result.nextUri)
    expect(second.entities.map((e) => e.id)).not.toContain(result.entities[0]?.id)
  })

  it.each([
    [1, 1],
    [100, 100],
    [101, 100],
    [1000, 100],
  ])('answers pageSize=%i with %i entities (larger sizes are clamped, not refused)', async (asked, given) => {
    const result = await page(t, { pageSize: asked })
    expect(result.pageSize).toBe(given)
    expect(result.entities).toHaveLength(given)
    expect(result.selfUri).toContain(`pageSize=${given}`)
    expect(result.nextUri).toContain(`pageSize=${given}`)
  })

  it('visits all 130 recordings by 100: a full page, then the rest without nextUri', async () => {
    const { ids, results } = await pages(t, { pageSize: 1000 })
    expect(results.map((r) => r.entities.length)).toEqual([100, 30])
    expect(results[1]?.nextUri).toBeUndefined()
    expect([...ids].sort()).toEqual([...seeded].sort())
  })

  it('answers an empty organization with an empty page and no nextUri', async () => {
    const empty = await tenant('empty')
    const result = await page(empty)
    expect(result).toEqual({ entities: [], pageSize: 25, selfUri: '/api/v2/recordings?sortBy=startTime&sortOrder=desc&pageSize=25' })
  })

  it.each([
    ['an unknown media', { media: 'video' }, 'media'],
    ['an unknown mediaSubtype', { mediaSubtype: 'TRUNK' }, 'mediaSubtype'],
    ['an unknown fileState', { fileState: 'GONE' }, 'fileState'],
    ['an unknown recordingFileRole', { recordingFileRole: 'customer_experience' }, 'recordingFileRole'],
    ['an unknown sortBy', { sortBy: 'name' }, 'sortBy'],
    ['an unknown sortOrder', { sortOrder: 'up' }, 'sortOrder'],
    ['pageSize 0', { pageSize: 0 }, 'pageSize'],
    ['a negative pageSize', { pageSize: -5 }, 'pageSize'],
    ['a pageSize that is not a number', { pageSize: 'ten' }, 'pageSize'],
    ['a startTime that is not an instant', { startTime: 'yesterday/' }, 'startTime'],
    ['a startTime end that is not an instant', { startTime: '2024-05-01T00:00:00Z/tomorrow' }, 'startTime'],
    ['a startTime that is not an interval', { startTime: '2024-05-01T00:00:00Z' }, 'startTime'],
    ['a startTime interval with three sides', { startTime: '2024-05-01/2024-05-02/2024-05-03' }, 'startTime'],
    ['a startTime with an impossible date', { startTime: '2024-13-45T00:00:00Z/' }, 'startTime'],
    ['a creationTime that is not an instant', { creationTime: '/next week' }, 'creationTime'],
    ['an archiveDateBefore that is not a date-time', { archiveDateBefore: 'yesterday' }, 'archiveDateBefore'],
    ['a deleteDateBefore that is a date only', { deleteDateBefore: '2024-05-01' }, 'deleteDateBefore'],
    ['an over-long q', { q: 'x'.repeat(501) }, 'q'],
  ])('answers 400 with an ErrorBody for %s', async (_case, params, field) => {
    const body = expectErrorBody(await search(t, params), 400)
    expect(body.code).toBe('bad.request')
    expect(body.message).toContain(field)
    expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining({ fieldName: field, in: 'querystring' })]))
  })
})

describe('GET /api/v2/recordings: keyset cursors', () => {
  let t: Tenant
  let other: Tenant
  beforeAll(async () => {
    t = await tenant('cursors')
    other = await tenant('cursors-other')
    await seed(t.id, 20, { media: 'audio' })
    await seed(t.id, 20, { media: 'chat', start: '2024-01-01T00:00:30Z' })
    await seed(other.id, 20, { media: 'audio' })
    // Full-text documents: the seeded rows have no name, give some one
    await ctx.sql.query(`UPDATE recordings SET name = 'refund call ' || conversation_id WHERE organization_id = $1 AND conversation_id IN ('seed-1', 'seed-2', 'seed-3', 'seed-4', 'seed-5')`, [t.id])
  })

  it.each([
    [{ pageSize: 3 }],
    [{ pageSize: 7, media: 'chat' }],
    [{ pageSize: 4, sortBy: 'creationTime', sortOrder: 'asc' }],
    [{ pageSize: 2, q: 'refund' }],
    [{ pageSize: 2, q: 'refund', sortBy: 'relevance' }],
  ] as [{ pageSize: number } & Params][])('visits every matching recording exactly once, in order, following nextUri (%j)', async (params) => {
    const { pageSize, ...listing }: { pageSize: number } & Params = params
    const whole = await page(t, { ...listing, pageSize: 100 })
    expect(whole.nextUri).toBeUndefined()
    const { ids, results } = await pages(t, params)
    expect(ids).toEqual(whole.entities.map((e) => e.id))
    expect(new Set(ids).size).toBe(ids.length)
    expect(results.length).toBe(Math.ceil(ids.length / pageSize))
    const { rows } = await ctx.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM recordings WHERE organization_id = $1 AND ($2::text IS NULL OR media = $2) AND ($3::text IS NULL OR search_vector @@ to_tsquery('simple', $3))`,
      [t.id, listing.media ?? null, listing.q ?? null],
    )
    expect(ids).toHaveLength(Number(rows[0]?.n))
  })

  /** A cursor from the middle of the default listing, and its parts. */
  async function midCursor(params: Params = {}, pageSize = 5) {
    const first = await page(t, { ...params, pageSize })
    const cursor = cursorOf(first.nextUri)
    const [data, signature] = cursor.split('.') as [string, string]
    return { first, cursor, data, signature }
  }
  const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)

  it('accepts its own cursor (control for the tampering cases)', async () => {
    const { cursor, first } = await midCursor()
    const next = await page(t, { pageSize: 5, cursor })
    expect(next.entities).toHaveLength(5)
    expect(next.entities.map((e) => e.id)).not.toContain(first.entities.at(-1)?.id)
  })

  it.each([
    ['a character of the payload flipped', ({ data, signature }: { data: string; signature: string }) => `${flip(data, 10)}.${signature}`],
    ['the first character of the payload flipped', ({ data, signature }: { data: string; signature: string }) => `${flip(data, 0)}.${signature}`],
    ['a character of the signature flipped', ({ data, signature }: { data: string; signature: string }) => `${data}.${flip(signature, 5)}`],
    ['the first character of the signature flipped', ({ data, signature }: { data: string; signature: string }) => `${data}.${flip(signature, 0)}`],
    ['the cursor truncated', ({ data, signature }: { data: string; signature: string }) => `${data}.${signature}`.slice(0, -4)],
    ['the signature removed', ({ data }: { data: string; signature: string }) => data],
    ['the signature empty', ({ data }: { data: string; signature: string }) => `${data}.`],
    ['the payload removed', ({ signature }: { data: string; signature: string }) => `.${signature}`],
    ['a third part appended', ({ data, signature }: { data: string; signature: string }) => `${data}.${signature}.${signature}`],
    ['the payload re-encoded with another position', ({ data, signature }: { data: string; signature: string }) => {
      const payload = JSON.parse(Buffer.from(data, 'base64url').toString()) as { key: string }
      const moved = { ...payload, key: '2099-01-01T00:00:00.000Z' }
      return `${Buffer.from(JSON.stringify(moved)).toString('base64url')}.${signature}`
    }],
    ['garbage', () => 'garbage'],
    ['garbage with a dot', () => '!!!.???'],
    ['base64 of non-JSON with a dot', () => `${Buffer.from('not json').toString('base64url')}.${Buffer.alloc(16).toString('base64url')}`],
    ['a JSON payload without a signature', () => `${Buffer.from(JSON.stringify({ key: '2024-01-01T00:00:00.000Z', id: randomUUID(), scope: 'x' })).toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`],
  ])('refuses a cursor with %s: 400 naming cursor', async (_case, tamper) => {
    const parts = await midCursor()
    const bad = tamper(parts)
    expect(bad).not.toBe(parts.cursor)
    const body = expectErrorBody(await search(t, { pageSize: 5, cursor: bad }), 400)
    expect(body.message).toMatch(/cursor/i)
    expect(body.details).toEqual([expect.objectContaining({ fieldName: 'cursor', in: 'querystring' })])
  })

  it('refuses a cursor whose signature was altered in its last character', async () => {
    // 16 signature bytes are 22 base64url characters: the last one carries 2 bits and 4 padding bits, so some
    // alterations of it decode to the same bytes. Any altered cursor must still be refused.
    const { data, signature } = await midCursor()
    const last = signature.at(-1) as string
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const accepted: string[] = []
    for (const other of alphabet) {
      if (other === last) continue
      const res = await search(t, { pageSize: 5, cursor: `${data}.${signature.slice(0, -1)}${other}` })
      if (res.statusCode !== 400) accepted.push(`${other}: ${res.statusCode}`)
    }
    expect(accepted, `altered signatures ending in these were accepted (original ends in ${last})`).toEqual([])
  })

  it.each([
    ['another media', { media: 'chat' }],
    ['a media filter added', { media: 'audio' }],
    ['q added', { q: 'refund' }],
    ['another sortBy', { sortBy: 'creationTime' }],
    ['another sortOrder', { sortOrder: 'asc' }],
    ['a startTime interval added', { startTime: '2024-01-01T00:00:00Z/' }],
    ['a userId added', { userId: 'user-1' }],
  ])('refuses a cursor reused with %s', async (_case, changed) => {
    const { cursor } = await midCursor()
    expect((await search(t, { pageSize: 5, cursor })).statusCode).toBe(200)
    const body = expectErrorBody(await search(t, { pageSize: 5, ...changed, cursor }), 400)
    expect(body.details).toEqual([expect.objectContaining({ fieldName: 'cursor' })])
  })

  it('refuses a cursor made with filters when they are left out, or changed in value', async () => {
    const { cursor } = await midCursor({ media: 'audio', q: 'refund' }, 2)
    expect((await search(t, { pageSize: 2, media: 'audio', q: 'refund', cursor })).statusCode).toBe(200)
    expectErrorBody(await search(t, { pageSize: 2, cursor }), 400)
    expectErrorBody(await search(t, { pageSize: 2, media: 'audio', cursor }), 400)
    expectErrorBody(await search(t, { pageSize: 2, q: 'refund', cursor }), 400)
    expectErrorBody(await search(t, { pageSize: 2, media: 'audio', q: 'call', cursor }), 400)
    expectErrorBody(await search(t, { pageSize: 2, media: 'chat', q: 'refund', cursor }), 400)
  })

  it('accepts the same filters written in another order', async () => {
    const { cursor } = await midCursor({ media: 'audio', sortOrder: 'asc' })
    const url = `/api/v2/recordings?cursor=${encodeURIComponent(cursor)}&sortOrder=asc&pageSize=5&media=audio`
    expect((await t.inject({ method: 'GET', url })).statusCode).toBe(200)
  })

  it('refuses a cursor used by another organization with the same URL', async () => {
    const { first } = await midCursor()
    expect((await page(t, first.nextUri as string)).entities).toHaveLength(5)
    const body = expectErrorBody(await other.inject({ method: 'GET', url: first.nextUri as string }), 400)
    expect(body.details).toEqual([expect.objectContaining({ fieldName: 'cursor' })])
    // nor by the default organization
    expectErrorBody(await ctx.inject({ method: 'GET', url: first.nextUri as string }), 400)
  })
})

describe('GET /api/v2/recordings: paging while recordings come and go', () => {
  it('never repeats a recording, and visits each one that existed throughout exactly once, in order', async () => {
    const t = await tenant('concurrent')
    // 60 recordings a minute apart; with startTime desc the listing runs from seed-60 down to seed-1
    const initial = await seed(t.id, 60, { start: '2024-03-01T00:00:00Z' })
    const conversationOf = new Map(initial.map((row) => [row.id, row.conversation_id]))
    const deleted = new Set<string>()
    const insertedBehind = new Set<string>() // sort before the position: already passed, never to be seen
    const insertedAhead = new Set<string>() // sort after the position: still to come
    const tiedAtPosition: { id: string; ahead: boolean }[] = []
    let step = 0
    let deletedAtPosition = ''

    const sortTimeOf = async (id: string) => {
      const { rows } = await ctx.sql.query<{ t: Date }>('SELECT sort_time AS t FROM recordings WHERE id = $1', [id])
      return rows[0]?.t as Date
    }
    const remove = async (id: string) => {
      const conversationId = conversationOf.get(id) as string
      const res = await t.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${id}` })
      expect(res.statusCode, res.body).toBe(204)
      deleted.add(id)
    }

    const { ids } = await pages(t, { pageSize: 7 }, async (seen) => {
      step++
      const last = seen.at(-1) as string
      const position = await sortTimeOf(last)
      const at = (minutes: number) => new Date(position.getTime() + minutes * 60_000).toISOString()
      // behind (newer than the position) and ahead (older), through the API
      const behind = await ingest(t, `new-behind-${step}`, { media: 'audio', startTime: at(0.5) })
      insertedBehind.add(behind.id as string)
      const ahead = await ingest(t, `new-ahead-${step}`, { media: 'audio', startTime: at(-0.5) })
      insertedAhead.add(ahead.id as string)
      conversationOf.set(ahead.id as string, `new-ahead-${step}`)
      // and one with exactly the position's start time: the id decides on which side it falls
      const tie = await ingest(t, `new-tie-${step}`, { media: 'audio', startTime: position.toISOString() })
      tiedAtPosition.push({ id: tie.id as string, ahead: (tie.id as string) < last })
      // delete a recording not seen yet, a few pages in also the very row the cursor points at
      const unseen = initial.map((row) => row.id).filter((id) => !seen.includes(id) && !deleted.has(id))
      const victim = unseen[Math.floor(unseen.length / 2)]
      if (victim) await remove(victim)
      if (step === 3) {
        await remove(last)
        deletedAtPosition = last
      }
      // and one inserted ahead earlier disappears again before it is reached
      if (step === 2) {
        const unseenAhead = [...insertedAhead].filter((id) => !seen.includes(id))
        const gone = unseenAhead[0]
        if (gone) {
          await remove(gone)
          insertedAhead.delete(gone)
        }
      }
    })

    expect(step).toBeGreaterThanOrEqual(8)
    expect(new Set(ids).size, 'no recording is listed twice').toBe(ids.length)
    // deleted before being reached: never listed (the one deleted at the cursor's position had been listed already)
    expect(ids).toContain(deletedAtPosition)
    const deletedUnseen = [...deleted].filter((id) => id !== deletedAtPosition)
    expect(deletedUnseen.length).toBeGreaterThanOrEqual(step)
    for (const id of deletedUnseen) expect(ids, 'a recording deleted before it was reached is not listed').not.toContain(id)
    for (const id of insertedBehind) expect(ids, 'a recording inserted behind the position is not listed').not.toContain(id)
    expect(insertedAhead.size).toBeGreaterThanOrEqual(step - 1)
    for (const id of insertedAhead) expect(ids, 'a recording inserted ahead of the position is listed').toContain(id)
    for (const { id, ahead } of tiedAtPosition) expect(ids.includes(id), `tie ${id} ahead=${ahead}`).toBe(ahead)

    // the recordings that existed throughout: each exactly once, in order
    const throughout = initial.map((row) => row.id).filter((id) => !deleted.has(id))
    expect(throughout.length).toBeGreaterThan(45)
    for (const id of throughout) expect(ids.filter((x) => x === id)).toHaveLength(1)
    expect(ids.filter((id) => throughout.includes(id))).toEqual([...throughout].reverse())
    // and the whole listing, newcomers included, is in (sort_time, id) descending order
    const { rows } = await ctx.sql.query<{ id: string; t: Date }>('SELECT id, sort_time AS t FROM recordings WHERE id = ANY($1::uuid[])', [ids])
    const key = new Map(rows.map((row) => [row.id, row.t.getTime()]))
    const listed = ids.filter((id) => key.has(id)).map((id) => ({ id, key: key.get(id) as number }))
    expect(listed.length).toBe(ids.length - 1)
    expect(listed.map((x) => x.id)).toEqual([...listed].sort(byKeyThenId(true)).map((x) => x.id))
  })
})

describe('GET /api/v2/recordings?q=: full text', () => {
  let t: Tenant
  let other: Tenant
  const ids: Record<string, string> = {}
  const add = async (key: string, body: object, owner: Tenant = t) => {
    ids[key] = (await ingest(owner, `ft-${key}`, body)).id as string
  }
  const found = async (q: string, extra: Params = {}) => {
    const result = await page(t, { q, pageSize: 100, ...extra })
    const byId = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]))
    return result.entities.map((e) => byId[e.id as string] ?? `unknown:${e.id}`)
  }
  const sorted = (list: string[]) => [...list].sort()

  beforeAll(async () => {
    t = await tenant('fulltext')
    other = await tenant('fulltext-other')
    await add('chatRefund', chatRecording) // 'Hello, I need a refund'
    await add('chatReordered', { media: 'chat', name: 'chat two', transcript: [{ body: 'A refund? I need it today' }] })
    await add('email', emailRecording) // subject Invoice 42, 'Where is my invoice?'
    await add('emailRefundInvoice', { media: 'email', name: 'email two', emailTranscript: [{ subject: 'Refund request', textBody: 'Please process the refund against the invoice' }] })
    await add('messaging', messagingRecording) // 'Can I change my delivery date?'
    await add('named', { media: 'audio', name: 'Refund escalation', startTime: '2024-01-01T00:00:00Z' })
    await add('subject', { media: 'audio', name: 'call', mediaSubject: 'billing question' })
    await add('refurbished', { media: 'audio', name: 'refurbished phone' })
    await add('deep', {
      media: 'chat',
      name: 'long chat',
      transcript: [
        ...Array.from({ length: 40 }, (_, i) => ({ body: `line ${i} about the weather and the traffic today` })),
        { body: 'oh and maybe a refund' },
        ...Array.from({ length: 20 }, (_, i) => ({ body: `closing ${i} goodbye and thanks` })),
      ],
    })
    await add('german', { media: 'chat', name: 'deutsch', transcript: [{ body: 'Die Rückerstattung für Frau Müller ist übermorgen fällig' }] })
    await add('japanese', { media: 'chat', name: 'nihongo', transcript: [{ body: '返金 を お願い します' }] })
    // the same words in another organization
    await add('foreignRefund', { media: 'chat', name: 'Refund escalation', transcript: [{ body: 'I need a refund Rückerstattung 返金' }] }, other)
  })

  it.each([
    ['a chat body', { media: 'chat', transcript: [{ body: 'first line' }, { body: 'the word xylochat is here' }] }, 'xylochat'],
    ['an e-mail subject', { media: 'email', emailTranscript: [{ subject: 'About xylosubject', textBody: 'nothing' }] }, 'xylosubject'],
    ['an e-mail text body', { media: 'email', emailTranscript: [{ subject: 'hello', textBody: 'nothing' }, { textBody: 'second mail xylobody' }] }, 'xylobody'],
    ['a messaging text', { media: 'messaging', messagingTranscript: [{ id: 'w1', messageText: 'xylomessage please' }] }, 'xylomessage'],
    ['a recording name', { media: 'audio', name: 'xyloname call' }, 'xyloname'],
    ['a recording subject (mediaSubject)', { media: 'audio', mediaSubject: 'xylomediasubject matter' }, 'xylomediasubject'],
  ])('finds a word of %s, case-insensitively, with a marked snippet', async (source, body, word) => {
    const t2 = await tenant(`source-${word}`)
    const created = await ingest(t2, `src-${word}`, body)
    await ingest(t2, `src-none-${word}`, { media: 'audio', name: 'unrelated' })
    for (const q of [word, word.toUpperCase()]) {
      const result = await page(t2, { q })
      expect(result.entities.map((e) => e.id), `${source} via ${q}`).toEqual([created.id])
      expect(result.entities[0]?.snippet).toContain(`**${word}**`)
    }
    expect((await page(t2, { q: `${word}x` })).entities).toEqual([])
  })

  it('matches all words by default, in any order', async () => {
    expect(sorted(await found('refund need'))).toEqual(sorted(['chatRefund', 'chatReordered']))
    expect(sorted(await found('refund'))).toEqual(sorted(['chatRefund', 'chatReordered', 'emailRefundInvoice', 'named', 'deep']))
  })

  it('matches a quoted phrase only in its exact order', async () => {
    expect(await found('"need a refund"')).toEqual(['chatRefund'])
    expect(await found('"refund need"')).toEqual([])
    expect(await found('"delivery date"')).toEqual(['messaging'])
  })

  it('matches prefixes written word*', async () => {
    expect(sorted(await found('refu*'))).toEqual(sorted(['chatRefund', 'chatReordered', 'emailRefundInvoice', 'named', 'deep', 'refurbished']))
    expect(sorted(await found('refur*'))).toEqual(['refurbished'])
    expect(sorted(await found('invoice refu*'))).toEqual(['emailRefundInvoice'])
  })

  it('excludes words written -word', async () => {
    expect(sorted(await found('refund -invoice'))).toEqual(sorted(['chatRefund', 'chatReordered', 'named', 'deep']))
    expect(sorted(await found('invoice -refund'))).toEqual(['email'])
  })

  it('matches either side of OR', async () => {
    expect(sorted(await found('invoice OR delivery'))).toEqual(sorted(['email', 'emailRefundInvoice', 'messaging']))
    expect(sorted(await found('xylophone OR billing'))).toEqual(['subject'])
  })

  it('combines q with filters', async () => {
    expect(sorted(await found('refund', { media: 'chat' }))).toEqual(sorted(['chatRefund', 'chatReordered', 'deep']))
    expect(await found('refund', { startTime: '2023-12-31T00:00:00Z/2024-01-02T00:00:00Z' })).toEqual(['named'])
  })

  it('with the simple language, matches words of any language literally', async () => {
    expect(await found('Rückerstattung')).toEqual(['german'])
    expect(await found('müller')).toEqual(['german'])
    expect(await found('übermorgen fällig')).toEqual(['german'])
    expect(await found('Ruckerstattung')).toEqual([]) // literally: no accent folding
    expect(await found('返金')).toEqual(['japanese'])
    expect(await found('お願い')).toEqual(['japanese'])
    const result = await page(t, { q: 'Rückerstattung' })
    expect(result.entities[0]?.snippet).toContain('**Rückerstattung**')
    // and no stemming: a plural is another word
    expect(await found('refunds')).toEqual([])
  })

  it('ranks a recording whose name matches above one where the word appears once deep in a transcript', async () => {
    const ranked = await found('refund', { sortBy: 'relevance' })
    expect(sorted(ranked)).toEqual(sorted(['chatRefund', 'chatReordered', 'emailRefundInvoice', 'named', 'deep']))
    expect(ranked[0]).toBe('named')
    expect(ranked.indexOf('named')).toBeLessThan(ranked.indexOf('deep'))
    // e-mail subjects (B) also outrank the long chat
    expect(ranked.indexOf('emailRefundInvoice')).toBeLessThan(ranked.indexOf('deep'))
    // ascending relevance is the exact reverse
    expect(await found('refund', { sortBy: 'relevance', sortOrder: 'asc' })).toEqual([...ranked].reverse())
  })

  it('sorts matches by startTime without sortBy=relevance', async () => {
    const byTime = await found('refund')
    const { rows } = await ctx.sql.query<{ id: string }>(
      `SELECT id FROM recordings WHERE organization_id = $1 AND id = ANY($2::uuid[]) ORDER BY sort_time DESC, id DESC`,
      [t.id, byTime.map((k) => ids[k])],
    )
    expect(byTime.map((k) => ids[k])).toEqual(rows.map((row) => row.id))
  })

  it('marks matches in each entity\'s snippet, and gives no snippet without q', async () => {
    const result = await page(t, { q: 'refund', pageSize: 100 })
    expect(result.entities).toHaveLength(5)
    for (const entity of result.entities) expect(entity.snippet).toMatch(/\*\*refund\*\*/i)
    const chat = result.entities.find((e) => e.id === ids.chatRefund)
    expect(chat?.snippet).toContain('I need a **refund**')
    const deep = result.entities.find((e) => e.id === ids.deep)
    expect(deep?.snippet).toContain('maybe a **refund**')
    expect(deep?.snippet?.length).toBeLessThan(400)
    const prefixed = await page(t, { q: 'refur*' })
    expect(prefixed.entities[0]?.snippet).toContain('**refurbished**')
    for (const entity of (await page(t, { pageSize: 100 })).entities) expect(entity).not.toHaveProperty('snippet')
  })

  it('answers a snippet with quotes, backslashes and markers as valid JSON, and links a conversation id that needs encoding', async () => {
    const other = await tenant('search-escapes')
    const conversationId = 'conv 1/"ä"?&'
    const created = await ingest(other, encodeURIComponent(conversationId), {
      ...chatRecording,
      transcript: [{ ...chatRecording.transcript[0], body: 'a "quoted" \\ backslashed **starred** escapade\nnext line' }],
    })
    const result = await page(other, { q: 'escapade' })
    expect(result.entities).toHaveLength(1)
    const [entity] = result.entities
    expect(entity?.snippet).toContain('a "quoted" \\ backslashed **starred** **escapade**')
    expect(entity?.selfUri).toBe(`/api/v2/conversations/${encodeURIComponent(conversationId)}/recordings/${created.id}`)
    const metadata = await other.inject({ method: 'GET', url: `/api/v2/conversations/${encodeURIComponent(conversationId)}/recordingmetadata/${created.id}` })
    expect({ ...metadata.json<RecordingMetadata>(), snippet: entity?.snippet }).toEqual(entity)
  })

  it('never returns another organization\'s matching recordings', async () => {
    for (const q of ['refund', 'Rückerstattung', '返金', '"need a refund"', 'refu*']) {
      const mine = (await page(t, { q, pageSize: 100 })).entities.map((e) => e.id)
      expect(mine, q).not.toContain(ids.foreignRefund)
      const theirs = (await page(other, { q, pageSize: 100 })).entities.map((e) => e.id)
      expect(theirs, q).toEqual([ids.foreignRefund])
    }
    expect(await found('escalation')).toEqual(['named'])
  })

  it('answers a q without any word with no matches rather than an error', async () => {
    const answers: Record<string, string> = {}
    for (const q of ['*', '-', '""', '!!!', 'OR', ' ', '  ', ' * ']) {
      const res = await search(t, { q })
      answers[JSON.stringify(q)] = res.statusCode === 200
        ? `200 ${res.json<SearchResult>().entities.length} entities`
        : `${res.statusCode} ${res.json<{ code: string }>().code}`
      if (res.statusCode === 400) expectErrorBody(res, 400)
    }
    const wrong = Object.entries(answers).filter(([, answer]) => !/^(200 0 entities|400 bad\.request)$/.test(answer))
    expect(wrong, JSON.stringify(answers)).toEqual([])
  })

  it('useLanguage rebuilds every document: english stems, simple again does not; an unknown language throws', async () => {
    const { search: service } = ctx.app.services
    expect(await found('refunds')).toEqual([])
    const { rows: all } = await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM recordings')
    try {
      expect(await service.useLanguage('english')).toEqual({ changed: true, rebuilt: Number(all[0]?.n) })
      expect(await service.useLanguage('english')).toEqual({ changed: false, rebuilt: 0 })
      expect(sorted(await found('refunds'))).toEqual(sorted(['chatRefund', 'chatReordered', 'emailRefundInvoice', 'named', 'deep']))
      expect(sorted(await found('refunding'))).toHaveLength(5)
      expect(await found('"needed a refunds"')).toEqual(['chatRefund'])
      expect(await found('"refunds needed"')).toEqual([])
      // new recordings get english documents too
      await add('stemmedLater', { media: 'chat', name: 'later', transcript: [{ body: 'several deliveries arrived' }] })
      expect(await found('delivery')).toEqual(expect.arrayContaining(['messaging', 'stemmedLater']))
    } finally {
      await service.useLanguage('simple')
    }
    expect(await found('refunds')).toEqual([])
    expect(await found('delivery')).toEqual(['messaging'])
    expect(sorted(await found('refund'))).toHaveLength(5)
    await expect(service.useLanguage('klingon')).rejects.toThrow(/klingon.*not a text search configuration/)
    await expect(service.useLanguage("english'; DROP TABLE recordings; --")).rejects.toThrow(/not a text search configuration/)
    const { rows } = await ctx.sql.query<{ value: string }>(`SELECT value FROM settings WHERE name = 'search_language'`)
    expect(rows[0]?.value).toBe('simple')
  })

  it('pages through matches by relevance with ties on rank without repeats', async () => {
    const t2 = await tenant('rank-ties')
    // identical documents: identical ranks, the id decides
    for (let i = 0; i < 9; i++) await ingest(t2, `tie-${i}`, { media: 'audio', name: 'same refund' })
    const whole = (await page(t2, { q: 'refund', sortBy: 'relevance', pageSize: 100 })).entities.map((e) => e.id as string)
    expect(whole).toHaveLength(9)
    expect(whole).toEqual([...whole].sort().reverse())
    const { ids: paged } = await pages(t2, { q: 'refund', sortBy: 'relevance', pageSize: 2 })
    expect(paged).toEqual(whole)
  })
})

describe('GET /api/v2/recordings in the default organization', () => {
  it('is what ctx.inject sees, with recordings of other organizations left out', async () => {
    const created = await ingest(ctx, `default-${randomUUID()}`, { media: 'audio', name: 'defaultorgonly' })
    const result = await page(ctx, { q: 'defaultorgonly' })
    expect(result.entities.map((e) => e.id)).toEqual([created.id])
    const { rows } = await ctx.sql.query<{ organization_id: string }>('SELECT organization_id FROM recordings WHERE id = $1', [created.id])
    expect(rows[0]?.organization_id).toBe(DEFAULT_ORGANIZATION_ID)
    const all = await pages(ctx, { pageSize: 100 })
    const { rows: count } = await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM recordings WHERE organization_id = $1', [DEFAULT_ORGANIZATION_ID])
    expect(all.ids).toHaveLength(Number(count[0]?.n))
  })
})
