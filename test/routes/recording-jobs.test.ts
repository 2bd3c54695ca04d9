import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_PERMISSIONS, REQUIRES, type Permission } from '../../src/auth/permissions.js'
import type { FailedRecordingEntityListing, RecordingJob, RecordingJobEntityListing } from '../../src/schemas/recording-jobs.js'
import type { Recording } from '../../src/schemas/recording.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { createRetentionSweep } from '../../src/services/retention-sweep.js'
import { parseExportTargets } from '../../src/services/export-targets.js'
import { loadConfig } from '../../src/config.js'
import { createOrganization, createTestContext, eventually, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'
import { wav } from '../media.js'
import { startS3rver } from '../s3.js'

const JOBS = '/api/v2/recording/jobs'

let ctx: TestContext
/** A second app over a database of its own that runs no jobs: its jobs stay PENDING. */
let idle: TestContext
let exportDir: string
beforeAll(async () => {
  exportDir = await mkdtemp(path.join(tmpdir(), 'recording-export-'))
  ctx = await createTestContext({ EXPORT_TARGETS: `archive=${exportDir}`, RECORDING_JOB_BATCH_SIZE: '7' })
  idle = await createTestContext({ JOB_CONCURRENCY: '0' })
})
afterAll(async () => {
  await ctx?.close()
  await idle?.close()
  await rm(exportDir, { recursive: true, force: true })
})

/** A day of its own for each test, so that a job's interval selects only that test's recordings. */
let days = 0
function window(): { day: (hour: number) => string; interval: string } {
  const start = Date.UTC(2011, 0, 1) + days++ * 86_400_000
  const at = (hour: number) => new Date(start + hour * 3_600_000).toISOString()
  return { day: at, interval: `${at(0)}/${at(24)}` }
}

const create = (payload: object, on: TestContext = ctx, headers: Record<string, string> = {}) =>
  on.inject({ method: 'POST', url: JOBS, payload, headers })

const get = (id: string, on: TestContext = ctx) => on.inject({ method: 'GET', url: `${JOBS}/${id}` })

async function created(payload: object, on: TestContext = ctx): Promise<RecordingJob> {
  const res = await create(payload, on)
  expect(res.statusCode, res.body).toBe(202)
  return res.json<RecordingJob>()
}

async function until(id: string, state: RecordingJob['state']): Promise<RecordingJob> {
  let last: RecordingJob | undefined
  await eventually(async () => {
    const res = await get(id)
    expect(res.statusCode, res.body).toBe(200)
    last = res.json<RecordingJob>()
    return last.state === state
  }, `job ${id} ${state}`, 30_000)
  return last as RecordingJob
}

const execute = (id: string, on: TestContext = ctx, headers: Record<string, string> = {}) =>
  on.inject({ method: 'PUT', url: `${JOBS}/${id}`, payload: { state: 'PROCESSING' }, headers })

/** Creates, waits until READY, executes, and waits until FULFILLED; answers the READY and FULFILLED views. */
async function run(payload: object): Promise<{ ready: RecordingJob; done: RecordingJob }> {
  const job = await created(payload)
  const ready = await until(job.id, 'READY')
  const res = await execute(job.id)
  expect(res.statusCode, res.body).toBe(200)
  expect(res.json<RecordingJob>().state).toMatch(/^(PROCESSING|FULFILLED)$/)
  return { ready, done: await until(job.id, 'FULFILLED') }
}

async function recording(conversationId: string, body: object): Promise<Recording & { id: string }> {
  return (await ingest(ctx, conversationId, { name: 'call', media: 'audio', ...body })) as Recording & { id: string }
}

async function dates(ids: string[]) {
  const { rows } = await ctx.sql.query<{ id: string; delete_date: Date | null; archive_date: Date | null; export_date: Date | null }>(
    'SELECT id::text, delete_date, archive_date, export_date FROM recordings WHERE id = ANY($1::uuid[])', [ids])
  return Object.fromEntries(rows.map((row) => [row.id, {
    deleteDate: row.delete_date?.toISOString() ?? null, archiveDate: row.archive_date?.toISOString() ?? null, exportDate: row.export_date?.toISOString() ?? null,
  }]))
}

const ACTION_DATE = '2031-03-04T05:06:07.000Z'

describe('POST /api/v2/recording/jobs', () => {
  const interval = '2011-01-01T00:00:00.000Z/2011-01-02T00:00:00.000Z'
  it.each([
    ['no action', { actionDate: ACTION_DATE, conversationQuery: { interval } }, /action/],
    ['an unknown action', { action: 'SHRED', actionDate: ACTION_DATE, conversationQuery: { interval } }, /action/],
    ['neither actionDate nor actionAge', { action: 'DELETE', conversationQuery: { interval } }, /actionDate/],
    ['both actionDate and actionAge', { action: 'DELETE', actionDate: ACTION_DATE, actionAge: 3, conversationQuery: { interval } }, /actionDate/],
    ['a negative actionAge', { action: 'DELETE', actionAge: -1, conversationQuery: { interval } }, /actionAge/],
    ['no query', { action: 'DELETE', actionDate: ACTION_DATE }, /conversationQuery/],
    ['a query without interval', { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: {} }, /interval/],
    ['an interval that is not one', { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: 'last week' } }, /interval/],
    ['an interval ending before it starts', { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: '2011-01-02T00:00:00Z/2011-01-01T00:00:00Z' } }, /interval/],
    ['an unsupported dimension', {
      action: 'DELETE', actionDate: ACTION_DATE,
      conversationQuery: { interval, segmentFilters: [{ type: 'and', predicates: [{ dimension: 'queueId', value: 'q' }] }] },
    }, /queueId/],
    ['an unsupported operator', {
      action: 'DELETE', actionDate: ACTION_DATE,
      conversationQuery: { interval, conversationFilters: [{ type: 'and', predicates: [{ dimension: 'conversationId', operator: 'exists' }] }] },
    }, /operator/],
    ['an unknown media type', {
      action: 'DELETE', actionDate: ACTION_DATE,
      conversationQuery: { interval, segmentFilters: [{ type: 'or', predicates: [{ dimension: 'mediaType', value: 'fax' }] }] },
    }, /mediaType/],
    ['EXPORT without integrationId', { action: 'EXPORT', actionDate: ACTION_DATE, conversationQuery: { interval } }, /integrationId/],
    ['EXPORT to an unknown target', { action: 'EXPORT', integrationId: 'nowhere', actionDate: ACTION_DATE, conversationQuery: { interval } }, /nowhere/],
    ['integrationId on DELETE', { action: 'DELETE', integrationId: 'archive', actionDate: ACTION_DATE, conversationQuery: { interval } }, /integrationId/],
    ['clearExport on ARCHIVE', { action: 'ARCHIVE', clearExport: true, actionDate: ACTION_DATE, conversationQuery: { interval } }, /clearExport/],
    ['a screen date without screen recordings', {
      action: 'DELETE', actionDate: ACTION_DATE, screenRecordingActionDate: ACTION_DATE, includeScreenRecordings: false, conversationQuery: { interval },
    }, /includeScreenRecordings/],
  ])('answers 400 with the error body to %s, and stores nothing', async (_case, payload, names) => {
    const count = async () => (await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM recording_jobs')).rows[0]?.n
    const before = await count()
    const body = expectErrorBody(await create(payload), 400)
    expect(`${body.message} ${body.details.map((detail) => `${detail.fieldName} ${detail.pointer}`).join(' ')}`).toMatch(names)
    expect(await count()).toBe(before)
  })

  it('answers 202 PENDING with the query as given (unknown members left out), then READY with the counts', async () => {
    const { day, interval } = window()
    const [a, b] = [randomUUID(), randomUUID()]
    await recording(a, { startTime: day(1) })
    await recording(a, { startTime: day(2) })
    await recording(b, { startTime: day(3), endTime: day(4) })
    // Starts before the interval, ends inside it: its span overlaps.
    await recording(b, { startTime: day(-2), endTime: day(0.5) })
    // Outside.
    await recording(randomUUID(), { startTime: day(-3), endTime: day(-1) })
    await recording(randomUUID(), { startTime: day(25) })

    const res = await create({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval, order: 'asc' }, somethingElse: 1 })
    expect(res.statusCode, res.body).toBe(202)
    const job = res.json<RecordingJob>()
    expect(job).toMatchObject({
      state: 'PENDING',
      selfUri: `${JOBS}/${job.id}`,
      failedRecordings: `${JOBS}/${job.id}/failedrecordings`,
      recordingJobsQuery: { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval, order: 'asc' } },
      user: { id: expect.any(String) },
      dateCreated: expect.any(String),
    })
    expect(job.recordingJobsQuery).not.toHaveProperty('somethingElse')
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/)
    const ready = await until(job.id, 'READY')
    expect(ready).toMatchObject({ totalConversations: 2, totalRecordings: 4, totalProcessedRecordings: 0, percentProgress: 0 })
  })
})

