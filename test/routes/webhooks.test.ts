import { randomUUID } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { InjectOptions } from 'fastify'
import { Webhook as Verifier } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Permission } from '../../src/auth/permissions.js'
import type { CreatedWebhook, Webhook, WebhookDelivery, WebhookDeliveryListing, WebhookListing, WebhookPingResult, WebhookSecret } from '../../src/schemas/webhooks.js'
import { DISPATCH_PENDING, dispatchDeliveries } from '../../src/services/webhook-delivery.js'
import { createOrganization, createTestContext, eventually, expectErrorBody, ingest, type TestContext } from '../helpers.js'

const WEBHOOKS = '/api/v2/recording/webhooks'
/** A public address (TEST-NET-3) that needs no DNS; no test delivers to it (their jobs do not run). */
const PUBLIC_URL = 'https://203.0.113.10/recording-events'
const LOCAL_URL = 'http://127.0.0.1:9/recording-events'
const SECRET = /^whsec_[A-Za-z0-9+/]{32}$/

/** Private targets allowed; runs no jobs, so deliveries stay PENDING and their jobs stay queued for inspection. */
let ctx: TestContext
/** Private targets refused (the default); runs no jobs either. */
let strict: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ JOB_CONCURRENCY: '0', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' })
  strict = await createTestContext({ JOB_CONCURRENCY: '0', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' })
})
afterAll(async () => {
  await ctx?.close()
  await strict?.close()
})

/** A client of an organization of its own (new unless given), holding `permissions` (all by default). */
interface Client {
  organizationId: string
  inject(options: InjectOptions): ReturnType<TestContext['inject']>
}

async function client(on: TestContext = ctx, permissions?: readonly Permission[], organizationId?: string): Promise<Client> {
  const organization = organizationId ?? (await createOrganization(on, `webhooks-${randomUUID()}`))
  const token = await on.token(permissions, organization)
  return {
    organizationId: organization,
    inject: (options) => on.app.inject({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } }),
  }
}

const body = (overrides: Record<string, unknown> = {}) => ({ name: 'crm', url: LOCAL_URL, events: ['recording.created'], ...overrides })

async function created(as: Client, overrides: Record<string, unknown> = {}): Promise<CreatedWebhook> {
  const res = await as.inject({ method: 'POST', url: WEBHOOKS, payload: body(overrides) })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<CreatedWebhook>()
}

const stored = async (on: TestContext, id: string) =>
  (await on.sql.query<{ secret: string; enabled: boolean; disabled_reason: string | null }>('SELECT * FROM webhooks WHERE id = $1', [id])).rows[0]

/** The delivery jobs queued for a webhook: payload, queue and key, as graphile-worker holds them. */
async function jobsOf(on: TestContext, webhookId: string) {
  const { rows } = await on.sql.query<{ payload: { webhookId: string; subject: string }; queue: string | null; key: string; max_attempts: number }>(
    `SELECT j.payload, q.queue_name AS queue, j.key, j.max_attempts FROM graphile_worker._private_jobs j
     JOIN graphile_worker._private_tasks t ON t.id = j.task_id LEFT JOIN graphile_worker._private_job_queues q ON q.id = j.job_queue_id
     WHERE t.identifier = 'webhooks.deliver' AND j.payload->>'webhookId' = $1 ORDER BY j.id`,
    [webhookId],
  )
  return rows
}

const deliveries = async (as: Client, webhookId: string, query = '') => {
  const res = await as.inject({ method: 'GET', url: `${WEBHOOKS}/${webhookId}/deliveries${query}` })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<WebhookDeliveryListing>()
}

