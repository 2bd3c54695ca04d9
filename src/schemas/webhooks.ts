import { Type, type Static } from '@sinclair/typebox'
import { DateTime, HttpUrl, Int32, StringEnum } from './common.js'

const Opt = Type.Optional

/** The events a subscription can ask for (`*`: all of them). Written by the triggers of the webhooks migration. */
export const WEBHOOK_EVENTS = [
  'recording.created',
  'recording.mediaAvailable',
  'recording.renditionReady',
  'recording.retentionChanged',
  'recording.archived',
  'recording.restored',
  'recording.deleted',
  'annotation.created',
  'annotation.updated',
  'annotation.deleted',
  'job.stateChanged',
  'webhook.ping',
] as const
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number]
/** In a subscription's `events`: every event, including those added later. */
export const ALL_WEBHOOK_EVENTS = '*'

export const WEBHOOK_DELIVERY_STATES = ['PENDING', 'DELIVERED', 'FAILED'] as const

export const MAX_WEBHOOK_PAGE_SIZE = 100

/**
 * The ids of the OpenAPI examples: Swagger UI fills the path parameters with them. A webhook's id (and a ping's event
 * id) is made when it is created, so "Try it out" finds one only where the example's was given this id (as the
 * OpenAPI examples test does).
 */
export const EXAMPLE_WEBHOOK_ID = '019ac0de-5b00-7a00-8b00-0000000000e1'
export const EXAMPLE_WEBHOOK_EVENT_ID = '019ac0de-5b00-7a00-8b00-0000000000e2'

const EventName = StringEnum([...WEBHOOK_EVENTS, ALL_WEBHOOK_EVENTS])

const webhookMembers = {
  name: Type.String({ minLength: 1, maxLength: 200, description: 'A name to tell subscriptions apart.' }),
  url: HttpUrl(2000, 'Where events are POSTed: an absolute http(s) URL without credentials, on a public address (unless WEBHOOK_ALLOW_PRIVATE_TARGETS).'),
  events: Type.Array(EventName, {
    minItems: 1,
    maxItems: 50,
    description: 'The events to deliver, or `*` for all of them.',
  }),
  enabled: Type.Boolean({ description: 'false: no events are written for it, and those pending fail.' }),
}

const WEBHOOK_EXAMPLE = { name: 'CRM sync', url: 'https://203.0.113.10/recording-events', events: ['recording.created', 'recording.deleted'], enabled: true }

/**
 * What a client sends to subscribe, or to replace a subscription (PUT). Open: clients PUT back the Webhook they read;
 * members that are not theirs to change are ignored.
 */
export const WebhookInputSchema = Type.Object(
  { ...webhookMembers, enabled: Opt({ ...webhookMembers.enabled, description: 'Default true.' }) },
  { title: 'WebhookInput', additionalProperties: true, examples: [WEBHOOK_EXAMPLE] },
)
export type WebhookInput = Static<typeof WebhookInputSchema>

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    ...webhookMembers,
    disabledReason: Opt(Type.String({ description: 'Why the service disabled it (the target answered 410 Gone); cleared when enabled again.' })),
    createdAt: DateTime(),
    updatedAt: DateTime(),
    selfUri: Type.String(),
  },
  { title: 'Webhook' },
)
export type Webhook = Static<typeof WebhookSchema>

const Secret = Type.String({
  description: 'The signing secret (Standard Webhooks: `whsec_` and the base64 key). Shown only here: keep it.',
  examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
})

/** The Webhook as its creation answers it: with its secret, which no other read shows. */
export const CreatedWebhookSchema = Type.Object({ ...WebhookSchema.properties, secret: Secret }, { title: 'CreatedWebhook' })
export type CreatedWebhook = Static<typeof CreatedWebhookSchema>

export const WebhookSecretSchema = Type.Object({ secret: Secret }, { title: 'WebhookSecret' })
export type WebhookSecret = Static<typeof WebhookSecretSchema>

const listing = <T extends ReturnType<typeof Type.Object>>(entity: T, title: string) =>
  Type.Object(
    {
      entities: Type.Array(entity),
      pageSize: Int32(),
      pageNumber: Int32(),
      total: Int32(),
      pageCount: Int32(),
      firstUri: Type.String(),
      selfUri: Type.String(),
      nextUri: Opt(Type.String()),
      previousUri: Opt(Type.String()),
      lastUri: Type.String(),
    },
    { title },
  )

/** Genesys entity listing (paged by pageSize and pageNumber). */
export const WebhookListingSchema = listing(WebhookSchema, 'WebhookEntityListing')
export type WebhookListing = Static<typeof WebhookListingSchema>

const PageQuery = {
  pageSize: Opt(Type.Integer({ minimum: 1, maximum: MAX_WEBHOOK_PAGE_SIZE, default: 25, description: `Default 25, at most ${MAX_WEBHOOK_PAGE_SIZE}.` })),
  pageNumber: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: 'Default 1, the first page.' })),
}

export const WebhookListQuery = Type.Object(PageQuery)
export type WebhookListQuery = Static<typeof WebhookListQuery>

export const WebhookDeliveryQuery = Type.Object({
  ...PageQuery,
  state: Opt(StringEnum(WEBHOOK_DELIVERY_STATES, { description: 'Only deliveries in this state.' })),
})
export type WebhookDeliveryQuery = Static<typeof WebhookDeliveryQuery>

export const WebhookDeliverySchema = Type.Object(
  {
    eventId: Type.String({ description: 'The event, as its deliveries name it (the webhook-id header).' }),
    topic: Type.String({ description: 'The event name.' }),
    state: StringEnum(WEBHOOK_DELIVERY_STATES, { description: 'PENDING until delivered (a 2xx answer); FAILED once its retries are spent, or its subscription is disabled.' }),
    attempts: Int32('Attempts made (since the last redelivery).'),
    lastStatus: Opt(Type.Integer({ description: 'HTTP status of the last attempt, when the target answered.' })),
    lastError: Opt(Type.String({ description: 'Why the last attempt got no answer (refused, timed out, target not allowed).' })),
    lastDurationMs: Opt(Int32('How long the last attempt took.')),
    lastAttemptAt: Opt(DateTime()),
    nextAttemptAt: Opt(DateTime('While PENDING: when it is tried next.')),
    deliveredAt: Opt(DateTime()),
    createdAt: DateTime('When the event happened.'),
  },
  { title: 'WebhookDelivery' },
)
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>

export const WebhookDeliveryListingSchema = listing(WebhookDeliverySchema, 'WebhookDeliveryEntityListing')
export type WebhookDeliveryListing = Static<typeof WebhookDeliveryListingSchema>

export const WebhookPingResultSchema = Type.Object(
  { eventId: Type.String({ description: 'The ping event; its delivery is listed with the others.' }) },
  { title: 'WebhookPingResult' },
)
export type WebhookPingResult = Static<typeof WebhookPingResultSchema>

const WebhookId = Type.String({ minLength: 1, maxLength: 128, description: 'The webhook (a UUID).', examples: [EXAMPLE_WEBHOOK_ID] })

export const WebhookParams = Type.Object({ webhookId: WebhookId })
export const WebhookDeliveryParams = Type.Object({
  webhookId: WebhookId,
  eventId: Type.String({ minLength: 1, maxLength: 128, description: 'The event of the delivery (a UUID).', examples: [EXAMPLE_WEBHOOK_EVENT_ID] }),
})