describe('executing a job', () => {
  it('DELETE sets exactly the matching recordings\' deleteDate (interval and filters), and nothing else', async () => {
    const { day, interval } = window()
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()]
    const agent = randomUUID()
    const inA = await recording(a, { startTime: day(1) })
    const chatOfB = await recording(b, { startTime: day(2), media: 'chat' })
    const audioOfBWithAgent = await recording(b, { startTime: day(3), users: [{ id: agent, name: 'Agent' }] })
    const audioOfC = await recording(c, { startTime: day(4) })
    const outside = await recording(a, { startTime: day(30) })

    // conversation a, or (chat in any conversation), or recordings of the agent.
    const { ready, done } = await run({
      action: 'DELETE', actionDate: ACTION_DATE,
      conversationQuery: {
        interval,
        conversationFilters: [{ type: 'or', predicates: [{ dimension: 'conversationId', value: a }], clauses: [
          { type: 'and', predicates: [{ dimension: 'mediaType', value: 'chat' }] },
          { type: 'and', predicates: [{ dimension: 'userId', value: agent }, { type: 'dimension', dimension: 'mediaType', operator: 'matches', value: 'voice' }] },
        ] }],
      },
    })
    expect(ready).toMatchObject({ totalConversations: 2, totalRecordings: 3 })
    expect(done).toMatchObject({ totalProcessedRecordings: 3, totalSkippedRecordings: 0, totalFailedRecordings: 0, percentProgress: 100 })
    const after = await dates([inA.id, chatOfB.id, audioOfBWithAgent.id, audioOfC.id, outside.id])
    expect(after[inA.id]?.deleteDate).toBe(ACTION_DATE)
    expect(after[chatOfB.id]?.deleteDate).toBe(ACTION_DATE)
    expect(after[audioOfBWithAgent.id]?.deleteDate).toBe(ACTION_DATE)
    expect(after[audioOfC.id]?.deleteDate).toBeNull()
    expect(after[outside.id]?.deleteDate).toBeNull()
    // As every client sees it.
    const read = await ctx.inject({ method: 'GET', url: `${recordingsUrl(a)}/${inA.id}` })
    expect(read.json<Recording>().deleteDate).toBe(ACTION_DATE)
  })

  it('segment filters are ANDed with each other; a mediaType of this store\'s own names works too', async () => {
    const { day, interval } = window()
    const conversation = randomUUID()
    const email = await recording(conversation, { startTime: day(1), media: 'email' })
    const audio = await recording(conversation, { startTime: day(2) })
    const { ready } = await run({
      action: 'ARCHIVE', actionDate: ACTION_DATE,
      conversationQuery: {
        interval,
        segmentFilters: [
          { type: 'and', predicates: [{ dimension: 'conversationId', value: conversation }] },
          { type: 'or', predicates: [{ dimension: 'mediaType', value: 'email' }] },
        ],
      },
    })
    expect(ready.totalRecordings).toBe(1)
    const after = await dates([email.id, audio.id])
    expect(after[email.id]?.archiveDate).toBe(ACTION_DATE)
    expect(after[audio.id]?.archiveDate).toBeNull()
  })

  it('actionAge counts from each recording\'s creation; screen recordings take the screen variant, or are left out', async () => {
    const { day, interval } = window()
    const conversation = randomUUID()
    const audio = await recording(conversation, { startTime: day(1) })
    const screen = await recording(conversation, { startTime: day(2), media: 'screen', mediaSubtype: 'Screen' })
    const snippet = await recording(conversation, { startTime: day(3), mediaSubtype: 'Snippet' })
    const creation = async (id: string) => (await ctx.sql.query<{ c: Date }>('SELECT creation_time AS c FROM recordings WHERE id = $1', [id])).rows[0]?.c as Date
    const plusDays = async (id: string, n: number) => new Date((await creation(id)).getTime() + n * 86_400_000).toISOString()

    const { ready } = await run({
      action: 'DELETE', actionAge: 10, screenRecordingActionAge: 2, includeSnippetRecordings: false,
      conversationQuery: { interval, conversationFilters: [{ type: 'and', predicates: [{ dimension: 'conversationId', value: conversation }] }] },
    })
    expect(ready.totalRecordings).toBe(2)
    const after = await dates([audio.id, screen.id, snippet.id])
    expect(after[audio.id]?.deleteDate).toBe(await plusDays(audio.id, 10))
    expect(after[screen.id]?.deleteDate).toBe(await plusDays(screen.id, 2))
    expect(after[snippet.id]?.deleteDate).toBeNull()

    const { ready: withoutScreens } = await run({
      action: 'ARCHIVE', actionDate: ACTION_DATE, includeScreenRecordings: false,
      conversationQuery: { interval, conversationFilters: [{ type: 'and', predicates: [{ dimension: 'conversationId', value: conversation }] }] },
    })
    expect(withoutScreens.totalRecordings).toBe(2)
    const archived = await dates([audio.id, screen.id, snippet.id])
    expect([archived[audio.id]?.archiveDate, archived[screen.id]?.archiveDate, archived[snippet.id]?.archiveDate]).toEqual([ACTION_DATE, null, ACTION_DATE])
  })

  it('DELETE skips and counts recordings of protected conversations, moves later archive and export dates to the delete date, clears exports on request', async () => {
    const { day, interval } = window()
    const [kept, protectedOne] = [randomUUID(), randomUUID()]
    const later = await recording(kept, { startTime: day(1), archiveDate: '2040-01-01T00:00:00.000Z' })
    const earlier = await recording(kept, { startTime: day(2), archiveDate: '2030-01-01T00:00:00.000Z' })
    await ctx.sql.query(`UPDATE recordings SET export_date = '2041-01-01', export_integration_id = 'archive' WHERE id = $1`, [later.id])
    const held = await recording(protectedOne, { startTime: day(3) })
    const heldToo = await recording(protectedOne, { startTime: day(4) })
    const res = await ctx.inject({ method: 'PUT', url: '/api/v2/recordings/deletionprotection?protect=true', payload: { conversationIds: [protectedOne] } })
    expect(res.statusCode, res.body).toBe(200)

    const { done } = await run({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval } })
    expect(done).toMatchObject({ totalRecordings: 4, totalProcessedRecordings: 2, totalSkippedRecordings: 2, totalFailedRecordings: 0, percentProgress: 100 })
    const after = await dates([later.id, earlier.id, held.id, heldToo.id])
    expect(after[later.id]).toEqual({ deleteDate: ACTION_DATE, archiveDate: ACTION_DATE, exportDate: ACTION_DATE })
    expect(after[earlier.id]).toEqual({ deleteDate: ACTION_DATE, archiveDate: '2030-01-01T00:00:00.000Z', exportDate: null })
    expect(after[held.id]?.deleteDate).toBeNull()
    expect(after[heldToo.id]?.deleteDate).toBeNull()

    await run({ action: 'DELETE', actionDate: ACTION_DATE, clearExport: true, conversationQuery: { interval } })
    expect((await dates([later.id]))[later.id]?.exportDate).toBeNull()
  })

  it('the retention sweep then deletes them, all but the protected ones', async () => {
    const { day, interval } = window()
    const [gone, kept] = [randomUUID(), randomUUID()]
    const doomed = [await recording(gone, { startTime: day(1) }), await recording(gone, { startTime: day(2) })]
    const held = await recording(kept, { startTime: day(3) })
    await ctx.inject({ method: 'PUT', url: '/api/v2/recordings/deletionprotection?protect=true', payload: { conversationIds: [kept] } })
    const past = new Date(Date.now() - 60_000).toISOString()
    const { done } = await run({ action: 'DELETE', actionDate: past, conversationQuery: { interval } })
    expect(done).toMatchObject({ totalProcessedRecordings: 2, totalSkippedRecordings: 1 })

    const sweep = createRetentionSweep({ prisma: ctx.app.prisma, media: ctx.app.services.media, batchSize: 100 })
    await sweep.sweep({ until: Date.now() + 10_000 })
    for (const { id } of doomed) expect((await ctx.inject({ method: 'GET', url: `${recordingsUrl(gone)}/${id}` })).statusCode).toBe(404)
    expect((await ctx.inject({ method: 'GET', url: `${recordingsUrl(kept)}/${held.id}` })).statusCode).not.toBe(404)
  })

  it('counts a recording deleted between READY and PROCESSING as failed, listed with its reason', async () => {
    const { day, interval } = window()
    const conversation = randomUUID()
    const ids = []
    for (let hour = 1; hour <= 9; hour++) ids.push((await recording(conversation, { startTime: day(hour) })).id)
    const job = await created({ action: 'ARCHIVE', actionDate: ACTION_DATE, conversationQuery: { interval } })
    await until(job.id, 'READY')
    const removed = [ids[2], ids[7]] as string[]
    for (const id of removed) expect((await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversation)}/${id}` })).statusCode).toBe(204)
    expect((await execute(job.id)).statusCode).toBe(200)
    const done = await until(job.id, 'FULFILLED')
    expect(done).toMatchObject({ totalRecordings: 9, totalProcessedRecordings: 7, totalFailedRecordings: 2, percentProgress: 100 })

    const page = (query: string) => ctx.inject({ method: 'GET', url: `${JOBS}/${job.id}/failedrecordings${query}` })
    const all = (await page('')).json<FailedRecordingEntityListing>()
    expect(all).toMatchObject({ total: 2, pageSize: 25, pageNumber: 1, pageCount: 1 })
    expect(all.entities.map((e) => e.recording?.id).sort()).toEqual([...removed].sort())
    expect(all.entities[0]).toMatchObject({ conversation: { id: conversation }, reason: expect.stringContaining('deleted') })

    const first = (await page('?pageSize=1&includeTotal=false')).json<FailedRecordingEntityListing>()
    expect(first.entities).toHaveLength(1)
    expect(first).not.toHaveProperty('total')
    expect(first.nextUri).toMatch(/cursor=/)
    const second = (await ctx.inject({ method: 'GET', url: first.nextUri as string })).json<FailedRecordingEntityListing>()
    expect(second.entities).toHaveLength(1)
    expect(second.nextUri).toBeUndefined()
    expect([first.entities[0]?.recording?.id, second.entities[0]?.recording?.id].sort()).toEqual([...removed].sort())
  })

  it('answers 409 to executing a job that is not READY, 403 to another client of the organization, and processes a job once', async () => {
    const job = await created({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } }, idle)
    expect(expectErrorBody(await execute(job.id, idle), 409).message).toMatch(/PENDING/)
    await idle.sql.query(`UPDATE recording_jobs SET state = 'READY', total_recordings = 0, total_conversations = 0 WHERE id = $1`, [job.id])
    const other = await idle.token(ALL_PERMISSIONS.filter((p) => p !== 'recording:webhook:view'))
    expectErrorBody(await execute(job.id, idle, { authorization: `Bearer ${other}` }), 403)
    const res = await execute(job.id, idle)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json<RecordingJob>().state).toBe('PROCESSING')
    expectErrorBody(await execute(job.id, idle), 409)
    // Queued once, with its first batch.
    const { rows } = await idle.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
      WHERE t.identifier = 'recordingJobs.process' AND j.payload->>'jobId' = $1`, [job.id])
    expect(rows[0]?.n).toBe(1)
    await idle.sql.query(`UPDATE recording_jobs SET state = 'CANCELLED' WHERE id = $1`, [job.id])
  })
})