describe('subscriptions', () => {
  it('creates a webhook: 201 with Location, a uuid v7 id, enabled by default, and the secret, shown only this once', async () => {
    const as = await client()
    const res = await as.inject({ method: 'POST', url: WEBHOOKS, payload: { ...body(), ignored: 'open body' } })
    expect(res.statusCode, res.body).toBe(201)
    const webhook = res.json<CreatedWebhook>()
    expect(webhook).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      name: 'crm', url: LOCAL_URL, events: ['recording.created'], enabled: true,
      createdAt: expect.any(String), updatedAt: expect.any(String), selfUri: `${WEBHOOKS}/${webhook.id}`,
      secret: expect.stringMatching(SECRET),
    })
    expect(res.headers.location).toBe(webhook.selfUri)
    expect((await stored(ctx, webhook.id))?.secret).toBe(webhook.secret)

    const { secret, ...shown } = webhook
    const one = await as.inject({ method: 'GET', url: webhook.selfUri })
    expect(one.statusCode).toBe(200)
    expect(one.json()).toEqual(shown)
    const list = await as.inject({ method: 'GET', url: WEBHOOKS })
    expect(list.json<WebhookListing>().entities).toEqual([shown])
    for (const read of [one, list]) expect(read.body).not.toContain(secret.slice(6))
  })

  it('stores each event once, and `*` alone', async () => {
    const as = await client()
    expect((await created(as, { events: ['annotation.created', 'annotation.created', 'webhook.ping'] })).events).toEqual(['annotation.created', 'webhook.ping'])
    expect((await created(as, { events: ['recording.deleted', '*'] })).events).toEqual(['*'])
  })

  it('lists the organization\'s webhooks oldest first, paged by pageSize and pageNumber', async () => {
    const as = await client()
    const ids = [(await created(as, { name: 'a' })).id, (await created(as, { name: 'b' })).id, (await created(as, { name: 'c' })).id]
    const first = (await as.inject({ method: 'GET', url: `${WEBHOOKS}?pageSize=2` })).json<WebhookListing>()
    expect(first).toEqual({
      entities: [expect.objectContaining({ id: ids[0] }), expect.objectContaining({ id: ids[1] })],
      pageSize: 2, pageNumber: 1, total: 3, pageCount: 2,
      firstUri: `${WEBHOOKS}?pageSize=2&pageNumber=1`, selfUri: `${WEBHOOKS}?pageSize=2&pageNumber=1`,
      nextUri: `${WEBHOOKS}?pageSize=2&pageNumber=2`, lastUri: `${WEBHOOKS}?pageSize=2&pageNumber=2`,
    })
    const second = (await as.inject({ method: 'GET', url: first.nextUri ?? '' })).json<WebhookListing>()
    expect(second).toMatchObject({ entities: [{ id: ids[2] }], pageNumber: 2, previousUri: first.selfUri })
    expect(second.nextUri).toBeUndefined()
    const empty = (await (await client()).inject({ method: 'GET', url: WEBHOOKS })).json<WebhookListing>()
    expect(empty).toMatchObject({ entities: [], total: 0, pageCount: 0, pageSize: 25, pageNumber: 1 })
    expectErrorBody(await as.inject({ method: 'GET', url: `${WEBHOOKS}?pageSize=101` }), 400)
    expectErrorBody(await as.inject({ method: 'GET', url: `${WEBHOOKS}?pageNumber=0` }), 400)
  })

  it('replaces name, url, events and enabled with PUT; the secret stays; the Webhook as read can be sent back', async () => {
    const as = await client()
    const webhook = await created(as)
    const res = await as.inject({
      method: 'PUT', url: webhook.selfUri, payload: { name: 'renamed', url: 'http://127.0.0.1:8080/other', events: ['*'], enabled: false },
    })
    expect(res.statusCode, res.body).toBe(200)
    const replaced = res.json<Webhook>()
    expect(replaced).toEqual({ ...webhook, secret: undefined, name: 'renamed', url: 'http://127.0.0.1:8080/other', events: ['*'], enabled: false, updatedAt: expect.any(String) })
    expect(Date.parse(replaced.updatedAt)).toBeGreaterThanOrEqual(Date.parse(webhook.updatedAt))
    expect((await stored(ctx, webhook.id))?.secret).toBe(webhook.secret)
    // Sent back as read, with enabled left out: enabled again (absent means true).
    const { enabled: _enabled, ...withoutEnabled } = replaced
    const again = await as.inject({ method: 'PUT', url: webhook.selfUri, payload: withoutEnabled })
    expect(again.statusCode, again.body).toBe(200)
    expect(again.json<Webhook>()).toMatchObject({ name: 'renamed', enabled: true })
  })

  it('enabling a webhook the service disabled clears disabledReason', async () => {
    const as = await client()
    const webhook = await created(as)
    await ctx.sql.query(`UPDATE webhooks SET enabled = false, disabled_reason = 'the target answered 410 Gone' WHERE id = $1`, [webhook.id])
    const read = (await as.inject({ method: 'GET', url: webhook.selfUri })).json<Webhook>()
    expect(read).toMatchObject({ enabled: false, disabledReason: 'the target answered 410 Gone' })
    // Still disabled: the reason stays.
    const kept = await as.inject({ method: 'PUT', url: webhook.selfUri, payload: { ...read, name: 'still off' } })
    expect(kept.json<Webhook>()).toMatchObject({ enabled: false, disabledReason: 'the target answered 410 Gone' })
    const res = await as.inject({ method: 'PUT', url: webhook.selfUri, payload: { ...read, enabled: true } })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json<Webhook>().enabled).toBe(true)
    expect(res.json<Webhook>()).not.toHaveProperty('disabledReason')
    expect((await stored(ctx, webhook.id))?.disabled_reason).toBeNull()
  })

  it('deletes a webhook with its deliveries: 204, then 404', async () => {
    const as = await client()
    const webhook = await created(as)
    expect((await as.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })).statusCode).toBe(202)
    const res = await as.inject({ method: 'DELETE', url: webhook.selfUri })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    expectErrorBody(await as.inject({ method: 'GET', url: webhook.selfUri }), 404)
    expectErrorBody(await as.inject({ method: 'DELETE', url: webhook.selfUri }), 404)
    const { rows } = await ctx.sql.query('SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1', [webhook.id])
    expect(rows).toEqual([])
  })

  it('makes a new secret: shown once, stored, the old one gone; reads still show none', async () => {
    const as = await client()
    const webhook = await created(as)
    const res = await as.inject({ method: 'POST', url: `${webhook.selfUri}/secret` })
    expect(res.statusCode, res.body).toBe(200)
    const { secret } = res.json<WebhookSecret>()
    expect(res.json()).toEqual({ secret: expect.stringMatching(SECRET) })
    expect(secret).not.toBe(webhook.secret)
    expect((await stored(ctx, webhook.id))?.secret).toBe(secret)
    const read = await as.inject({ method: 'GET', url: webhook.selfUri })
    expect(read.body).not.toContain(secret.slice(6))
    expect(read.json()).not.toHaveProperty('secret')
  })
})

