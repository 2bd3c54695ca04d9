import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConversationParams, RecordingParams } from '../schemas/common.js'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS } from '../schemas/error-body.js'
import { RecordingMetadataSchema } from '../schemas/recording.js'
import { sendBody } from './json-body.js'

/** `/api/v2/conversations/:conversationId/recordingmetadata`: recordings without media, transcripts or system annotations. */
export const recordingMetadataRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { recordings } = app.services
  const tags = ['Recording']

  app.get('', {
    schema: {
      operationId: 'getConversationRecordingmetadata',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get metadata of all recordings of a conversation',
      tags,
      params: ConversationParams,
      response: { 200: Type.Array(RecordingMetadataSchema), ...READ_ERRORS },
    },
  }, async (request, reply) => sendBody(reply, { json: await recordings.listMetadata(request.organizationId, request.params.conversationId) }))

  app.get('/:recordingId', {
    schema: {
      operationId: 'getConversationRecordingmetadataRecordingId',
      ...requireAny(REQUIRES.viewRecordings),
      summary: 'Get metadata of a recording',
      tags,
      params: RecordingParams,
      response: { 200: RecordingMetadataSchema, ...READ_ERRORS },
    },
  }, async (request, reply) => sendBody(reply, { json: await recordings.getMetadata({ organizationId: request.organizationId, ...request.params }) }))
}