describe('cancelling and the limit of active jobs', () => {
  it('cancels a job (CANCELLED, then removed by a second DELETE); a third active job is 409', async () => {
    const query = { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } }
    const first = await created(query, idle)
    const second = await created(query, idle)
    expect(expectErrorBody(await create(query, idle), 409).message).toMatch(/At most 2/)

    expect((await idle.inject({ method: 'DELETE', url: `${JOBS}/${first.id}` })).statusCode).toBe(204)
    expect((await idle.inject({ method: 'GET', url: `${JOBS}/${first.id}` })).json<RecordingJob>().state).toBe('CANCELLED')
    expectErrorBody(await execute(first.id, idle), 409)
    // Room again.
    const third = await created(query, idle)
    expect((await idle.inject({ method: 'DELETE', url: `${JOBS}/${first.id}` })).statusCode).toBe(204)
    expectErrorBody(await idle.inject({ method: 'GET', url: `${JOBS}/${first.id}` }), 404)
    for (const { id } of [second, third]) expect((await idle.inject({ method: 'DELETE', url: `${JOBS}/${id}` })).statusCode).toBe(204)
  })

  it('answers 404 to another organization, and to ids that cannot exist', async () => {
    const job = await created({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } })
    const organizationId = await createOrganization(ctx, `jobs-other-${randomUUID()}`)
    const headers = { authorization: `Bearer ${await ctx.token(ALL_PERMISSIONS, organizationId)}` }
    for (const [method, url] of [['GET', `${JOBS}/${job.id}`], ['PUT', `${JOBS}/${job.id}`], ['DELETE', `${JOBS}/${job.id}`], ['GET', `${JOBS}/${job.id}/failedrecordings`], ['GET', `${JOBS}/not-a-uuid`]] as const) {
      const res = await ctx.app.inject({ method, url, headers, ...(method === 'PUT' ? { payload: { state: 'PROCESSING' } } : {}) })
      expectErrorBody(res, 404)
    }
    expect((await ctx.app.inject({ method: 'GET', url: JOBS, headers })).json<RecordingJobEntityListing>().entities).toEqual([])
    await until(job.id, 'READY')
  })

  it('answers 403 without the permissions: job:add to create, job:edit and every editRetention to execute', async () => {
    const job = await created({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } })
    const without = (removed: Permission[]) => ctx.token(ALL_PERMISSIONS.filter((p) => !removed.includes(p)))
    const noAdd = { authorization: `Bearer ${await without(['recording:job:add'])}` }
    const valid = { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } }
    expect(expectErrorBody(await create(valid, ctx, noAdd), 403).message).toContain('recording:job:add')
    const editOnly = { authorization: `Bearer ${await ctx.token(['recording:job:edit'])}` }
    const body = expectErrorBody(await execute(job.id, ctx, editOnly), 403)
    for (const permission of REQUIRES.executeRecordingJob) expect(body.message).toContain(permission)
    expectErrorBody(await ctx.app.inject({ method: 'GET', url: `${JOBS}/${job.id}`, headers: { authorization: `Bearer ${await without(['recording:job:view'])}` } }), 403)
    await until(job.id, 'READY')
  })
})

