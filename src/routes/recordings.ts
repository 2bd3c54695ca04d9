import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ConversationParams, RecordingParams } from '../schemas/common.js'
import { READ_ERRORS, WRITE_ERRORS, CREATE_ERRORS, NoContent, errorResponses } from '../schemas/error-body.js'
import { IfMatchHeaders, IfNoneMatchHeaders, NotModified, PRECONDITION_ERRORS, withETag } from '../schemas/conditional.js'
import { parseIfMatch } from '../services/etag.js'
import { heldClaim } from '../plugins/idempotency.js'
import {
  CreateRecordingSchema, GetRecordingQuery, ListRecordingsQuery, RecordingListSchema, RecordingSchema, UpdateRecordingQuery,
  UpdateRecordingSchema,
} from '../schemas/recording.js'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { audit } from './audit.js'
import { splitCommaJoined } from './query.js'
import { JSON_TEXT, sendBody } from './json-body.js'

/** `/api/v2/conversations/:conversationId/recordings`: the Genesys routes plus our ingest and delete. */
export const recordingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { recordings } = app.services
  const tags = ['Recording']
  // The Genesys SDK sends array options comma-joined (`mediaFormats=WAV,MP3`); other clients repeat the key.
  app.addHook('preValidation', splitCommaJoined(['mediaFormats']))

  app.post('', {
    schema: {
      operationId: 'postConversationRecording',
      ...requireAny(REQUIRES.addRecording),
      summary: 'Ingest a recording (extension: Genesys has no create)',
      description:
        'Stores a recording with its transcript, annotations, users and media links in one transaction. Accepts the ' +
        'producer-owned Recording fields plus archiveDate, deleteDate, annotations and media stored elsewhere ' +
        '(mediaUris, path, transcode and output figures). Unknown properties are refused, and so are retention dates in ' +
        'the past and media links that are not absolute http(s) URLs.',
      tags,
      params: ConversationParams,
      body: CreateRecordingSchema,
      response: { 201: withETag(RecordingSchema), ...CREATE_ERRORS },
    },
    config: { idempotent: true },
  }, async (request, reply) => {
    const { conversationId } = request.params
    const key = heldClaim(request)
    const answer = key && { key, statusCode: 201, contentType: JSON_TEXT }
    const { id, selfUri, json, etag } = await recordings.create(request.organizationId, conversationId, request.body, answer)
    audit(request, 'recording.create', { conversationId, recordingId: id })
    return sendBody(reply.code(201).header('location', selfUri).header('etag', etag), { json })
  })

  app.get('', {
    schema: {
      operationId: 'getConversationRecordings',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get all recordings of a conversation',
      description:
        'Bare array, oldest first, with stored media in the wanted format (formatId, default WEBM, or mediaFormats). ' +
        'Renditions not made yet are made in the background and waited for up to maxWaitMs (at most 10 s); 202 when ' +
        'some are still being made then (those recordings have no mediaUris yet: ask again). A conversation without ' +
        'recordings is unknown: 404.',
      tags,
      params: ConversationParams,
      querystring: ListRecordingsQuery,
      response: { 200: RecordingListSchema, 202: RecordingListSchema, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    const { body, ready } = await recordings.listByConversation(request.organizationId, request.params.conversationId, request.query)
    return sendBody(reply.code(ready ? 200 : 202), body)
  })

  app.get('/:recordingId', {
    schema: {
      operationId: 'getConversationRecording',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get a recording',
      description:
        '200 when the media is ready in the wanted format (formatId, default WEBM; or any of mediaFormats; ' +
        'download=true: as stored) or not applicable. 202 with the metadata, no mediaUris and an ' +
        'estimatedTranscodeTimeMs while it is uploading or being made into that format (made from the stored original ' +
        'in the background, then kept): ask again. Media that cannot be made into it answers 200 without mediaUris and ' +
        'with recordingErrorStatus TRANSCODING_FAILED.',
      tags,
      params: RecordingParams,
      querystring: GetRecordingQuery,
      headers: IfNoneMatchHeaders,
      response: { 200: withETag(RecordingSchema), 202: withETag(RecordingSchema), 304: NotModified, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    const { body, ready, etag } = await recordings.get({ organizationId: request.organizationId, ...request.params }, request.query)
    return sendBody(reply.code(ready ? 200 : 202).header('etag', etag), body)
  })

  app.put('/:recordingId', {
    schema: {
      operationId: 'putConversationRecording',
      ...requireAny(REQUIRES.updateRetention),
      summary: 'Update the retention of a recording',
      description:
        'Accepts a whole Recording, as read from GET. Only archiveDate and deleteDate are applied (absent or null ' +
        'clears one); every other property is ignored. A later archiveDate on an ARCHIVED recording restores it until ' +
        'then (RESTORING, then RESTORED), taking one of the organization\'s restorations. clearExport=true cancels a ' +
        'pending export.',
      tags,
      params: RecordingParams,
      querystring: UpdateRecordingQuery,
      headers: IfMatchHeaders,
      body: UpdateRecordingSchema,
      // 409: the conversation is under deletion protection and the deleteDate would come earlier, or a restore when the
      // organization has no restorations left.
      response: { 200: withETag(RecordingSchema), ...WRITE_ERRORS, ...PRECONDITION_ERRORS, ...errorResponses(409) },
    },
  }, async (request, reply) => {
    const { json, etag, archiveDate, deleteDate } = await recordings.updateRetention(
      { organizationId: request.organizationId, ...request.params },
      request.body ?? {},
      {
        clearExport: request.query.clearExport,
        ifMatch: parseIfMatch(request.headers['if-match']),
        canEditRetention: REQUIRES.editRetention.some((permission) => request.client?.permissions.includes(permission)),
      },
    )
    audit(request, 'recording.updateRetention', { ...request.params, archiveDate: archiveDate?.toISOString(), deleteDate: deleteDate?.toISOString() })
    return sendBody(reply.header('etag', etag), { json })
  })

  app.delete('/:recordingId', {
    schema: {
      operationId: 'deleteConversationRecording',
      ...requireAny(REQUIRES.deleteRecording),
      summary: 'Delete a recording (extension)',
      description: 'Removes the recording with its annotations, transcript, media links and users; 409 while its conversation is under deletion protection.',
      tags,
      params: RecordingParams,
      headers: IfMatchHeaders,
      // 409: the conversation is under deletion protection.
      response: { 204: NoContent, ...READ_ERRORS, ...PRECONDITION_ERRORS, ...errorResponses(409) },
    },
  }, async (request, reply) => {
    await recordings.remove({ organizationId: request.organizationId, ...request.params }, parseIfMatch(request.headers['if-match']))
    audit(request, 'recording.delete', request.params)
    return reply.code(204).send()
  })
}