describe('validation', () => {
  const count = async () => Number((await ctx.sql.query<{ n: string }>('SELECT count(*) AS n FROM webhooks')).rows[0]?.n)

  it.each([
    ['a url that is not http(s)', { url: 'ftp://203.0.113.10/hook' }, /url/],
    ['a relative url', { url: '/hook' }, /url/],
    ['a url with credentials', { url: 'https://user:pass@203.0.113.10/hook' }, /credentials/],
    ['an unknown event', { events: ['recording.created', 'recording.exploded'] }, /events/],
    ['no events', { events: [] }, /events/],
    ['an empty name', { name: '' }, /name/],
    ['no url', { url: undefined }, /url/],
  ])('answers 400 to %s, and stores nothing', async (_case, overrides, mentions) => {
    const as = await client()
    const before = await count()
    const res = await as.inject({ method: 'POST', url: WEBHOOKS, payload: JSON.parse(JSON.stringify(body(overrides))) as object })
    const error = expectErrorBody(res, 400)
    expect(`${error.message} ${error.details.map((detail) => `${detail.fieldName} ${detail.detail}`).join(' ')}`).toMatch(mentions)
    expect(await count()).toBe(before)
  })

  it('refuses private, loopback and link-local targets unless WEBHOOK_ALLOW_PRIVATE_TARGETS, on create and on PUT', async () => {
    const as = await client(strict)
    for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost:8080/hook', 'http://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[::1]/hook']) {
      const error = expectErrorBody(await as.inject({ method: 'POST', url: WEBHOOKS, payload: body({ url }) }), 400)
      expect(error.message, url).toMatch(/private, loopback or link-local/)
    }
    const webhook = await created(as, { url: PUBLIC_URL })
    expect(webhook.url).toBe(PUBLIC_URL)
    const put = await as.inject({ method: 'PUT', url: webhook.selfUri, payload: body({ url: 'http://192.168.1.10/hook' }) })
    expect(expectErrorBody(put, 400).message).toMatch(/192\.168\.1\.10/)
    expect((await as.inject({ method: 'GET', url: webhook.selfUri })).json<Webhook>().url).toBe(PUBLIC_URL)
    // Allowed: the same loopback target is taken.
    expect((await created(await client(ctx), { url: 'http://127.0.0.1:8080/hook' })).url).toBe('http://127.0.0.1:8080/hook')
  })
})