describe('GET /api/v2/recording/jobs', () => {
  it('filters by state, jobType and showOnlyMyJobs, sorts, pages by number and by cursor', async () => {
    const organizationId = await createOrganization(ctx, `jobs-list-${randomUUID()}`)
    const mine = await ctx.token(ALL_PERMISSIONS, organizationId)
    const theirs = await ctx.token(ALL_PERMISSIONS.filter((p) => p !== 'recording:webhook:view'), organizationId)
    const clientOf = async (token: string) => (await ctx.app.inject({
      method: 'POST', url: JOBS, headers: { authorization: `Bearer ${token}` },
      payload: { action: 'ARCHIVE', actionDate: ACTION_DATE, conversationQuery: { interval: window().interval } },
    })).json<RecordingJob>()
    const a = await clientOf(mine)
    const b = await clientOf(theirs)
    await eventually(async () => (await ctx.sql.query(`SELECT FROM recording_jobs WHERE id = ANY($1::uuid[]) AND state = 'READY'`, [[a.id, b.id]])).rowCount === 2, 'both READY')
    // More, as stored rows: states and actions of every kind.
    const states = ['FULFILLED', 'CANCELLED', 'FAILED', 'READY', 'FULFILLED']
    const actions = ['DELETE', 'EXPORT', 'ARCHIVE', 'DELETE', 'DELETE']
    for (const [i, state] of states.entries()) {
      await ctx.sql.query(`INSERT INTO recording_jobs (id, organization_id, client_id, action, state, query, created_at)
        VALUES ($1, $2, $3, $4::"RecordingJobAction", $5::"RecordingJobState", '{}', now() - $6 * interval '1 minute')`,
      [randomUUID(), organizationId, i % 2 === 0 ? a.user?.id : b.user?.id, actions[i], state, i + 1])
    }
    const list = async (query: string, token = mine) => {
      const res = await ctx.app.inject({ method: 'GET', url: `${JOBS}${query}`, headers: { authorization: `Bearer ${token}` } })
      expect(res.statusCode, res.body).toBe(200)
      return res.json<RecordingJobEntityListing>()
    }
    const all = await list('')
    expect(all).toMatchObject({ total: 7, pageSize: 25, pageNumber: 1, pageCount: 1 })
    // By creator, newest first within.
    const creators = all.entities.map((job) => job.user?.id)
    expect(creators).toEqual([...creators].sort())
    expect((await list('?state=FULFILLED')).entities.map((j) => j.state)).toEqual(['FULFILLED', 'FULFILLED'])
    expect((await list('?jobType=DELETE')).total).toBe(3)
    expect((await list('?showOnlyMyJobs=true')).entities.every((job) => job.user?.id === a.user?.id)).toBe(true)
    expect((await list('?showOnlyMyJobs=true')).total).toBe(4)
    expect((await list('?jobType=DELETE&state=READY&showOnlyMyJobs=false')).total).toBe(1)
    const byDate = await list('?sortBy=dateCreated')
    const createdAt = byDate.entities.map((job) => job.dateCreated ?? '')
    expect(createdAt).toEqual([...createdAt].sort().reverse())

    const page2 = await list('?sortBy=dateCreated&pageSize=3&pageNumber=2')
    expect(page2).toMatchObject({ total: 7, pageCount: 3, pageNumber: 2 })
    expect(page2.entities.map((j) => j.id)).toEqual(byDate.entities.slice(3, 6).map((j) => j.id))
    expect(page2.nextUri).toBe(`${JOBS}?pageSize=3&pageNumber=3&sortBy=dateCreated`)
    expect(page2.previousUri).toBe(`${JOBS}?pageSize=3&pageNumber=1&sortBy=dateCreated`)

    for (const sortBy of ['userId', 'dateCreated']) {
      const seen: string[] = []
      let page = await list(`?sortBy=${sortBy}&pageSize=2&includeTotal=false`)
      for (;;) {
        expect(page).not.toHaveProperty('total')
        expect(page).not.toHaveProperty('lastUri')
        seen.push(...page.entities.map((j) => j.id))
        if (!page.nextUri) break
        expect(page.nextUri).toMatch(/cursor=/)
        page = await list(page.nextUri.slice(JOBS.length))
      }
      const expected = sortBy === 'userId' ? all.entities.map((j) => j.id) : byDate.entities.map((j) => j.id)
      expect(seen).toEqual(expected)
    }
    // A cursor is bound to its listing.
    const cursorPage = await list('?pageSize=2&includeTotal=false')
    const tampered = (cursorPage.nextUri ?? '').replace('includeTotal=false', 'includeTotal=false&jobType=DELETE')
    expectErrorBody(await ctx.app.inject({ method: 'GET', url: tampered, headers: { authorization: `Bearer ${mine}` } }), 400)
  })
})

