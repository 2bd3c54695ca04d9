import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { STORED_MEDIA_CACHE_MS } from '../../src/services/media-service.js'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { wav } from '../media.js'
import { createTestContext, ingest, recordingsUrl, type TestContext, eventually } from '../helpers.js'

const conversationId = randomUUID()
const bytes = wav(0.25)
let dataDir: string
let ctx: TestContext

/** Every file under the media directory, relative to it. */
async function mediaFiles(): Promise<string[]> {
  const root = path.join(dataDir, 'media')
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(root, path.join(entry.parentPath, entry.name))).sort()
}


/** A recording with uploaded media; answers its id and storage key. */
async function uploaded(on: TestContext): Promise<{ id: string; storageKey: string }> {
  const recording = await ingest(on, conversationId, { name: 'call', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
  const put = await on.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recording.id}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
  expect(put.statusCode, put.body).toBe(200)
  const { rows } = await on.sql.query<{ storage_key: string }>('SELECT storage_key FROM stored_media WHERE recording_id = $1', [recording.id])
  return { id: recording.id as string, storageKey: rows[0]?.storage_key as string }
}

const queuedJobs = async (on: TestContext, task: string) =>
  Number((await on.sql.query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = $1', [task])).rows[0]?.n)

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'media-removal-'))
  ctx = await createTestContext({ DATA_DIR: dataDir })
})
afterAll(async () => {
  await ctx?.close()
  await rm(dataDir, { recursive: true, force: true })
})

