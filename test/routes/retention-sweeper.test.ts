import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { wav } from '../media.js'
import { createTestContext, ingest, recordingsUrl, type TestContext } from '../helpers.js'

const conversationId = randomUUID()
const bytes = wav(0.25)

interface AuditLine {
  action: string
  recordingId: string
  organizationId: string
}

/** A logger for an app, and the audit lines it has written so far. */
function auditTrail() {
  const lines: AuditLine[] = []
  let partial = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = partial + chunk.toString()
      const complete = text.split('\n')
      partial = complete.pop() ?? ''
      for (const line of complete) {
        const entry = JSON.parse(line) as { audit?: AuditLine }
        if (entry.audit) lines.push(entry.audit)
      }
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Every file under `dir`, relative to it, with `/` separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
}

describe('the retention sweep', () => {
  let dataDir: string
  let ctx: TestContext
  const trail = auditTrail()

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'retention-'))
    ctx = await createTestContext({ DATA_DIR: dataDir, RETENTION_SWEEP_SECONDS: '1' }, undefined, { logger: trail.logger })
  })
  afterAll(async () => {
    await ctx?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  /** A recording with uploaded media and an annotation; answers its id and storage key. */
  async function recordingWithMedia(retention: { archiveDate?: string; deleteDate?: string }) {
    const recording = await ingest(ctx, conversationId, {
      name: 'call',
      media: 'audio',
      startTime: '2024-05-01T12:00:00.000Z',
      annotations: [{ name: 'note', location: 10 }],
      ...retention,
    })
    const url = `${recordingsUrl(conversationId)}/${recording.id}`
    const put = await ctx.inject({ method: 'PUT', url: `${url}/media`, payload: bytes, headers: { 'content-type': 'audio/wav' } })
    expect(put.statusCode, put.body).toBe(200)
    const { rows } = await ctx.sql.query<{ storage_key: string }>('SELECT storage_key FROM stored_media WHERE recording_id = $1', [recording.id])
    return { id: recording.id as string, url, storageKey: rows[0]?.storage_key as string, playback: put.json<{ mediaUris: { S: { mediaUri: string } } }>().mediaUris.S.mediaUri }
  }

  const hot = () => filesUnder(path.join(dataDir, 'media'))
  const archive = () => filesUnder(path.join(dataDir, 'archive'))

  it('deletes a recording within one sweep of its deleteDate: its children, its bytes, and one audit line', async () => {
    const deleteDate = new Date(Date.now() + 2_000)
    const { id, url, storageKey } = await recordingWithMedia({ deleteDate: deleteDate.toISOString() })
    const kept = await recordingWithMedia({ deleteDate: new Date(Date.now() + 3_600_000).toISOString() })
    expect(await hot()).toContain(storageKey)

    await eventually(async () => (await ctx.inject({ method: 'GET', url })).statusCode === 404, 'the recording is deleted')
    // One sweep: RETENTION_SWEEP_SECONDS (1 s) after the deleteDate, and some slack for a busy machine.
    expect(Date.now() - deleteDate.getTime()).toBeLessThan(1_000 + 2_500)
    const { rows } = await ctx.sql.query('SELECT 1 FROM annotations WHERE recording_id = $1 UNION ALL SELECT 1 FROM stored_media WHERE recording_id = $1', [id])
    expect(rows).toEqual([])
    await eventually(async () => !(await hot()).includes(storageKey), 'its bytes are removed')
    expect(trail.lines.filter((line) => line.recordingId === id && line.action.startsWith('retention.'))).toEqual([
      expect.objectContaining({ action: 'retention.delete', organizationId: DEFAULT_ORGANIZATION_ID, recordingId: id }),
    ])

    expect((await ctx.inject({ method: 'GET', url: `${kept.url}?formatId=WAV` })).statusCode).toBe(200)
    expect(await hot()).toContain(kept.storageKey)
  })

  it('keeps an expired recording of a protected conversation, and deletes the others meanwhile', async () => {
    const protectedConversation = randomUUID()
    await ctx.sql.query('INSERT INTO protected_conversations (organization_id, conversation_id) VALUES ($1, $2)', [DEFAULT_ORGANIZATION_ID, protectedConversation])
    const deleteDate = new Date(Date.now() + 1_500).toISOString()
    const held = await ingest(ctx, protectedConversation, { name: 'held', media: 'chat', deleteDate })
    const free = await ingest(ctx, conversationId, { name: 'free', media: 'chat', deleteDate })
    await eventually(async () => (await ctx.inject({ method: 'GET', url: `${recordingsUrl(conversationId)}/${free.id}` })).statusCode === 404, 'the unprotected recording is deleted')
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect((await ctx.inject({ method: 'GET', url: `${recordingsUrl(protectedConversation)}/${held.id}` })).statusCode).toBe(200)

    await ctx.sql.query('DELETE FROM protected_conversations WHERE conversation_id = $1', [protectedConversation])
    await eventually(async () => (await ctx.inject({ method: 'GET', url: `${recordingsUrl(protectedConversation)}/${held.id}` })).statusCode === 404, 'it goes once unprotected')
  })

  it('archives a recording whose archiveDate passes: ARCHIVED, answered without mediaUris, its bytes in the archive tier and no longer hot', async () => {
    const { id, url, storageKey, playback } = await recordingWithMedia({ archiveDate: new Date(Date.now() + 1_500).toISOString() })
    await eventually(async () => (await ctx.inject({ method: 'GET', url })).json<{ fileState: string }>().fileState === 'ARCHIVED', 'the recording is archived')

    const got = await ctx.inject({ method: 'GET', url })
    expect(got.statusCode).toBe(200)
    expect(got.json()).toMatchObject({ id, fileState: 'ARCHIVED', archiveMedium: 'CLOUDARCHIVE', annotations: [expect.objectContaining({ name: 'note' })] })
    expect(got.json()).not.toHaveProperty('mediaUris')
    const listed = await ctx.inject({ method: 'GET', url: recordingsUrl(conversationId) })
    expect(listed.json<{ id: string }[]>().find((recording) => recording.id === id)).not.toHaveProperty('mediaUris')

    expect(await readFile(path.join(dataDir, 'archive', ...storageKey.split('/')))).toEqual(bytes)
    await eventually(async () => !(await hot()).includes(storageKey), 'the hot copy is removed')
    // A playback URL handed out before the archiving plays no more.
    const uri = new URL(playback)
    await eventually(async () => (await ctx.app.inject({ method: 'GET', url: `${uri.pathname}${uri.search}` })).statusCode === 404, 'its playback URL answers 404')
    expect(trail.lines.filter((line) => line.recordingId === id && line.action.startsWith('retention.')).map((line) => line.action)).toEqual(['retention.archive'])
  })

  it('deletes an archived recording past its deleteDate together with its archived bytes', async () => {
    const { url, storageKey } = await recordingWithMedia({
      archiveDate: new Date(Date.now() + 1_000).toISOString(),
      deleteDate: new Date(Date.now() + 4_000).toISOString(),
    })
    await eventually(async () => (await ctx.inject({ method: 'GET', url })).json<{ fileState: string }>().fileState === 'ARCHIVED', 'the recording is archived')
    await eventually(async () => (await archive()).includes(storageKey) && !(await hot()).includes(storageKey), 'its bytes are only in the archive')
    await eventually(async () => (await ctx.inject({ method: 'GET', url })).statusCode === 404, 'the recording is deleted')
    await eventually(async () => !(await archive()).includes(storageKey), 'its archived bytes are removed')
    expect(await hot()).not.toContain(storageKey)
  })
})