describe('EXPORT jobs', () => {
  it('set exportDate; the export job writes the media and the recording JSON to the target, then exportedDate; deletion waits for it', async () => {
    const { day, interval } = window()
    const conversation = randomUUID()
    const bytes = wav(0.5)
    const withMedia = await recording(conversation, { startTime: day(1) })
    const put = await ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversation)}/${withMedia.id}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
    expect(put.statusCode, put.body).toBe(200)
    // A recording without media of this store: its JSON only.
    const linked = await recording(conversation, { startTime: day(2), mediaUris: { S: { mediaUri: 'https://media.example.internal/x.webm' } } })

    const past = new Date(Date.now() - 60_000).toISOString()
    const { done } = await run({ action: 'EXPORT', integrationId: 'archive', actionDate: past, conversationQuery: { interval } })
    expect(done).toMatchObject({ totalRecordings: 2, totalProcessedRecordings: 2 })
    expect((await dates([withMedia.id]))[withMedia.id]?.exportDate).toBe(past)
    // Due for deletion too: the export comes first.
    await ctx.sql.query(`UPDATE recordings SET delete_date = now() - interval '1 second' WHERE id = $1`, [withMedia.id])
    const sweep = createRetentionSweep({ prisma: ctx.app.prisma, media: ctx.app.services.media, batchSize: 100 })
    await sweep.sweep({ until: Date.now() + 5000 })
    expect((await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}/${withMedia.id}` })).statusCode).not.toBe(404)

    await eventually(async () => {
      await ctx.app.services.recordingJobs.exportDue({ until: Date.now() + 5000 })
      const { rows } = await ctx.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM recordings WHERE id = ANY($1::uuid[]) AND exported_date IS NOT NULL', [[withMedia.id, linked.id]])
      return rows[0]?.n === 2
    }, 'both exported')
    const exported = await readFile(path.join(exportDir, conversation, `${withMedia.id}.wav`))
    expect(exported.equals(bytes)).toBe(true)
    const document = JSON.parse(await readFile(path.join(exportDir, conversation, `${withMedia.id}.json`), 'utf8')) as Recording
    expect(document).toMatchObject({ id: withMedia.id, conversationId: conversation, media: 'audio', exportDate: expect.any(String) })
    expect(document).not.toHaveProperty('mediaUris')
    expect(JSON.stringify(document)).not.toMatch(/stored-media:/)
    const other = JSON.parse(await readFile(path.join(exportDir, conversation, `${linked.id}.json`), 'utf8')) as Recording
    expect(other.id).toBe(linked.id)
    const read = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}/${linked.id}` })
    expect(read.json<Recording>().exportedDate).toEqual(expect.any(String))

    // Exported: now the sweep deletes it.
    await sweep.sweep({ until: Date.now() + 5000 })
    expect((await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}/${withMedia.id}` })).statusCode).toBe(404)
  })
})

describe('EXPORT and the archive tier', () => {
  it('never exports a recording without its media: a job skips archived recordings, the sweep archives nothing whose export is pending, an archived one already due fails', async () => {
    const { day, interval } = window()
    const conversation = randomUUID()
    const bytes = wav(0.25)
    const withMedia = async (hour: number) => {
      const made = await recording(conversation, { startTime: day(hour) })
      const put = await ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversation)}/${made.id}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
      expect(put.statusCode, put.body).toBe(200)
      return made.id
    }
    const [archived, hot] = [await withMedia(1), await withMedia(2)]
    const sweep = createRetentionSweep({ prisma: ctx.app.prisma, media: ctx.app.services.media, batchSize: 100 })
    const state = async (id: string) => (await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversation)}/${id}` })).json<Recording>().fileState
    await ctx.sql.query(`UPDATE recordings SET archive_date = now() - interval '1 second' WHERE id = $1`, [archived])
    await sweep.sweep({ until: Date.now() + 5000 })
    expect(await state(archived)).toBe('ARCHIVED')

    const past = new Date(Date.now() - 60_000).toISOString()
    const { done } = await run({ action: 'EXPORT', integrationId: 'archive', actionDate: past, conversationQuery: { interval } })
    expect(done).toMatchObject({ totalRecordings: 2, totalProcessedRecordings: 1, totalSkippedRecordings: 1, totalFailedRecordings: 0 })
    expect(await dates([archived, hot])).toMatchObject({ [archived]: { exportDate: null }, [hot]: { exportDate: past } })

    // Due for the archive while its export is pending: it stays hot until exported, then goes.
    await ctx.sql.query(`UPDATE recordings SET archive_date = now() - interval '1 second' WHERE id = $1`, [hot])
    await sweep.sweep({ until: Date.now() + 5000 })
    expect(await state(hot)).toBe('AVAILABLE')
    // An archived recording already due for export (set before this rule): it fails and stays due, nothing is written.
    await ctx.sql.query(`UPDATE recordings SET export_date = now() - interval '1 second', export_integration_id = 'archive' WHERE id = $1`, [archived])
    const failures: string[] = []
    const report = await ctx.app.services.recordingJobs.exportDue({ until: Date.now() + 5000, onFailed: (id) => failures.push(id) })
    expect(failures).toEqual([archived])
    expect(report.exported).toBeGreaterThanOrEqual(1)
    expect((await readFile(path.join(exportDir, conversation, `${hot}.wav`))).equals(bytes)).toBe(true)
    expect((await readdir(path.join(exportDir, conversation))).filter((name) => name.startsWith(archived))).toEqual([])
    const { rows } = await ctx.sql.query<{ id: string; exported: boolean }>(
      'SELECT id::text, exported_date IS NOT NULL AS exported FROM recordings WHERE id = ANY($1::uuid[]) ORDER BY id', [[archived, hot]])
    expect(rows).toEqual([{ id: archived, exported: false }, { id: hot, exported: true }])
    await sweep.sweep({ until: Date.now() + 5000 })
    expect(await state(hot)).toBe('ARCHIVED')
  })
})