describe('deletion removes the bytes', () => {
  it('deleting a recording removes its stored media from storage, through a background job', async () => {
    const { id, storageKey } = await uploaded(ctx)
    expect(await mediaFiles()).toContain(storageKey)
    const res = await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${id}` })
    expect(res.statusCode).toBe(204)
    await eventually(async () => !(await mediaFiles()).includes(storageKey), 'the stored file is removed')
    await eventually(async () => (await queuedJobs(ctx, 'media.remove')) === 0, 'the job is done')
  })

  it("a deleted recording's playback URL stops working within STORED_MEDIA_CACHE_MS, though players had it in use", async () => {
    const { id } = await uploaded(ctx)
    const uri = new URL((await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}?formatId=WAV` })).json().mediaUris.S.mediaUri)
    const play = () => ctx.app.inject({ method: 'GET', url: `${uri.pathname}${uri.search}`, headers: { range: 'bytes=0-99' } })
    expect((await play()).statusCode).toBe(206)
    expect((await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${id}` })).statusCode).toBe(204)
    const deleted = Date.now()
    const seen = new Set<number>()
    await eventually(async () => {
      const status = (await play()).statusCode
      seen.add(status)
      return status === 404
    }, "the URL answers 404", STORED_MEDIA_CACHE_MS + 5_000)
    // Until then it plays, or answers 404 once the bytes are gone: never a failure.
    expect([...seen].every((status) => status === 206 || status === 404), [...seen].join()).toBe(true)
    expect(Date.now() - deleted).toBeLessThan(STORED_MEDIA_CACHE_MS + 5_000)
  })

  it('a delete that rolls back queues nothing and keeps the bytes', async () => {
    const { id, storageKey } = await uploaded(ctx)
    const client = await ctx.sql.connect()
    try {
      await client.query('BEGIN')
      await client.query('DELETE FROM recordings WHERE id = $1', [id])
      expect(Number((await client.query('SELECT count(*) AS n FROM graphile_worker.jobs')).rows[0].n)).toBeGreaterThan(0)
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
    expect(await queuedJobs(ctx, 'media.remove')).toBe(0)
    const got = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${id}?formatId=WAV` })
    expect(got.statusCode).toBe(200)
    expect(await mediaFiles()).toContain(storageKey)
  })

  it('a delete committed while no instance runs jobs (all crashed) is carried out by the next instance that does', async () => {
    const idle = await createTestContext({ DATA_DIR: dataDir, JOB_CONCURRENCY: '0' })
    let worker: TestContext | undefined
    try {
      const { id, storageKey } = await uploaded(idle)
      expect((await idle.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${id}` })).statusCode).toBe(204)
      await new Promise((resolve) => setTimeout(resolve, 500))
      // The job waits in the database, with the bytes still there.
      expect(await queuedJobs(idle, 'media.remove')).toBe(1)
      expect(await mediaFiles()).toContain(storageKey)
      worker = await createTestContext({ DATA_DIR: dataDir }, { databaseUrl: idle.databaseUrl })
      await eventually(async () => !(await mediaFiles()).includes(storageKey), 'the next instance removes the bytes')
      await eventually(async () => (await queuedJobs(idle, 'media.remove')) === 0, 'the job is done')
    } finally {
      await worker?.close()
      await idle.close()
    }
  })
})

describe('deletion removes unfinished uploads', () => {
  const uploadFiles = async () => (await readdir(path.join(dataDir, 'uploads')).catch(() => [] as string[])).sort()

  it('deleting a recording whose media is still uploading removes its unfinished tus upload, and only its own', async () => {
    const create = async (recordingId: string) => {
      const metadata = Object.entries({ conversationId, recordingId, filetype: 'audio/wav' }).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',')
      const res = await ctx.inject({
        method: 'POST',
        url: '/api/v2/recordings/uploads',
        headers: { 'tus-resumable': '1.0.0', 'upload-length': String(bytes.length), 'upload-metadata': metadata },
      })
      expect(res.statusCode, res.body).toBe(201)
      const id = String(res.headers.location).split('/').pop() ?? ''
      const patched = await ctx.inject({
        method: 'PATCH',
        url: `/api/v2/recordings/uploads/${id}`,
        headers: { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
        payload: bytes.subarray(0, 1000),
      })
      expect(patched.statusCode, patched.body).toBe(204)
      return id
    }
    const doomed = await ingest(ctx, conversationId, { name: 'doomed', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const spared = await ingest(ctx, conversationId, { name: 'spared', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' })
    const [doomedUpload, sparedUpload] = [await create(doomed.id as string), await create(spared.id as string)]
    expect((await uploadFiles()).filter((file) => file.startsWith(doomedUpload))).not.toEqual([])

    expect((await ctx.inject({ method: 'DELETE', url: `${recordingsUrl(conversationId)}/${doomed.id}` })).statusCode).toBe(204)
    await eventually(async () => !(await uploadFiles()).some((file) => file.startsWith(doomedUpload)), 'the unfinished upload is removed')
    expect((await uploadFiles()).filter((file) => file.startsWith(sparedUpload))).toHaveLength(2)
    await eventually(async () => (await queuedJobs(ctx, 'uploads.remove')) === 0, 'the job is done')
  })

  it('expired uploads are removed on a schedule', async () => {
    await eventually(async () => {
      const { rows } = await ctx.sql.query<{ identifier: string }>('SELECT identifier FROM graphile_worker._private_known_crontabs')
      return rows.some((row) => row.identifier === 'uploads.expire')
    }, 'the cron schedule is known to the database')
  })
})

describe('the reconciliation', () => {
  it('removes stored files no recording names and abandoned temporary files once older than the grace period, and keeps the rest', async () => {
    const kept = await uploaded(ctx)
    const directory = path.join(dataDir, 'media', DEFAULT_ORGANIZATION_ID, randomUUID())
    await mkdir(directory, { recursive: true })
    const old = new Date(Date.now() - 2 * 60 * 60_000)
    const orphan = path.join(directory, 'orphan.wav')
    const young = path.join(directory, 'young.wav')
    const partial = path.join(directory, '.orphan.wav.0190.part')
    for (const file of [orphan, young, partial]) await writeFile(file, bytes)
    await utimes(orphan, old, old)
    await utimes(partial, old, old)
    // The stored media of `kept` is old too: being named by a recording is what keeps it.
    await utimes(path.join(dataDir, 'media', ...kept.storageKey.split('/')), old, old)

    await ctx.sql.query("SELECT graphile_worker.add_job('media.reconcile')")
    const relative = (file: string) => path.relative(path.join(dataDir, 'media'), file)
    await eventually(async () => {
      const files = await mediaFiles()
      return !files.includes(relative(orphan)) && !files.includes(relative(partial))
    }, 'the reconciliation removes the orphan and the abandoned part file')
    const files = await mediaFiles()
    expect(files).toContain(relative(young))
    expect(files).toContain(kept.storageKey)
    const got = await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${kept.id}?formatId=WAV` })
    const uri = new URL(got.json().mediaUris.S.mediaUri)
    expect((await ctx.app.inject({ method: 'GET', url: `${uri.pathname}${uri.search}` })).rawPayload.equals(bytes)).toBe(true)
  })

  it('is scheduled hourly, once for all instances', async () => {
    await eventually(async () => {
      const { rows } = await ctx.sql.query<{ identifier: string }>('SELECT identifier FROM graphile_worker._private_known_crontabs')
      return rows.some((row) => row.identifier === 'media.reconcile')
    }, 'the cron schedule is known to the database')
  })
})