describe('who may do what', () => {
  it('needs recording:webhook:view to read, :add to create, :edit to change, :delete to delete', async () => {
    const owner = await client()
    const webhook = await created(owner)
    const eventId = (await owner.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })).json<WebhookPingResult>().eventId
    const calls: [Permission, InjectOptions][] = [
      ['recording:webhook:view', { method: 'GET', url: WEBHOOKS }],
      ['recording:webhook:view', { method: 'GET', url: webhook.selfUri }],
      ['recording:webhook:view', { method: 'GET', url: `${webhook.selfUri}/deliveries` }],
      ['recording:webhook:add', { method: 'POST', url: WEBHOOKS, payload: body() }],
      ['recording:webhook:edit', { method: 'PUT', url: webhook.selfUri, payload: body({ name: 'changed' }) }],
      ['recording:webhook:edit', { method: 'POST', url: `${webhook.selfUri}/secret` }],
      ['recording:webhook:edit', { method: 'POST', url: `${webhook.selfUri}/ping` }],
      ['recording:webhook:edit', { method: 'POST', url: `${webhook.selfUri}/deliveries/${eventId}/redeliver` }],
      ['recording:webhook:delete', { method: 'DELETE', url: webhook.selfUri }],
    ]
    const others: Permission[] = ['recording:webhook:view', 'recording:webhook:add', 'recording:webhook:edit', 'recording:webhook:delete', 'recording:recording:view']
    for (const [needed, call] of calls) {
      const without = await client(ctx, others.filter((p) => p !== needed), owner.organizationId)
      const error = expectErrorBody(await without.inject(call), 403)
      expect(error.message).toContain(needed)
    }
    expect((await stored(ctx, webhook.id))?.secret).toBe(webhook.secret)
    for (const [needed, call] of calls) {
      const res = await (await client(ctx, [needed], owner.organizationId)).inject(call)
      expect(res.statusCode, `${call.method} ${call.url}: ${res.body}`).toBeLessThan(300)
    }
  })

  it('shows another organization nothing: its webhooks answer 404, as unknown ids do, and stay as they were', async () => {
    const owner = await client()
    const webhook = await created(owner, { name: 'owner-only' })
    const eventId = (await owner.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })).json<WebhookPingResult>().eventId
    const other = await client()
    const before = await stored(ctx, webhook.id)
    for (const [id, event] of [[webhook.id, eventId], [randomUUID(), randomUUID()], ['not-a-uuid', 'nor-this']] as const) {
      const url = `${WEBHOOKS}/${id}`
      for (const call of [
        { method: 'GET', url },
        { method: 'PUT', url, payload: body() },
        { method: 'DELETE', url },
        { method: 'POST', url: `${url}/secret` },
        { method: 'GET', url: `${url}/deliveries` },
        { method: 'POST', url: `${url}/ping` },
        { method: 'POST', url: `${url}/deliveries/${event}/redeliver` },
      ] satisfies InjectOptions[]) {
        const error = expectErrorBody(await other.inject(call), 404)
        expect(error.message, `${call.method} ${call.url}`).toBe(`Webhook ${id} was not found`)
      }
    }
    expect((await other.inject({ method: 'GET', url: WEBHOOKS })).json<WebhookListing>()).toMatchObject({ entities: [], total: 0 })
    expect(await stored(ctx, webhook.id)).toEqual(before)
    expect((await deliveries(owner, webhook.id)).total).toBe(1)
  })
})

