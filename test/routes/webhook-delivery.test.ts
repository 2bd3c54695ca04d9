import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { v7 as uuid7 } from 'uuid'
import { DEFAULT_ORGANIZATION_ID } from '../../src/services/organizations.js'
import { EVENT_RETENTION_DAYS, removeOldEvents } from '../../src/services/webhook-delivery.js'
import { wav } from '../media.js'
import { createTestContext, eventually, ingest, recordingsUrl, type TestContext } from '../helpers.js'

/** What the receiver got: each request's headers and body, in arrival order. */
interface Received {
  headers: Record<string, string>
  body: string
}

/** A real HTTP receiver on 127.0.0.1; `answer` decides the status of each request (default 200). */
async function receiver(answer: (received: Received, index: number) => number | { status: number; headers?: Record<string, string> } = () => 200) {
  const received: Received[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const entry = { headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') }
      received.push(entry)
      const decided = answer(entry, received.length - 1)
      const { status, headers = {} } = typeof decided === 'number' ? { status: decided } : decided
      res.writeHead(status, headers).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const secretOf = () => `whsec_${randomBytes(24).toString('base64')}`

/** A subscription written as the API writes it (the subscription routes are tested on their own). */
async function subscribe(on: TestContext, url: string, events: string[], organizationId = DEFAULT_ORGANIZATION_ID) {
  const id = uuid7()
  const secret = secretOf()
  await on.sql.query('INSERT INTO webhooks (id, organization_id, name, url, events, secret) VALUES ($1, $2, $3, $4, $5, $6)', [id, organizationId, 'test', url, events, secret])
  return { id, secret, remove: () => on.sql.query('DELETE FROM webhooks WHERE id = $1', [id]) }
}

/** The envelope of a received event, after checking its signature with the standardwebhooks package. */
function verified(received: Received, secret: string) {
  const payload = new Webhook(secret).verify(received.body, received.headers) as { topicName: string; version: string; eventBody: Record<string, unknown>; metadata: { CorrelationId: string } }
  expect(received.headers['webhook-id']).toBe(payload.metadata.CorrelationId)
  return payload
}

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_RETRY_SCHEDULE: '20ms,20ms,20ms' })
})
afterAll(async () => {
  await ctx?.close()
})