describe('two instances on one database', () => {
  it('share a job of 3,000 recordings in batches of 500: every recording set once, the counters exact', async () => {
    const one = await createTestContext({ RECORDING_JOB_BATCH_SIZE: '500' })
    const two = await createTestContext({ RECORDING_JOB_BATCH_SIZE: '500' }, { databaseUrl: one.databaseUrl })
    try {
      const start = '2012-06-01T00:00:00.000Z'
      await one.sql.query(`INSERT INTO recordings (id, organization_id, conversation_id, file_state, start_time)
        SELECT gen_random_uuid(), $1, 'bulk-' || (i % 1000), 'AVAILABLE', $2::timestamptz + i * interval '1 second' FROM generate_series(1, 3000) i`,
      [DEFAULT_ORGANIZATION_ID, start])
      // Test-only: every update of these recordings' deleteDate, to prove each was set once.
      await one.sql.query('CREATE TABLE delete_date_writes (recording_id uuid NOT NULL)')
      await one.sql.query(`CREATE FUNCTION note_delete_date_write() RETURNS trigger LANGUAGE plpgsql AS
        'BEGIN INSERT INTO delete_date_writes VALUES (NEW.id); RETURN NEW; END'`)
      await one.sql.query(`CREATE TRIGGER note_delete_date_write AFTER UPDATE OF delete_date ON recordings
        FOR EACH ROW WHEN (NEW.conversation_id LIKE 'bulk-%') EXECUTE FUNCTION note_delete_date_write()`)

      const res = await one.inject({ method: 'POST', url: JOBS, payload: { action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval: `${start}/2012-06-02T00:00:00.000Z` } } })
      expect(res.statusCode, res.body).toBe(202)
      const { id } = res.json<RecordingJob>()
      const read = async (on: TestContext) => (await on.inject({ method: 'GET', url: `${JOBS}/${id}` })).json<RecordingJob>()
      await eventually(async () => (await read(two)).state === 'READY', 'READY', 30_000)
      expect(await read(one)).toMatchObject({ totalRecordings: 3000, totalConversations: 1000 })
      expect((await two.inject({ method: 'PUT', url: `${JOBS}/${id}`, payload: { state: 'PROCESSING' } })).statusCode).toBe(200)
      await eventually(async () => (await read(one)).state === 'FULFILLED', 'FULFILLED', 60_000)
      expect(await read(two)).toMatchObject({ totalRecordings: 3000, totalProcessedRecordings: 3000, totalSkippedRecordings: 0, totalFailedRecordings: 0, percentProgress: 100 })
      const { rows } = await one.sql.query<{ writes: number; recordings: number; once: number; set: number }>(`SELECT count(*)::int AS writes,
          count(DISTINCT recording_id)::int AS recordings,
          (SELECT count(*)::int FROM (SELECT recording_id FROM delete_date_writes GROUP BY 1 HAVING count(*) = 1) x) AS once,
          (SELECT count(*)::int FROM recordings WHERE conversation_id LIKE 'bulk-%' AND delete_date = $1) AS set
        FROM delete_date_writes`, [ACTION_DATE])
      expect(rows[0]).toEqual({ writes: 3000, recordings: 3000, once: 3000, set: 3000 })
    } finally {
      await two.close()
      await one.close()
    }
  })
})

