import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { DEFAULT_ORGANIZATION_ID } from '../src/services/organizations.js'
import { mediaKey } from '../src/storage/media-storage.js'
import { createTestDatabase } from './database.js'
import { BOOTSTRAP, killLeftovers, scratchDir, startService, type Service } from './processes.js'

afterAll(killLeftovers)

/** Every file under `dir`, relative to it, with `/` separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const audited = (service: Service, action: string) =>
  service.logs.filter((entry) => (entry.audit as { action?: string } | undefined)?.action === action).map((entry) => (entry.audit as { recordingId: string }).recordingId)

describe('SIGKILL during the retention sweep', () => {
  it('loses nothing it should keep, leaves no ARCHIVED recording without its bytes, and leaves no orphan bytes once restarted', async () => {
    const scratch = await scratchDir('retention-crash')
    const databaseUrl = await createTestDatabase(inject('testDatabase'))
    const env = { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false', DATA_DIR: scratch.dir, RETENTION_SWEEP_SECONDS: '1', RETENTION_BATCH_SIZE: '100', ...BOOTSTRAP }
    const [hotDir, archiveDir] = [path.join(scratch.dir, 'media'), path.join(scratch.dir, 'archive')]
    const sql = new pg.Pool({ connectionString: databaseUrl, max: 2 })
    let service: Service | undefined

    // Recordings with stored media, arranged in the database and on disk as uploads leave them: some expired, some due
    // for the archive, some to keep.
    const groups = { expired: 5_000, due: 1_000, kept: 200 }
    const made: Record<keyof typeof groups, { id: string; key: string }[]> = { expired: [], due: [], kept: [] }
    for (const [group, count] of Object.entries(groups) as [keyof typeof groups, number][]) {
      const rows = Array.from({ length: count }, () => {
        const id = randomUUID()
        return { id, key: mediaKey(DEFAULT_ORGANIZATION_ID, id, `${randomUUID()}.wav`), bytes: randomBytes(2_048) }
      })
      for (const { key, bytes } of rows) {
        const file = path.join(hotDir, ...key.split('/'))
        await mkdir(path.dirname(file), { recursive: true })
        await writeFile(file, bytes)
      }
      const [archiveDate, deleteDate] = group === 'expired' ? [null, 'now()'] : group === 'due' ? ['now()', null] : [null, null]
      await sql.query(
        `WITH r AS (INSERT INTO recordings (id, organization_id, conversation_id, file_state, media, archive_date, delete_date)
           SELECT id, $1, 'conversation-' || $2, 'AVAILABLE', 'audio', ${archiveDate ?? 'NULL'}, ${deleteDate ?? 'NULL'} FROM unnest($3::uuid[]) id RETURNING id)
         INSERT INTO stored_media (recording_id, storage_key, content_type, size_in_bytes, sha256)
         SELECT id, key, 'audio/wav', 2048, digest FROM unnest($3::uuid[], $4::text[], $5::bytea[]) AS m(id, key, digest)`,
        [DEFAULT_ORGANIZATION_ID, group, rows.map((row) => row.id), rows.map((row) => row.key), rows.map((row) => createHash('sha256').update(row.bytes).digest())],
      )
      made[group] = rows.map(({ id, key }) => ({ id, key }))
    }
    const allKeys = Object.values(made).flat()

    /** What must hold whenever the sweep stops, killed or not. */
    async function assertConsistent() {
      const { rows } = await sql.query<{ id: string; key: string; file_state: string; archived: boolean }>(
        `SELECT r.id::text, m.storage_key AS key, r.file_state, m.archived_at IS NOT NULL AS archived FROM recordings r JOIN stored_media m ON m.recording_id = r.id`,
      )
      const [hot, archived] = [new Set(await filesUnder(hotDir)), new Set(await filesUnder(archiveDir))]
      const { rows: jobs } = await sql.query<{ task: string; key: string }>(
        `SELECT t.identifier AS task, j.payload->>'storageKey' AS key
         FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
         WHERE t.identifier IN ('media.remove', 'media.removeHot')`,
      )
      const queued = new Set(jobs.map((job) => `${job.task} ${job.key}`))
      const named = new Set(rows.map((row) => row.key))
      // Nothing it should keep is lost: each remaining recording's bytes are where its row says.
      for (const row of rows) {
        expect(row.archived ? archived.has(row.key) : hot.has(row.key), `bytes of ${row.id} (${row.file_state})`).toBe(true)
        expect(row.archived, `ARCHIVED exactly when its media is: ${row.id}`).toBe(row.file_state === 'ARCHIVED')
      }
      // No bytes are orphaned: bytes that no recording names are queued for removal, and so are hot copies of archived media.
      for (const key of hot) {
        if (!named.has(key)) expect(queued.has(`media.remove ${key}`), `removal of ${key} queued`).toBe(true)
      }
      for (const row of rows.filter((row) => row.archived && hot.has(row.key))) {
        expect(queued.has(`media.removeHot ${row.key}`), `hot copy removal of ${row.key} queued`).toBe(true)
      }
      return { rows, hot, archived }
    }

    try {
      // Killed mid-batch while deleting: once a batch is audited, while the delete of another is running.
      service = await startService(env)
      const first = service
      await eventually(async () => {
        if (audited(first, 'retention.delete').length === 0) return false
        const { rows } = await sql.query(`SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%DELETE FROM recordings r WHERE r.id = ANY%' AND pid <> pg_backend_pid()`)
        return rows.length > 0
      }, 'the sweep is deleting a batch')
      service.process.kill('SIGKILL')
      expect(await service.exited).toMatchObject({ signal: 'SIGKILL' })
      const afterFirst = await assertConsistent()
      expect(afterFirst.rows.length).toBeGreaterThan(groups.due + groups.kept)

      // Killed mid-batch while archiving: once a batch is audited, while bytes of another are being copied.
      service = await startService(env)
      const second = service
      await eventually(
        async () => audited(second, 'retention.archive').length > 0 && (await filesUnder(archiveDir)).some((file) => file.endsWith('.part')),
        'the sweep is copying a batch to the archive',
      )
      service.process.kill('SIGKILL')
      await service.exited
      const afterSecond = await assertConsistent()
      expect(afterSecond.rows.filter((row) => row.file_state === 'ARCHIVED').length).toBeLessThan(groups.due)

      // Jobs the killed instances were running stay locked until graphile-worker's lock expires (4 hours); here, as an
      // operator would, their locks are released at once (no instance is running).
      await sql.query('SELECT graphile_worker.force_unlock_workers(ARRAY(SELECT DISTINCT locked_by FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL))')

      // Restarted, the sweep finishes and the queued removals run.
      service = await startService(env)
      await eventually(async () => {
        const { rows } = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM recordings WHERE delete_date IS NOT NULL OR file_state <> 'ARCHIVED' AND archive_date IS NOT NULL`)
        return rows[0]?.n === '0'
      }, 'every expired recording is deleted and every due one archived')
      // A copy into the archive cut by the kill left a temporary file; the reconciliation removes it once old enough.
      const old = new Date(Date.now() - 2 * 60 * 60_000)
      for (const file of (await filesUnder(archiveDir)).filter((file) => file.endsWith('.part'))) await utimes(path.join(archiveDir, file), old, old)
      await sql.query("SELECT graphile_worker.add_job('media.reconcile')")
      await eventually(async () => {
        const { rows } = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier LIKE 'media.%'`)
        return rows[0]?.n === '0'
      }, 'every removal has run')

      const final = await assertConsistent()
      const byGroup = (group: keyof typeof groups) => new Set(made[group].map((row) => row.key))
      expect(final.rows.map((row) => row.key).sort()).toEqual([...byGroup('due'), ...byGroup('kept')].sort())
      expect([...final.hot].sort()).toEqual([...byGroup('kept')].sort())
      expect([...final.archived].sort()).toEqual([...byGroup('due')].sort())
      expect(allKeys).toHaveLength(groups.expired + groups.due + groups.kept)

      // Each recording's audit line comes from the run that committed it; none is audited twice.
      const deletions = [first, second, service].flatMap((run) => audited(run, 'retention.delete'))
      expect(new Set(deletions).size).toBe(deletions.length)
      expect(deletions.length).toBeLessThanOrEqual(groups.expired)
    } finally {
      service?.process.kill('SIGKILL')
      await service?.exited
      await sql.end()
      await scratch.remove()
    }
  }, 120_000)
})