describe('webhook delivery', () => {
  it('delivers every recording and annotation event, in order, signed as Standard Webhooks say (verified with standardwebhooks)', async () => {
    const target = await receiver()
    const { secret, remove } = await subscribe(ctx, target.url, ['*'])
    try {
      const conversationId = randomUUID()
      const recording = await ingest(ctx, conversationId, { name: 'call', media: 'audio' })
      const url = `${recordingsUrl(conversationId)}/${recording.id}`
      expect((await ctx.inject({ method: 'PUT', url: `${url}/media`, payload: wav(1), headers: { 'content-type': 'audio/wav' } })).statusCode).toBe(200)
      await eventually(async () => (await ctx.inject({ method: 'GET', url: `${url}?formatId=MP3` })).statusCode === 200, 'the MP3 is made')
      expect((await ctx.inject({ method: 'PUT', url, payload: { deleteDate: '2035-01-01T00:00:00.000Z' } })).statusCode).toBe(200)
      const annotation = (await ctx.inject({ method: 'POST', url: `${url}/annotations`, payload: { name: 'note', location: 100, durationMs: 10 } })).json<{ id: string }>()
      expect((await ctx.inject({ method: 'PUT', url: `${url}/annotations/${annotation.id}`, payload: { name: 'note, edited', location: 100, durationMs: 10 } })).statusCode).toBe(200)
      expect((await ctx.inject({ method: 'DELETE', url: `${url}/annotations/${annotation.id}` })).statusCode).toBe(204)
      // Archiving and restoring are the retention sweep's and the restore job's; their events come from the rows.
      await ctx.sql.query("UPDATE recordings SET file_state = 'ARCHIVED' WHERE id = $1", [recording.id])
      await ctx.sql.query("UPDATE recordings SET file_state = 'RESTORED' WHERE id = $1", [recording.id])
      expect((await ctx.inject({ method: 'DELETE', url })).statusCode).toBe(204)

      const expected = [
        'recording.created', 'recording.mediaAvailable', 'recording.renditionReady', 'recording.retentionChanged',
        'annotation.created', 'annotation.updated', 'annotation.deleted', 'recording.archived', 'recording.restored', 'recording.deleted',
      ]
      await eventually(async () => target.received.length >= expected.length, 'every event arrives')
      const events = target.received.map((received) => verified(received, secret))
      expect(events.map((event) => event.topicName)).toEqual(expected)
      for (const event of events) {
        expect(event.version).toBe('2')
        const body = event.eventBody
        if (event.topicName.startsWith('annotation.')) expect(body).toMatchObject({ id: annotation.id, recordingId: recording.id, conversationId })
        else expect(body).toMatchObject({ id: recording.id, conversationId, selfUri: url })
        // Metadata only: never a transcript.
        expect(body).not.toHaveProperty('transcript')
      }
      expect(events[2]?.eventBody).toMatchObject({ format: 'MP3', fileState: 'AVAILABLE' })
      expect(events[3]?.eventBody).toMatchObject({ deleteDate: '2035-01-01T00:00:00.000Z' })
      // A wrong secret does not verify.
      expect(() => new Webhook(secretOf()).verify(target.received[0]?.body ?? '', target.received[0]?.headers ?? {})).toThrow()
    } finally {
      await remove()
      await target.close()
    }
  })

  it('retries a receiver that answers 500 three times: the event arrives four times with the same webhook-id, then is DELIVERED', async () => {
    const target = await receiver((_, index) => (index < 3 ? 500 : 200))
    const { id, secret, remove } = await subscribe(ctx, target.url, ['recording.created'])
    try {
      const recording = await ingest(ctx, randomUUID(), { name: 'retried', media: 'audio' })
      await eventually(async () => target.received.length === 4, 'the fourth attempt arrives')
      const ids = target.received.map((received) => verified(received, secret).metadata.CorrelationId)
      expect(new Set(ids).size).toBe(1)
      expect(target.received.map((received) => received.headers['webhook-id'])).toEqual(Array(4).fill(ids[0]))
      expect(verified(target.received[0] as Received, secret).eventBody).toMatchObject({ id: recording.id })
      await eventually(async () => (await ctx.sql.query("SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'DELIVERED' AND attempts = 4", [id])).rows.length === 1, 'the delivery is DELIVERED after 4 attempts')
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(target.received).toHaveLength(4)
    } finally {
      await remove()
      await target.close()
    }
  })

  it('fails a delivery once the schedule is spent, and the next event of the recording still goes', async () => {
    let failing = true
    const target = await receiver(() => (failing ? 503 : 200))
    const { id, secret, remove } = await subscribe(ctx, target.url, ['recording.created', 'recording.retentionChanged'])
    try {
      const conversationId = randomUUID()
      const recording = await ingest(ctx, conversationId, { name: 'failing', media: 'audio' })
      // 1 attempt + 3 retries.
      await eventually(async () => target.received.length === 4, 'four attempts')
      await eventually(async () => (await ctx.sql.query("SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'FAILED' AND last_status = 503", [id])).rows.length === 1, 'the delivery FAILED')
      failing = false
      await ctx.inject({ method: 'PUT', url: `${recordingsUrl(conversationId)}/${recording.id}`, payload: { deleteDate: '2035-01-01T00:00:00.000Z' } })
      await eventually(async () => target.received.length === 5, 'the next event arrives')
      expect(verified(target.received[4] as Received, secret).topicName).toBe('recording.retentionChanged')
    } finally {
      await remove()
      await target.close()
    }
  })

  it('honours Retry-After on 429, and 410 disables the subscription', async () => {
    const target = await receiver((_, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : 410))
    const { id, remove } = await subscribe(ctx, target.url, ['recording.created'])
    try {
      await ingest(ctx, randomUUID(), { name: 'throttled', media: 'audio' })
      await eventually(async () => target.received.length === 2, 'the retry arrives')
      const [first, second] = target.received.map((received) => Number(received.headers['webhook-timestamp']))
      // Not 20 ms later (the schedule): at least the second Retry-After asked (timestamps are whole seconds).
      expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(1)
      await eventually(async () => (await ctx.sql.query('SELECT enabled, disabled_reason FROM webhooks WHERE id = $1', [id])).rows[0]?.enabled === false, 'the subscription is disabled')
      const { rows } = await ctx.sql.query('SELECT disabled_reason FROM webhooks WHERE id = $1', [id])
      expect(rows[0]?.disabled_reason).toMatch(/410/)
    } finally {
      await remove()
      await target.close()
    }
  })

  it('writes no event for a change that rolls back, and one per subscription that wants it for one that commits', async () => {
    const target = await receiver()
    const { remove } = await subscribe(ctx, target.url, ['recording.created'])
    const unrelated = await subscribe(ctx, target.url, ['recording.deleted'])
    try {
      const before = Number((await ctx.sql.query('SELECT count(*) AS n FROM webhook_events')).rows[0]?.n)
      const client = await ctx.sql.connect()
      try {
        await client.query('BEGIN')
        await client.query("INSERT INTO recordings (id, organization_id, conversation_id, name, file_state) VALUES ($1, $2, 'rolled-back', 'never', 'UPLOADING')", [uuid7(), DEFAULT_ORGANIZATION_ID])
        expect(Number((await client.query('SELECT count(*) AS n FROM webhook_events')).rows[0]?.n)).toBe(before + 1)
        await client.query('ROLLBACK')
      } finally {
        client.release()
      }
      expect(Number((await ctx.sql.query('SELECT count(*) AS n FROM webhook_events')).rows[0]?.n)).toBe(before)
      await ingest(ctx, randomUUID(), { name: 'kept', media: 'audio' })
      await eventually(async () => target.received.length === 1, 'the committed one arrives')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(target.received).toHaveLength(1)
    } finally {
      await remove()
      await unrelated.remove()
      await target.close()
    }
  })
})