describe('deliveries', () => {
  it('lists a delivery for each event the webhook asked for, newest first, PENDING until sent; state filters', async () => {
    const as = await client()
    const wanting = await created(as, { events: ['recording.created'] })
    const other = await created(as, { events: ['annotation.deleted'] })
    const conversationId = randomUUID()
    const first = await ingest(as, conversationId, { name: 'first', media: 'audio' })
    const second = await ingest(as, conversationId, { name: 'second', media: 'audio' })

    const listing = await deliveries(as, wanting.id)
    expect(listing).toMatchObject({ total: 2, pageNumber: 1, pageSize: 25, pageCount: 1 })
    for (const delivery of listing.entities) {
      expect(delivery).toEqual({
        eventId: expect.any(String), topic: 'recording.created', state: 'PENDING', attempts: 0,
        nextAttemptAt: expect.any(String), createdAt: expect.any(String),
      })
    }
    const { rows } = await ctx.sql.query<{ id: string; subject: string }>(
      'SELECT e.id, e.subject FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id WHERE d.webhook_id = $1 ORDER BY e.seq DESC',
      [wanting.id],
    )
    expect(rows.map((row) => row.subject)).toEqual([second.id, first.id])
    expect(listing.entities.map((delivery) => delivery.eventId)).toEqual(rows.map((row) => row.id))
    expect((await deliveries(as, other.id)).entities).toEqual([])

    expect((await deliveries(as, wanting.id, '?state=PENDING')).total).toBe(2)
    const failed = await deliveries(as, wanting.id, '?state=FAILED&pageSize=1')
    expect(failed).toMatchObject({ entities: [], total: 0, selfUri: `${WEBHOOKS}/${wanting.id}/deliveries?pageSize=1&pageNumber=1&state=FAILED` })
    const paged = await deliveries(as, wanting.id, '?pageSize=1&pageNumber=2')
    expect(paged.entities.map((delivery) => delivery.eventId)).toEqual([rows[1]?.id])
    expectErrorBody(await as.inject({ method: 'GET', url: `${WEBHOOKS}/${wanting.id}/deliveries?state=LOST` }), 400)
  })

  it('shows the last attempt, and no nextAttemptAt once a delivery is done', async () => {
    const as = await client()
    const webhook = await created(as)
    const { eventId } = (await as.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })).json<WebhookPingResult>()
    await ctx.sql.query(
      `UPDATE webhook_deliveries SET state = 'DELIVERED', attempts = 2, last_status = 204, last_duration_ms = 12,
         last_attempt_at = now(), delivered_at = now() WHERE event_id = $1`,
      [eventId],
    )
    const [delivery] = (await deliveries(as, webhook.id)).entities
    expect(delivery).toEqual({
      eventId, topic: 'webhook.ping', state: 'DELIVERED', attempts: 2, lastStatus: 204, lastDurationMs: 12,
      lastAttemptAt: expect.any(String), deliveredAt: expect.any(String), createdAt: expect.any(String),
    })
  })

  it('queues no delivery job in the writing transaction: the dispatch queues one job per subject for the deliveries waiting', async () => {
    const as = await client()
    const webhook = await created(as, { events: ['recording.created', 'annotation.created'] })
    const [first, second] = [await ingest(as, randomUUID(), { name: 'one' }), await ingest(as, randomUUID(), { name: 'two' })]
    const annotation = await as.inject({ method: 'POST', url: `${first.selfUri}/annotations`, payload: { name: 'note', location: 10 } })
    expect(annotation.statusCode, annotation.body).toBe(200)
    const unqueued = await ctx.sql.query<{ subject: string; queued: boolean }>(
      `SELECT subject, queued FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq`, [webhook.id])
    expect(unqueued.rows).toEqual([first.id, second.id, first.id].map((subject) => ({ subject, queued: false })))
    expect(await jobsOf(ctx, webhook.id)).toEqual([])
    expect((await ctx.sql.query(DISPATCH_PENDING)).rows).toEqual([{ pending: true }])

    expect(await dispatchDeliveries(ctx.app.prisma)).toBeGreaterThanOrEqual(3)
    const queued = await ctx.sql.query(`SELECT queued FROM webhook_deliveries WHERE webhook_id = $1`, [webhook.id])
    expect(queued.rows).toEqual([{ queued: true }, { queued: true }, { queued: true }])
    expect((await jobsOf(ctx, webhook.id)).map((job) => job.key).sort()).toEqual(
      [first.id, second.id].map((subject) => `webhook:${webhook.id}:${subject}`).sort())
    expect(await dispatchDeliveries(ctx.app.prisma)).toBe(0)
    expect((await ctx.sql.query(DISPATCH_PENDING)).rows).toEqual([{ pending: false }])
  })

  it('redelivers a FAILED delivery: PENDING from attempt 0, and its job queued as the dispatch queues one', async () => {
    const as = await client()
    const webhook = await created(as, { events: ['recording.created'] })
    const recording = await ingest(as, randomUUID(), { name: 'call', media: 'audio' })
    const [delivery] = (await deliveries(as, webhook.id)).entities
    const eventId = delivery?.eventId ?? ''
    // The dispatch's job, as the redelivery must queue it again.
    await dispatchDeliveries(ctx.app.prisma)
    const queuedByDispatch = await jobsOf(ctx, webhook.id)
    expect(queuedByDispatch).toEqual([{
      payload: { webhookId: webhook.id, subject: recording.id }, queue: null, key: `webhook:${webhook.id}:${recording.id}`, max_attempts: 25,
    }])
    // Its retries spent: FAILED, and no job left.
    await ctx.sql.query(
      `UPDATE webhook_deliveries SET state = 'FAILED', attempts = 8, last_status = 500, last_error = NULL, last_attempt_at = now(), next_attempt_at = now() + interval '1 day'
       WHERE webhook_id = $1 AND event_id = $2`,
      [webhook.id, eventId],
    )
    await ctx.sql.query(`DELETE FROM graphile_worker._private_jobs WHERE key = $1`, [`webhook:${webhook.id}:${recording.id}`])
    expect(await jobsOf(ctx, webhook.id)).toEqual([])

    const res = await as.inject({ method: 'POST', url: `${webhook.selfUri}/deliveries/${eventId}/redeliver` })
    expect(res.statusCode, res.body).toBe(202)
    const redelivered = res.json<WebhookDelivery>()
    expect(redelivered).toEqual({
      eventId, topic: 'recording.created', state: 'PENDING', attempts: 0, lastStatus: 500, lastAttemptAt: expect.any(String),
      nextAttemptAt: expect.any(String), createdAt: expect.any(String),
    })
    expect(Math.abs(Date.parse(redelivered.nextAttemptAt ?? '') - Date.now())).toBeLessThan(60_000)
    expect(await jobsOf(ctx, webhook.id)).toEqual(queuedByDispatch)
    expect((await deliveries(as, webhook.id, '?state=PENDING')).entities).toEqual([redelivered])

    // Again while its job waits: still one job (the key), nothing else changes.
    expect((await as.inject({ method: 'POST', url: `${webhook.selfUri}/deliveries/${eventId}/redeliver` })).statusCode).toBe(202)
    expect(await jobsOf(ctx, webhook.id)).toEqual(queuedByDispatch)
  })

  it('answers 404 to redelivering an event the webhook has no delivery of, and queues nothing', async () => {
    const as = await client()
    const webhook = await created(as)
    const other = await created(as)
    const { eventId } = (await as.inject({ method: 'POST', url: `${other.selfUri}/ping` })).json<WebhookPingResult>()
    for (const event of [eventId, randomUUID(), 'not-a-uuid']) {
      const error = expectErrorBody(await as.inject({ method: 'POST', url: `${webhook.selfUri}/deliveries/${event}/redeliver` }), 404)
      expect(error.message).toBe(`Webhook delivery ${event} was not found for webhook ${webhook.id}`)
    }
    expect(await jobsOf(ctx, webhook.id)).toEqual([])
  })
})