describe('two instances on one database', () => {
  it('delete 10,000 expired recordings between them, each exactly once', async () => {
    const [first, second] = [auditTrail(), auditTrail()]
    const env = { RETENTION_SWEEP_SECONDS: '1', RETENTION_BATCH_SIZE: '100' }
    const one = await createTestContext(env, undefined, { logger: first.logger })
    const two = await createTestContext(env, { databaseUrl: one.databaseUrl }, { logger: second.logger })
    try {
      // Recordings and their annotations in one statement: a sweep running meanwhile sees both or neither.
      const { rows: made } = await one.sql.query<{ id: string }>(
        `WITH made AS (
           INSERT INTO recordings (id, organization_id, conversation_id, file_state, delete_date)
           SELECT gen_random_uuid(), $1, 'expired-' || (i % 500), 'AVAILABLE', now() - interval '1 minute' FROM generate_series(1, 10000) i
           RETURNING id),
         notes AS (INSERT INTO annotations (id, recording_id, name) SELECT gen_random_uuid(), id, 'note' FROM made)
         SELECT id::text FROM made`,
        [DEFAULT_ORGANIZATION_ID],
      )
      // Sweeps beside the queued one, so that both instances sweep at once.
      await one.sql.query(`SELECT graphile_worker.add_job('retention.sweep') FROM generate_series(1, 8)`)
      const started = performance.now()
      await eventually(async () => (await one.sql.query('SELECT 1 FROM recordings LIMIT 1')).rows.length === 0, 'every recording is deleted', 60_000)
      const seconds = (performance.now() - started) / 1000
      // Audit lines are written after each batch commits: wait for the last one.
      await eventually(async () => first.lines.length + second.lines.length >= made.length, 'every deletion is audited')

      const lines = [...first.lines, ...second.lines].filter((line) => line.action === 'retention.delete')
      expect(lines).toHaveLength(10_000)
      expect(new Set(lines.map((line) => line.recordingId))).toEqual(new Set(made.map((row) => row.id)))
      expect(first.lines.length).toBeGreaterThan(0)
      expect(second.lines.length).toBeGreaterThan(0)
      expect(Number((await one.sql.query('SELECT count(*) AS n FROM annotations')).rows[0].n)).toBe(0)
      console.info(`retention sweep, two instances: ${made.length} recordings in ${seconds.toFixed(1)} s (${Math.round(made.length / seconds)} recordings/s)`)
    } finally {
      await two.close()
      await one.close()
    }
  }, 90_000)
})
