import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import { v7 as uuid7 } from 'uuid'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { DEFAULT_ORGANIZATION_ID } from '../src/services/organizations.js'
import { createTestDatabase } from './database.js'
import { eventually } from './helpers.js'
import { BOOTSTRAP, killLeftovers, scratchDir, startService, tokenFrom, type Service } from './processes.js'

afterAll(killLeftovers)

describe('SIGKILL between a commit and the delivery of its event', () => {
  it('delivers the event once a service runs again: the outbox kept it', async () => {
    const received: { headers: Record<string, string>; body: string }[] = []
    const receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const scratch = await scratchDir('webhook-crash')
    const databaseUrl = await createTestDatabase(inject('testDatabase'))
    const sql = new pg.Pool({ connectionString: databaseUrl, max: 1 })
    const env = { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false', DATA_DIR: scratch.dir, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', ...BOOTSTRAP }
    let service: Service | undefined
    try {
      const secret = `whsec_${randomBytes(24).toString('base64')}`
      await sql.query('INSERT INTO webhooks (id, organization_id, name, url, events, secret) VALUES ($1, $2, $3, $4, $5, $6)', [
        uuid7(), DEFAULT_ORGANIZATION_ID, 'crash', `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, ['recording.created'], secret,
      ])
      // An instance that runs no jobs: the ingest commits, its event waits in the outbox, and the instance dies.
      service = await startService({ ...env, JOB_CONCURRENCY: '0' })
      const token = await tokenFrom(service.baseUrl)
      const created = await fetch(`${service.baseUrl}/api/v2/conversations/${randomUUID()}/recordings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'acknowledged', media: 'audio' }),
      })
      expect(created.status).toBe(201)
      const { id } = (await created.json()) as { id: string }
      service.process.kill('SIGKILL')
      expect(await service.exited).toMatchObject({ signal: 'SIGKILL' })
      expect(received).toEqual([])

      service = await startService(env)
      await eventually(async () => received.length === 1, 'the event is delivered after the restart')
      const event = new Webhook(secret).verify(received[0]?.body ?? '', received[0]?.headers ?? {}) as { topicName: string; eventBody: { id: string } }
      expect(event).toMatchObject({ topicName: 'recording.created', eventBody: { id } })
    } finally {
      service?.process.kill('SIGKILL')
      await sql.end()
      await scratch.remove()
      await new Promise<void>((resolve) => receiver.close(() => resolve()))
    }
  })
})