describe('a batch that fails', () => {
  it('is retried from the last committed batch: counters exact, every recording set once', async () => {
    const { day, interval } = window()
    await ctx.sql.query(`INSERT INTO recordings (id, organization_id, conversation_id, file_state, start_time)
      SELECT gen_random_uuid(), $1, 'retried-' || (i % 5), 'AVAILABLE', $2::timestamptz + i * interval '1 second' FROM generate_series(1, 20) i`,
    [DEFAULT_ORGANIZATION_ID, day(1)])
    // Test-only: the second batch's commit fails once (a sequence is not rolled back with it), after its dates were set.
    await ctx.sql.query('CREATE SEQUENCE fail_once')
    await ctx.sql.query(`CREATE FUNCTION fail_second_batch() RETURNS trigger LANGUAGE plpgsql AS
      'BEGIN IF nextval(''fail_once'') = 1 THEN RAISE EXCEPTION ''injected failure''; END IF; RETURN NEW; END'`)
    await ctx.sql.query(`CREATE TRIGGER fail_second_batch BEFORE UPDATE OF processed ON recording_jobs
      FOR EACH ROW WHEN (OLD.processed > 0 AND NEW.processed > OLD.processed) EXECUTE FUNCTION fail_second_batch()`)
    await ctx.sql.query('CREATE TABLE retried_writes (recording_id uuid NOT NULL)')
    await ctx.sql.query(`CREATE FUNCTION note_retried_write() RETURNS trigger LANGUAGE plpgsql AS
      'BEGIN INSERT INTO retried_writes VALUES (NEW.id); RETURN NEW; END'`)
    await ctx.sql.query(`CREATE TRIGGER note_retried_write AFTER UPDATE OF delete_date ON recordings
      FOR EACH ROW WHEN (NEW.conversation_id LIKE 'retried-%') EXECUTE FUNCTION note_retried_write()`)
    try {
      const { done } = await run({ action: 'DELETE', actionDate: ACTION_DATE, conversationQuery: { interval } })
      expect(done).toMatchObject({ totalRecordings: 20, totalProcessedRecordings: 20, totalFailedRecordings: 0, percentProgress: 100 })
      const { rows } = await ctx.sql.query<{ writes: number; recordings: number; failures: string }>(`SELECT count(*)::int AS writes,
        count(DISTINCT recording_id)::int AS recordings, (SELECT last_value FROM fail_once)::text AS failures FROM retried_writes`)
      // The failed batch's writes were rolled back with it: each recording was set once, by a committed batch.
      expect(rows[0]).toEqual({ writes: 20, recordings: 20, failures: expect.stringMatching(/^[2-9]$/) })
    } finally {
      await ctx.sql.query('DROP TRIGGER fail_second_batch ON recording_jobs')
      await ctx.sql.query('DROP TRIGGER note_retried_write ON recordings')
    }
  })
})