describe('throughput', () => {
  it('delivers the events of many recordings side by side, not one per poll of the job queue', async () => {
    const target = await receiver()
    const { secret, remove } = await subscribe(ctx, target.url, ['recording.created'])
    try {
      const conversationId = randomUUID()
      const ids = new Set<string>()
      for (let i = 0; i < 40; i++) ids.add((await ingest(ctx, conversationId, { name: `call ${i}`, media: 'audio' })).id as string)
      const started = Date.now()
      await eventually(async () => target.received.length >= 40, 'all 40 events arrive', 10_000)
      const delivered = target.received.map((received) => verified(received, secret).eventBody.id as string)
      expect(new Set(delivered)).toEqual(ids)
      expect(delivered).toHaveLength(40)
      // One event per 2 s poll would take over a minute.
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      await remove()
      await target.close()
    }
  })
})

describe('what is reported', () => {
  it('a bulk job is reported when created and at each change of its state (job.stateChanged), in order', async () => {
    const target = await receiver()
    const { secret, remove } = await subscribe(ctx, target.url, ['job.stateChanged'])
    try {
      const id = uuid7()
      await ctx.sql.query(`INSERT INTO recording_jobs (id, organization_id, client_id, action, query) VALUES ($1, $2, 'events-test', 'DELETE', '{}')`, [id, DEFAULT_ORGANIZATION_ID])
      await ctx.sql.query("UPDATE recording_jobs SET processed = 1 WHERE id = $1", [id])
      await ctx.sql.query("UPDATE recording_jobs SET state = 'READY', total_recordings = 2 WHERE id = $1", [id])
      await ctx.sql.query("UPDATE recording_jobs SET state = 'CANCELLED' WHERE id = $1", [id])
      await eventually(async () => target.received.length >= 3, 'three events arrive')
      await new Promise((resolve) => setTimeout(resolve, 300))
      const events = target.received.map((received) => verified(received, secret))
      expect(events.map((event) => [event.topicName, event.eventBody.state])).toEqual([
        ['job.stateChanged', 'PENDING'], ['job.stateChanged', 'READY'], ['job.stateChanged', 'CANCELLED'],
      ])
      expect(events[1]?.eventBody).toMatchObject({ id, totalRecordings: 2, recordingJobsQuery: { action: 'DELETE' }, selfUri: `/api/v2/recording/jobs/${id}` })
    } finally {
      await remove()
      await target.close()
    }
  })

  it('an ingest with annotations is one recording.created (its annotations come with it), before any later annotation event', async () => {
    const target = await receiver()
    const { secret, remove } = await subscribe(ctx, target.url, ['recording.created', 'annotation.created'])
    try {
      const conversationId = randomUUID()
      const recording = await ingest(ctx, conversationId, { name: 'annotated', media: 'audio', annotations: [{ name: 'a', location: 1 }, { name: 'b', location: 2 }] })
      const url = `${recordingsUrl(conversationId)}/${recording.id}/annotations`
      expect((await ctx.inject({ method: 'POST', url, payload: { name: 'later', location: 3 } })).statusCode).toBeLessThan(300)
      await eventually(async () => target.received.length >= 2, 'two events arrive')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(target.received.map((received) => verified(received, secret).topicName)).toEqual(['recording.created', 'annotation.created'])
    } finally {
      await remove()
      await target.close()
    }
  })
})

