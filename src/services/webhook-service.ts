import { randomBytes } from 'node:crypto'
import { pageLinks } from './paging.js'
import { v7 as uuid7 } from 'uuid'
import type { Prisma, PrismaClient, Webhook as WebhookRow } from '../generated/prisma/client.js'
import { NotFoundError } from '../errors.js'
import {
  ALL_WEBHOOK_EVENTS, type CreatedWebhook, type Webhook, type WebhookDelivery, type WebhookDeliveryListing, type WebhookDeliveryQuery,
  type WebhookInput, type WebhookListing, type WebhookListQuery, type WebhookPingResult, type WebhookSecret,
} from '../schemas/webhooks.js'
import { isUuid } from './recording-key.js'
import { QUEUE_DELIVERY } from './webhook-delivery.js'
import { resolveTarget } from './webhook-targets.js'

export const WEBHOOKS_PATH = '/api/v2/recording/webhooks'
const selfUri = (id: string) => `${WEBHOOKS_PATH}/${id}`

/** A new signing secret: `whsec_` and the base64 of 24 random bytes (Standard Webhooks). */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`

const notFound = (webhookId: string) => new NotFoundError('Webhook', webhookId)

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    events: row.events as Webhook['events'],
    enabled: row.enabled,
    ...(row.disabledReason === null ? {} : { disabledReason: row.disabledReason }),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    selfUri: selfUri(row.id),
  }
}

const DELIVERY_EVENT = { event: { select: { topic: true, createdAt: true } } } as const
type DeliveryRow = Prisma.WebhookDeliveryGetPayload<{ include: typeof DELIVERY_EVENT }>

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    eventId: row.eventId,
    topic: row.event.topic,
    state: row.state,
    attempts: row.attempts,
    ...(row.lastStatus === null ? {} : { lastStatus: row.lastStatus }),
    ...(row.lastError === null ? {} : { lastError: row.lastError }),
    ...(row.lastDurationMs === null ? {} : { lastDurationMs: row.lastDurationMs }),
    ...(row.lastAttemptAt === null ? {} : { lastAttemptAt: row.lastAttemptAt.toISOString() }),
    // Only while pending: afterwards it says nothing.
    ...(row.state === 'PENDING' ? { nextAttemptAt: row.nextAttemptAt.toISOString() } : {}),
    ...(row.deliveredAt === null ? {} : { deliveredAt: row.deliveredAt.toISOString() }),
    createdAt: row.event.createdAt.toISOString(),
  }
}

/**
 * Webhook subscriptions of an organization, and what became of their deliveries. Events and deliveries are written
 * by triggers (see the webhooks migration) and sent by the `webhooks.deliver` job; here they are listed, sent again
 * and tried out (a ping).
 */
export function createWebhookService({ prisma, allowPrivateTargets }: {
  prisma: PrismaClient
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS: whether a url may point at a private, loopback or link-local address. */
  allowPrivateTargets: boolean
}) {
  const checkTarget = (url: string) => resolveTarget(url, { allowPrivate: allowPrivateTargets })

  async function find(organizationId: string, webhookId: string): Promise<WebhookRow> {
    const row = isUuid(webhookId) ? await prisma.webhook.findFirst({ where: { id: webhookId, organizationId } }) : null
    if (!row) throw notFound(webhookId)
    return row
  }

  /** The members a client sets, as stored: events without repeats, `*` alone when it is among them. */
  const membersOf = (input: WebhookInput) => {
    const events = [...new Set(input.events)]
    return {
      name: input.name,
      url: input.url,
      events: events.includes(ALL_WEBHOOK_EVENTS) ? [ALL_WEBHOOK_EVENTS] : events,
      enabled: input.enabled ?? true,
    }
  }

  return {
    /** Subscribes: checks the target, stores the subscription with a new secret, and answers it with the secret. */
    async create(organizationId: string, input: WebhookInput): Promise<CreatedWebhook> {
      await checkTarget(input.url)
      const row = await prisma.webhook.create({
        data: { id: uuid7(), organizationId, ...membersOf(input), secret: newWebhookSecret() },
      })
      return { ...toWebhook(row), secret: row.secret }
    },

    /** The organization's subscriptions, oldest first. */
    async list(organizationId: string, query: WebhookListQuery): Promise<WebhookListing> {
      const { pageSize = 25, pageNumber = 1 } = query
      const [rows, total] = await prisma.$transaction([
        prisma.webhook.findMany({ where: { organizationId }, orderBy: { id: 'asc' }, skip: (pageNumber - 1) * pageSize, take: pageSize }),
        prisma.webhook.count({ where: { organizationId } }),
      ])
      return { entities: rows.map(toWebhook), ...pageLinks(WEBHOOKS_PATH, {}, pageSize, pageNumber, total) }
    },

    async get(organizationId: string, webhookId: string): Promise<Webhook> {
      return toWebhook(await find(organizationId, webhookId))
    },

    /** Replaces name, url, events and enabled (absent: true); enabling clears why the service had disabled it. */
    async replace(organizationId: string, webhookId: string, input: WebhookInput): Promise<Webhook> {
      await find(organizationId, webhookId)
      await checkTarget(input.url)
      const members = membersOf(input)
      const { count } = await prisma.webhook.updateMany({
        where: { id: webhookId, organizationId },
        data: { ...members, ...(members.enabled ? { disabledReason: null } : {}), updatedAt: new Date() },
      })
      if (count === 0) throw notFound(webhookId)
      return toWebhook(await find(organizationId, webhookId))
    },

    /** Deletes the subscription with its deliveries; events it did not get are not sent. */
    async remove(organizationId: string, webhookId: string): Promise<void> {
      const { count } = isUuid(webhookId) ? await prisma.webhook.deleteMany({ where: { id: webhookId, organizationId } }) : { count: 0 }
      if (count === 0) throw notFound(webhookId)
    },

    /** A new secret, in force at once: deliveries from now on are signed with it only. */
    async rotateSecret(organizationId: string, webhookId: string): Promise<WebhookSecret> {
      const secret = newWebhookSecret()
      const { count } = isUuid(webhookId)
        ? await prisma.webhook.updateMany({ where: { id: webhookId, organizationId }, data: { secret, updatedAt: new Date() } })
        : { count: 0 }
      if (count === 0) throw notFound(webhookId)
      return { secret }
    },

    /** The subscription's deliveries, newest event first. */
    async deliveries(organizationId: string, webhookId: string, query: WebhookDeliveryQuery): Promise<WebhookDeliveryListing> {
      await find(organizationId, webhookId)
      const { pageSize = 25, pageNumber = 1, state } = query
      const where = { webhookId, ...(state ? { state } : {}) }
      const [rows, total] = await prisma.$transaction([
        prisma.webhookDelivery.findMany({
          where,
          include: DELIVERY_EVENT,
          orderBy: { seq: 'desc' },
          skip: (pageNumber - 1) * pageSize,
          take: pageSize,
        }),
        prisma.webhookDelivery.count({ where }),
      ])
      return { entities: rows.map(toDelivery), ...pageLinks(`${selfUri(webhookId)}/deliveries`, { state }, pageSize, pageNumber, total) }
    },

    /**
     * Sends a delivery again, whatever its state: PENDING from its first attempt, at once (unless its subject's job is
     * already due later: it keeps its time). The reset and the job are one statement.
     */
    async redeliver(organizationId: string, webhookId: string, eventId: string): Promise<WebhookDelivery> {
      if (!isUuid(webhookId)) throw notFound(webhookId)
      const queued = isUuid(eventId)
        ? await prisma.$queryRaw<unknown[]>`
          WITH reset AS (
            UPDATE webhook_deliveries d SET state = 'PENDING', attempts = 0, next_attempt_at = now(), delivered_at = NULL, queued = true
            FROM webhooks w
            WHERE w.id = d.webhook_id AND w.id = ${webhookId}::uuid AND w.organization_id = ${organizationId}::uuid AND d.event_id = ${eventId}::uuid
            RETURNING d.webhook_id, d.subject)
          SELECT ${QUEUE_DELIVERY} FROM reset`
        : []
      if (queued.length === 0) {
        await find(organizationId, webhookId)
        throw new NotFoundError('Webhook delivery', eventId, ` for webhook ${webhookId}`)
      }
      const row = await prisma.webhookDelivery.findUniqueOrThrow({ where: { webhookId_eventId: { webhookId, eventId } }, include: DELIVERY_EVENT })
      return toDelivery(row)
    },

    /**
     * A `webhook.ping` event for this subscription alone, whatever events it asked for: the event, its delivery and the
     * job, in one statement.
     */
    async ping(organizationId: string, webhookId: string): Promise<WebhookPingResult> {
      if (!isUuid(webhookId)) throw notFound(webhookId)
      const [sent] = await prisma.$queryRaw<{ eventId: string }[]>`
        WITH hook AS (
          SELECT id, organization_id, name, url FROM webhooks WHERE id = ${webhookId}::uuid AND organization_id = ${organizationId}::uuid),
        event AS (
          INSERT INTO webhook_events (organization_id, topic, subject, body)
          SELECT organization_id, 'webhook.ping', 'ping:' || id, jsonb_build_object('webhookId', id, 'name', name, 'url', url) FROM hook
          RETURNING id, seq, subject),
        delivery AS (
          INSERT INTO webhook_deliveries (webhook_id, event_id, seq, subject, queued)
          SELECT ${webhookId}::uuid, id, seq, subject, true FROM event
          RETURNING webhook_id, event_id, subject)
        SELECT event_id::text AS "eventId", ${QUEUE_DELIVERY} AS job FROM delivery`
      if (!sent) throw notFound(webhookId)
      return { eventId: sent.eventId }
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