describe('export targets', () => {
  it('are read from a list or a JSON object; a relative path or a bad bucket stops the start', () => {
    expect([...parseExportTargets('archive=/srv/exports, cold=s3://my-bucket/recordings/2024/').entries()]).toEqual([
      ['archive', { kind: 'directory', path: '/srv/exports' }],
      ['cold', { kind: 's3', bucket: 'my-bucket', prefix: 'recordings/2024/' }],
    ])
    expect([...parseExportTargets('{"a": "file:///srv/a", "b": "s3://bucket-b"}').entries()]).toEqual([
      ['a', { kind: 'directory', path: '/srv/a' }],
      ['b', { kind: 's3', bucket: 'bucket-b', prefix: '' }],
    ])
    expect(parseExportTargets(undefined).size).toBe(0)
    for (const bad of ['archive=exports', 'archive', 's3=s3://A_B', 'a=/x,a=/y', '{"a": 1}']) {
      expect(() => loadConfig({ EXPORT_TARGETS: bad }), bad).toThrow(/EXPORT_TARGETS/)
    }
  })

  it('an S3 target gets the same files, through the S3 client settings', async () => {
    const s3 = await startS3rver('exports')
    const on = await createTestContext({ EXPORT_TARGETS: `cold=s3://${s3.bucket}/recordings`, S3_ENDPOINT: s3.endpoint, S3_FORCE_PATH_STYLE: 'true' })
    try {
      const conversation = randomUUID()
      const bytes = wav(0.25)
      const { id } = await ingest(on, conversation, { name: 'to s3', media: 'audio', startTime: '2014-04-04T10:00:00.000Z' })
      expect((await on.inject({ method: 'PUT', url: `${recordingsUrl(conversation)}/${id}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })).statusCode).toBe(200)
      const res = await on.inject({ method: 'POST', url: JOBS, payload: {
        action: 'EXPORT', integrationId: 'cold', actionDate: new Date(Date.now() - 1000).toISOString(),
        conversationQuery: { interval: '2014-04-04T00:00:00.000Z/2014-04-05T00:00:00.000Z' },
      } })
      const job = res.json<RecordingJob>()
      const state = async () => (await on.inject({ method: 'GET', url: `${JOBS}/${job.id}` })).json<RecordingJob>().state
      await eventually(async () => (await state()) === 'READY', 'READY')
      expect((await on.inject({ method: 'PUT', url: `${JOBS}/${job.id}`, payload: { state: 'PROCESSING' } })).statusCode).toBe(200)
      await eventually(async () => (await state()) === 'FULFILLED', 'FULFILLED')
      await eventually(async () => {
        await on.app.services.recordingJobs.exportDue({ until: Date.now() + 5000 })
        return (await on.sql.query('SELECT FROM recordings WHERE id = $1 AND exported_date IS NOT NULL', [id])).rowCount === 1
      }, 'exported')
      const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3')
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true })
      const read = async (key: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body?.transformToByteArray() ?? [])
      expect((await read(`recordings/${conversation}/${id}.wav`)).equals(bytes)).toBe(true)
      expect(JSON.parse((await read(`recordings/${conversation}/${id}.json`)).toString('utf8'))).toMatchObject({ id, name: 'to s3' })
      client.destroy()
    } finally {
      await on.close()
      await s3.stop()
    }
  })
})