describe('old events', () => {
  it(`are removed after ${EVENT_RETENTION_DAYS} days once nothing is left to deliver; pending ones stay`, async () => {
    const idle = await createTestContext({ JOB_CONCURRENCY: '0' })
    try {
      const { id } = await subscribe(idle, 'http://127.0.0.1:9/', ['recording.created'])
      await ingest(idle, randomUUID(), { name: 'one', media: 'audio' })
      await ingest(idle, randomUUID(), { name: 'two', media: 'audio' })
      const { rows } = await idle.sql.query<{ event_id: string }>('SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq', [id])
      await idle.sql.query(`UPDATE webhook_events SET created_at = now() - interval '${EVENT_RETENTION_DAYS + 1} days'`)
      await idle.sql.query("UPDATE webhook_deliveries SET state = 'DELIVERED' WHERE event_id = $1", [rows[0]?.event_id])
      expect(await removeOldEvents(idle.app.prisma)).toBe(1)
      const left = await idle.sql.query('SELECT d.event_id, d.state FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id')
      expect(left.rows).toEqual([{ event_id: rows[1]?.event_id, state: 'PENDING' }])
    } finally {
      await idle.close()
    }
  })
})

describe('webhook targets at delivery', () => {
  it('refuses a private target unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true, also when the subscription was made before', async () => {
    const strict = await createTestContext({ WEBHOOK_RETRY_SCHEDULE: '20ms' })
    const target = await receiver()
    try {
      // As if subscribed while allowed (or before the address changed): checked again when delivering.
      const { id } = await subscribe(strict, target.url, ['recording.created'])
      await ingest(strict, randomUUID(), { name: 'private', media: 'audio' })
      await eventually(async () => (await strict.sql.query("SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'FAILED'", [id])).rows.length === 1, 'the delivery fails')
      const { rows } = await strict.sql.query('SELECT last_error FROM webhook_deliveries WHERE webhook_id = $1', [id])
      expect(rows[0]?.last_error).toMatch(/127\.0\.0\.1.*private, loopback or link-local/)
      expect(target.received).toEqual([])
    } finally {
      await target.close()
      await strict.close()
    }
  })
})
