import { randomUUID } from 'node:crypto'
import { readdir, utimes } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from './database.js'
import { wav } from './media.js'
import { BOOTSTRAP, killLeftovers, scratchDir, startService, tokenFrom, type Service } from './processes.js'
import { eventually } from './helpers.js'

afterAll(killLeftovers)

/** Every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
}


describe('SIGKILL during a media upload', () => {
  it('leaves no visible half file and the recording UPLOADING; the upload can be made again, and the reconciliation removes the remains', async () => {
    const scratch = await scratchDir('media-crash')
    const databaseUrl = await createTestDatabase(inject('testDatabase'))
    const env = { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false', DATA_DIR: scratch.dir, ...BOOTSTRAP }
    const mediaDir = path.join(scratch.dir, 'media')
    const sql = new pg.Pool({ connectionString: databaseUrl, max: 1 })
    let service: Service | undefined
    try {
      service = await startService(env)
      const token = await tokenFrom(service.baseUrl)
      const auth = { authorization: `Bearer ${token}` }
      const conversationId = randomUUID()
      const created = await fetch(`${service.baseUrl}/api/v2/conversations/${conversationId}/recordings`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'killed upload', media: 'audio', startTime: '2024-05-01T12:00:00.000Z' }),
      })
      expect(created.status).toBe(201)
      const { id } = (await created.json()) as { id: string }
      const recordingUrl = `${service.baseUrl}/api/v2/conversations/${conversationId}/recordings/${id}`

      // Half of a 2 MB upload is sent; once its bytes are being written, the service is killed.
      const media = wav(120)
      const socket = connect(Number(new URL(service.baseUrl).port), '127.0.0.1')
      socket.on('error', () => {})
      socket.write(
        `PUT ${new URL(recordingUrl).pathname}/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: audio/wav\r\nContent-Length: ${media.length}\r\n\r\n`,
      )
      socket.write(media.subarray(0, media.length / 2))
      await eventually(async () => (await filesUnder(mediaDir)).some((file) => file.endsWith('.part')), 'the upload is being written')
      service.process.kill('SIGKILL')
      expect(await service.exited).toMatchObject({ signal: 'SIGKILL' })
      socket.destroy()

      // Only a temporary file remains: no name a stored key could have.
      const remains = await filesUnder(mediaDir)
      expect(remains.length).toBeGreaterThan(0)
      expect(remains.every((file) => path.basename(file).startsWith('.') && file.endsWith('.part'))).toBe(true)

      service = await startService(env)
      const again = { authorization: `Bearer ${await tokenFrom(service.baseUrl)}` }
      const waiting = await fetch(recordingUrl.replace(/^http:\/\/[^/]+/, service.baseUrl), { headers: again })
      expect(waiting.status).toBe(202)
      expect(((await waiting.json()) as { fileState: string }).fileState).toBe('UPLOADING')
      expect((await sql.query('SELECT 1 FROM stored_media WHERE recording_id = $1', [id])).rows).toHaveLength(0)

      const retried = await fetch(`${recordingUrl.replace(/^http:\/\/[^/]+/, service.baseUrl)}/media`, {
        method: 'PUT',
        headers: { ...again, 'content-type': 'audio/wav' },
        body: media,
      })
      expect(retried.status, await retried.clone().text()).toBe(200)
      expect(await retried.json()).toMatchObject({ fileState: 'AVAILABLE', outputSizeInBytes: media.length, outputDurationMs: 120_000 })

      // The remains of the killed upload, once older than the grace period, go with the next reconciliation.
      const old = new Date(Date.now() - 2 * 60 * 60_000)
      for (const file of remains) await utimes(path.join(mediaDir, file), old, old)
      await sql.query("SELECT graphile_worker.add_job('media.reconcile')")
      await eventually(async () => {
        const files = await filesUnder(mediaDir)
        return files.length === 1 && !files[0]?.endsWith('.part')
      }, 'only the stored media remains')
    } finally {
      service?.process.kill('SIGKILL')
      await service?.exited
      await sql.end()
      await scratch.remove()
    }
  }, 60_000)
})
