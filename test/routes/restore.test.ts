import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import type { Recording } from '../../src/schemas/recording.js'
import { wav } from '../media.js'
import { createOrganization, createTestContext, eventually, expectErrorBody, ingest, recordingsUrl, type TestContext } from '../helpers.js'

const conversationId = randomUUID()
const bytes = wav(0.25)
const SETTINGS = '/api/v2/recording/settings'

/** Every file under `dir`, relative to it, with `/` separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
}

describe('restoring an archived recording', () => {
  let dataDir: string
  let ctx: TestContext

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'restore-'))
    ctx = await createTestContext({ DATA_DIR: dataDir, RETENTION_SWEEP_SECONDS: '1' })
  })
  afterAll(async () => {
    await ctx?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  const hot = () => filesUnder(path.join(dataDir, 'media'))
  const get = async (url: string) => (await ctx.inject({ method: 'GET', url: `${url}?formatId=WAV` })).json<Recording>()
  const remaining = async () => (await ctx.inject({ method: 'GET', url: `${SETTINGS}?createDefault=true` })).json<{ remainingRestorationsAllowedForOrg: number }>().remainingRestorationsAllowedForOrg

  /** A recording with uploaded media that the sweep has archived, its hot copy removed. */
  async function archivedRecording() {
    const recording = await ingest(ctx, conversationId, { name: 'call', media: 'audio', archiveDate: new Date(Date.now() + 1_000).toISOString() })
    const url = `${recordingsUrl(conversationId)}/${recording.id}`
    const put = await ctx.inject({ method: 'PUT', url: `${url}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
    expect(put.statusCode, put.body).toBe(200)
    const { rows } = await ctx.sql.query<{ storage_key: string }>('SELECT storage_key FROM stored_media WHERE recording_id = $1', [recording.id])
    const storageKey = rows[0]?.storage_key as string
    await eventually(async () => (await get(url)).fileState === 'ARCHIVED', 'the recording is archived')
    await eventually(async () => !(await hot()).includes(storageKey), 'its hot copy is removed')
    return { id: recording.id as string, url, storageKey }
  }

  /** Plays the recording's media through its mediaUri; answers the bytes. */
  async function play(recording: Recording): Promise<Buffer> {
    const uri = new URL(recording.mediaUris?.S?.mediaUri ?? '')
    const res = await ctx.app.inject({ method: 'GET', url: `${uri.pathname}${uri.search}` })
    expect(res.statusCode).toBe(200)
    return res.rawPayload
  }

  it("changes the ETag of every recording of the organization whose answer shows the counter a restore counted down (no stale 304)", async () => {
    const bystander = await ingest(ctx, conversationId, { name: 'bystander', media: 'chat', transcript: [{ body: 'hi' }] })
    const bystanderUrl = `${recordingsUrl(conversationId)}/${bystander.id}`
    await remaining()
    const before = await ctx.inject({ method: 'GET', url: bystanderUrl })
    const { url } = await archivedRecording()
    const restore = await ctx.inject({ method: 'PUT', url, payload: { archiveDate: new Date(Date.now() + 3_600_000).toISOString() } })
    expect(restore.statusCode, restore.body).toBe(200)
    const after = await ctx.inject({ method: 'GET', url: bystanderUrl, headers: { 'if-none-match': String(before.headers.etag) } })
    expect(after.statusCode).toBe(200)
    expect(after.headers.etag).not.toBe(before.headers.etag)
    expect(after.json<Recording>().remainingRestorationsAllowedForOrg).toBe(before.json<Recording>().remainingRestorationsAllowedForOrg! - 1)
    // The version part is unchanged: an If-Match taken before still guards an update of the bystander.
    const put = await ctx.inject({ method: 'PUT', url: bystanderUrl, payload: {}, headers: { 'if-match': String(before.headers.etag) } })
    expect(put.statusCode, put.body).toBe(200)
  })

  it('lets a client holding only a restore permission restore archived media, and nothing else: other date changes are 403 and change nothing', async () => {
    const { url } = await archivedRecording()
    const restorer = { authorization: `Bearer ${await ctx.token(['recording:recording:restore', 'recording:recording:view'])}` }
    const current = await get(url)
    const later = new Date(Date.now() + 3_600_000).toISOString()

    const moved = await ctx.app.inject({ method: 'PUT', url, headers: restorer, payload: { archiveDate: later, deleteDate: '2099-01-01T00:00:00.000Z' } })
    expect(expectErrorBody(moved, 403).message).toContain('recording:recording:editRetention')
    expect(await get(url)).toEqual(current)

    const restored = await ctx.app.inject({ method: 'PUT', url, headers: restorer, payload: { archiveDate: later } })
    expect(restored.statusCode, restored.body).toBe(200)
    expect(restored.json<Recording>()).toMatchObject({ fileState: 'RESTORING', restoreExpirationTime: later })

    const other = await ingest(ctx, conversationId, { name: 'not archived', media: 'chat', transcript: [{ body: 'hi' }] })
    const edit = await ctx.app.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${other.id}`, headers: restorer, payload: { archiveDate: later } })
    expectErrorBody(edit, 403)
  })

  it('restores it until the later archiveDate: RESTORING, then RESTORED playing the original bytes, then archived again when that passes', async () => {
    const { url, storageKey } = await archivedRecording()
    const before = await remaining()
    const until = new Date(Date.now() + 5_000).toISOString()

    const put = await ctx.inject({ method: 'PUT', url, payload: { archiveDate: until } })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ fileState: 'RESTORING', restoreExpirationTime: until, archiveDate: until, remainingRestorationsAllowedForOrg: before - 1 })
    expect(put.json()).not.toHaveProperty('mediaUris')
    expect(await remaining()).toBe(before - 1)

    await eventually(async () => (await get(url)).fileState === 'RESTORED', 'the recording is restored')
    const restored = await get(url)
    expect(restored).toMatchObject({ fileState: 'RESTORED', restoreExpirationTime: until, remainingRestorationsAllowedForOrg: before - 1 })
    expect(await play(restored)).toEqual(bytes)
    expect(await hot()).toContain(storageKey)

    await eventually(async () => (await get(url)).fileState === 'ARCHIVED', 'the recording is archived again')
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(until).getTime())
    const archived = await get(url)
    expect(archived).not.toHaveProperty('mediaUris')
    expect(archived).not.toHaveProperty('restoreExpirationTime')
    await eventually(async () => !(await hot()).includes(storageKey), 'the hot copy is removed again')
    expect(await readFile(path.join(dataDir, 'archive', ...storageKey.split('/')))).toEqual(bytes)
    // Archived again is archived for good: nothing more is counted until the next restore.
    expect(await remaining()).toBe(before - 1)
  }, 30_000)

  it('keeps the restored bytes when a removal of the hot copy queued by the archiving runs only after the restore', async () => {
    const { url, storageKey } = await archivedRecording()
    const put = await ctx.inject({ method: 'PUT', url, payload: { archiveDate: new Date(Date.now() + 3_600_000).toISOString() } })
    expect(put.statusCode, put.body).toBe(200)
    await eventually(async () => (await get(url)).fileState === 'RESTORED', 'the recording is restored')
    const { rows } = await ctx.sql.query<{ id: string }>(`SELECT (graphile_worker.add_job('media.removeHot', json_build_object('storageKey', $1::text))).id::text AS id`, [storageKey])
    await eventually(async () => (await ctx.sql.query('SELECT 1 FROM graphile_worker._private_jobs WHERE id = $1', [rows[0]?.id])).rows.length === 0, 'the late removal has run')
    expect(await hot()).toContain(storageKey)
    expect(await play(await get(url))).toEqual(bytes)
  })

  it('restores a recording without stored bytes at once', async () => {
    const chat = await ingest(ctx, conversationId, { name: 'chat', media: 'chat', archiveDate: new Date(Date.now() + 1_000).toISOString() })
    const url = `${recordingsUrl(conversationId)}/${chat.id}`
    await eventually(async () => (await get(url)).fileState === 'ARCHIVED', 'the chat is archived')
    const until = new Date(Date.now() + 3_600_000).toISOString()
    const put = await ctx.inject({ method: 'PUT', url, payload: { archiveDate: until } })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ fileState: 'RESTORED', restoreExpirationTime: until })
  })

  it('counts restorations down per organization: of two restores racing for the last one, one is refused with 409 and changes nothing', async () => {
    const [first, second] = [await archivedRecording(), await archivedRecording()]
    await ctx.sql.query(
      `INSERT INTO recording_settings (organization_id, max_allowed_restorations_for_org, remaining_restorations_allowed_for_org) VALUES ($1, 1, 1)
       ON CONFLICT (organization_id) DO UPDATE SET max_allowed_restorations_for_org = 1, remaining_restorations_allowed_for_org = 1`,
      [DEFAULT_ORGANIZATION_ID],
    )
    const other = await createOrganization(ctx, 'restores elsewhere')
    await ctx.sql.query('INSERT INTO recording_settings (organization_id, remaining_restorations_allowed_for_org) VALUES ($1, 5)', [other])

    const until = new Date(Date.now() + 3_600_000).toISOString()
    const answers = await Promise.all([first, second].map(({ url }) => ctx.inject({ method: 'PUT', url, payload: { archiveDate: until } })))
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 409])
    const refused = answers[0]?.statusCode === 409 ? first : second
    const body = expectErrorBody(answers.find((answer) => answer.statusCode === 409) as (typeof answers)[number], 409)
    expect(body.code).toBe('recording.restorations.exhausted')
    expect(body.message).toMatch(/maxAllowedRestorationsForOrg 1\b/)

    const unchanged = await ctx.inject({ method: 'GET', url: refused.url })
    expect(unchanged.json()).toMatchObject({ fileState: 'ARCHIVED', remainingRestorationsAllowedForOrg: 0, maxAllowedRestorationsForOrg: 1 })
    expect(unchanged.json()).not.toHaveProperty('restoreExpirationTime')
    expect(unchanged.json<Recording>().archiveDate).not.toBe(until)
    expectErrorBody(await ctx.inject({ method: 'PUT', url: refused.url, payload: { archiveDate: until } }), 409)
    const again = await ctx.inject({ method: 'GET', url: refused.url })
    expect(again.body).toBe(unchanged.body)
    expect(again.headers.etag).toBe(unchanged.headers.etag)
    expect(await remaining()).toBe(0)

    const elsewhere = await ctx.app.inject({ method: 'GET', url: SETTINGS, headers: { authorization: `Bearer ${await ctx.token(undefined, other)}` } })
    expect(elsewhere.json()).toMatchObject({ maxAllowedRestorationsForOrg: 10000, remainingRestorationsAllowedForOrg: 5 })
  }, 30_000)
})
