import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { CREATE_ERRORS, NoContent, READ_ERRORS, WRITE_ERRORS } from '../schemas/error-body.js'
import {
  CreatedWebhookSchema, WebhookDeliveryListingSchema, WebhookDeliveryParams, WebhookDeliveryQuery, WebhookDeliverySchema, WebhookInputSchema,
  WebhookListingSchema, WebhookListQuery, WebhookParams, WebhookPingResultSchema, WebhookSchema, WebhookSecretSchema,
} from '../schemas/webhooks.js'
import { WEBHOOKS_PATH } from '../services/webhook-service.js'
import { audit } from './audit.js'

const TARGET_RULE =
  'The url must be an absolute http(s) URL without credentials whose host resolves to public addresses only (private, ' +
  'loopback and link-local ones are refused with 400 unless the service runs with WEBHOOK_ALLOW_PRIVATE_TARGETS=true).'

/** `/api/v2/recording/webhooks`: subscriptions of the organization to change events, and their deliveries (extension). */
export const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { webhooks } = app.services
  const tags = ['Webhooks']
  const path = WEBHOOKS_PATH
  const one = `${path}/:webhookId`

  app.post(path, {
    schema: {
      operationId: 'postRecordingWebhooks',
      ...requireAny(REQUIRES.addWebhook),
      summary: 'Subscribe a webhook to change events (extension)',
      description:
        'Events of the organization named in events (or `*` for all) are POSTed to url, signed with the secret ' +
        '(Standard Webhooks). The answer is the only one that shows the secret; a new one can be made later ' +
        `(POST …/secret). enabled defaults to true. ${TARGET_RULE}`,
      tags,
      body: WebhookInputSchema,
      response: { 201: CreatedWebhookSchema, ...CREATE_ERRORS },
    },
  }, async (request, reply) => {
    const webhook = await webhooks.create(request.organizationId, request.body)
    audit(request, 'webhook.create', { webhookId: webhook.id })
    return reply.code(201).header('location', webhook.selfUri).send(webhook)
  })

  app.get(path, {
    schema: {
      operationId: 'getRecordingWebhooks',
      ...requireAny(REQUIRES.viewWebhooks),
      summary: 'List the webhooks of the organization (extension)',
      description: 'Oldest first, paged by pageSize and pageNumber. Secrets are never shown.',
      tags,
      querystring: WebhookListQuery,
      response: { 200: WebhookListingSchema, ...READ_ERRORS },
    },
  }, async (request) => webhooks.list(request.organizationId, request.query))

  app.get(one, {
    schema: {
      operationId: 'getRecordingWebhook',
      ...requireAny(REQUIRES.viewWebhooks),
      summary: 'Get a webhook (extension)',
      description: 'Its secret is never shown. disabledReason says why the service disabled it (the target answered 410 Gone).',
      tags,
      params: WebhookParams,
      response: { 200: WebhookSchema, ...READ_ERRORS },
    },
  }, async (request) => webhooks.get(request.organizationId, request.params.webhookId))

  app.put(one, {
    schema: {
      operationId: 'putRecordingWebhook',
      ...requireAny(REQUIRES.editWebhook),
      summary: 'Replace a webhook (extension)',
      description:
        'Replaces name, url, events and enabled (absent: true); other members of the body are ignored, so the Webhook ' +
        `as read can be sent back. Enabling it clears disabledReason. The secret stays. ${TARGET_RULE}`,
      tags,
      params: WebhookParams,
      body: WebhookInputSchema,
      response: { 200: WebhookSchema, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const webhook = await webhooks.replace(request.organizationId, request.params.webhookId, request.body)
    audit(request, 'webhook.update', { webhookId: webhook.id })
    return webhook
  })

  app.delete(one, {
    schema: {
      operationId: 'deleteRecordingWebhook',
      ...requireAny(REQUIRES.deleteWebhook),
      summary: 'Delete a webhook (extension)',
      description: 'Deletes the subscription with its deliveries; pending ones are not sent.',
      tags,
      params: WebhookParams,
      response: { 204: NoContent, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    await webhooks.remove(request.organizationId, request.params.webhookId)
    audit(request, 'webhook.delete', { webhookId: request.params.webhookId })
    return reply.code(204).send()
  })

  app.post(`${one}/secret`, {
    schema: {
      operationId: 'postRecordingWebhookSecret',
      ...requireAny(REQUIRES.editWebhook),
      summary: 'Make a new secret for a webhook (extension)',
      description: 'Answers the new secret, shown only here. The old one stops at once: deliveries from now on are signed with the new one.',
      tags,
      params: WebhookParams,
      response: { 200: WebhookSecretSchema, ...READ_ERRORS },
    },
  }, async (request) => {
    const secret = await webhooks.rotateSecret(request.organizationId, request.params.webhookId)
    audit(request, 'webhook.rotateSecret', { webhookId: request.params.webhookId })
    return secret
  })

  app.get(`${one}/deliveries`, {
    schema: {
      operationId: 'getRecordingWebhookDeliveries',
      ...requireAny(REQUIRES.viewWebhooks),
      summary: 'List the deliveries of a webhook (extension)',
      description:
        'One per event sent to this webhook, newest event first, paged by pageSize and pageNumber; state filters. A ' +
        'delivery is PENDING until the target answers 2xx (DELIVERED) or its retries are spent (FAILED); the last* ' +
        'members describe the last attempt.',
      tags,
      params: WebhookParams,
      querystring: WebhookDeliveryQuery,
      response: { 200: WebhookDeliveryListingSchema, ...READ_ERRORS },
    },
  }, async (request) => webhooks.deliveries(request.organizationId, request.params.webhookId, request.query))

  app.post(`${one}/deliveries/:eventId/redeliver`, {
    schema: {
      operationId: 'postRecordingWebhookDeliveryRedeliver',
      ...requireAny(REQUIRES.editWebhook),
      summary: 'Send a delivery again (extension)',
      description:
        'Whatever its state, the delivery becomes PENDING with its attempts counted from 0, and is sent in the background ' +
        'after the earlier pending events of its recording. Answers the delivery as it now is.',
      tags,
      params: WebhookDeliveryParams,
      response: { 202: WebhookDeliverySchema, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    const { webhookId, eventId } = request.params
    const delivery = await webhooks.redeliver(request.organizationId, webhookId, eventId)
    audit(request, 'webhook.redeliver', { webhookId, eventId })
    return reply.code(202).send(delivery)
  })

  app.post(`${one}/ping`, {
    schema: {
      operationId: 'postRecordingWebhookPing',
      ...requireAny(REQUIRES.editWebhook),
      summary: 'Send a test event to a webhook (extension)',
      description:
        'Writes a webhook.ping event ({webhookId, name, url}) for this webhook alone, whatever its events, and sends it ' +
        'in the background like any other; its delivery is listed under …/deliveries. A disabled webhook is sent ' +
        'nothing: the delivery fails.',
      tags,
      params: WebhookParams,
      response: { 202: WebhookPingResultSchema, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    const result = await webhooks.ping(request.organizationId, request.params.webhookId)
    audit(request, 'webhook.ping', { webhookId: request.params.webhookId, eventId: result.eventId })
    return reply.code(202).send(result)
  })
}