describe('ping', () => {
  it('writes a webhook.ping event and a delivery for this webhook alone, whatever its events, and queues its job', async () => {
    const as = await client()
    const webhook = await created(as, { name: 'pinged', events: ['recording.deleted'] })
    const everything = await created(as, { events: ['*'] })
    const res = await as.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })
    expect(res.statusCode, res.body).toBe(202)
    const { eventId } = res.json<WebhookPingResult>()
    expect(res.json()).toEqual({ eventId: expect.any(String) })

    const { rows: events } = await ctx.sql.query('SELECT organization_id, topic, subject, body FROM webhook_events WHERE id = $1', [eventId])
    expect(events).toEqual([{
      organization_id: as.organizationId, topic: 'webhook.ping', subject: `ping:${webhook.id}`,
      body: { webhookId: webhook.id, name: 'pinged', url: LOCAL_URL },
    }])
    const { rows: rowsOfEvent } = await ctx.sql.query<{ webhook_id: string; subject: string; state: string; same_seq: boolean }>(
      `SELECT d.webhook_id, d.subject, d.state, d.seq = e.seq AS same_seq FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE d.event_id = $1`,
      [eventId],
    )
    expect(rowsOfEvent).toEqual([{ webhook_id: webhook.id, subject: `ping:${webhook.id}`, state: 'PENDING', same_seq: true }])
    expect(await jobsOf(ctx, webhook.id)).toEqual([{
      payload: { webhookId: webhook.id, subject: `ping:${webhook.id}` }, queue: null, key: `webhook:${webhook.id}:ping:${webhook.id}`, max_attempts: 25,
    }])
    expect((await deliveries(as, webhook.id)).entities).toEqual([expect.objectContaining({ eventId, topic: 'webhook.ping', state: 'PENDING' })])
    expect((await deliveries(as, everything.id)).entities).toEqual([])
  })
})

describe('delivered', () => {
  let live: TestContext
  let receiver: Server
  const received: { headers: IncomingHttpHeaders; body: string }[] = []
  beforeAll(async () => {
    live = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' })
    receiver = createServer((req, res) => {
      let text = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => (text += chunk))
      req.on('end', () => {
        received.push({ headers: req.headers, body: text })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    await live?.close()
    await new Promise((resolve) => receiver?.close(resolve))
  })

  it('a ping reaches the target signed with the current secret: after a rotation, the new one and not the old', async () => {
    const as = await client(live)
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`
    const webhook = await created(as, { url, events: ['webhook.ping'] })
    const rotated = (await as.inject({ method: 'POST', url: `${webhook.selfUri}/secret` })).json<WebhookSecret>().secret
    const { eventId } = (await as.inject({ method: 'POST', url: `${webhook.selfUri}/ping` })).json<WebhookPingResult>()
    await eventually(async () => received.some((r) => r.headers['webhook-id'] === eventId), 'the ping delivered')
    const delivery = received.find((r) => r.headers['webhook-id'] === eventId)
    const headers = {
      'webhook-id': String(delivery?.headers['webhook-id']),
      'webhook-timestamp': String(delivery?.headers['webhook-timestamp']),
      'webhook-signature': String(delivery?.headers['webhook-signature']),
    }
    expect(new Verifier(rotated).verify(delivery?.body ?? '', headers)).toMatchObject({ eventBody: { webhookId: webhook.id, name: 'crm', url } })
    expect(() => new Verifier(webhook.secret).verify(delivery?.body ?? '', headers)).toThrow()
    await eventually(async () => (await deliveries(as, webhook.id)).entities[0]?.state === 'DELIVERED', 'the delivery recorded')
  })
})
