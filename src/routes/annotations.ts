import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { RecordingParams } from '../schemas/common.js'
import { errorResponses } from '../schemas/error-body.js'
import { AnnotationInputSchema, AnnotationSchema } from '../schemas/recording.js'

const AnnotationParams = Type.Object({ ...RecordingParams.properties, annotationId: Type.String({ minLength: 1, maxLength: 128 }) })

/** `/api/v2/conversations/:conversationId/recordings/:recordingId/annotations` (Genesys RecordingApi). */
export const annotationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { annotations } = app.services
  const tags = ['Annotation']
  const keyOf = (request: { organizationId: string; params: { conversationId: string; recordingId: string } }) => ({
    organizationId: request.organizationId,
    conversationId: request.params.conversationId,
    recordingId: request.params.recordingId,
  })

  app.get('', {
    schema: {
      operationId: 'getConversationRecordingAnnotations',
      summary: 'Get the annotations of a recording',
      tags,
      params: RecordingParams,
      response: { 200: Type.Array(AnnotationSchema), ...errorResponses(400, 404, 500) },
    },
  }, async (request) => annotations.list(keyOf(request)))

  app.post('', {
    schema: {
      operationId: 'postConversationRecordingAnnotations',
      summary: 'Create an annotation',
      description:
        'Reads name, type, location, durationMs and description; every other property is ignored. As on Genesys, an ' +
        '`id` of an existing annotation of this recording makes this an update. Answers 200 (Genesys) either way.',
      tags,
      params: RecordingParams,
      body: AnnotationInputSchema,
      response: { 200: AnnotationSchema, ...errorResponses(400, 404, 413, 415, 500) },
    },
  }, async (request) => {
    const { annotation, created } = await annotations.upsert(keyOf(request), request.body.id, request.body)
    request.log.info({ recordingId: request.params.recordingId, annotationId: annotation.id, created }, 'annotation saved')
    return annotation
  })

  app.get('/:annotationId', {
    schema: {
      operationId: 'getConversationRecordingAnnotation',
      summary: 'Get an annotation',
      tags,
      params: AnnotationParams,
      response: { 200: AnnotationSchema, ...errorResponses(400, 404, 500) },
    },
  }, async (request) => annotations.get(keyOf(request), request.params.annotationId))

  app.put('/:annotationId', {
    schema: {
      operationId: 'putConversationRecordingAnnotation',
      summary: 'Update an annotation',
      description:
        'Replaces name, type, location, durationMs and description (absent ones are cleared); the id in the path wins ' +
        'over one in the body. An unknown id (a UUID) creates the annotation, as on Genesys. System annotations ' +
        '(with a reason) are read-only.',
      tags,
      params: AnnotationParams,
      body: AnnotationInputSchema,
      response: { 200: AnnotationSchema, ...errorResponses(400, 404, 413, 415, 500) },
    },
  }, async (request) => {
    const { annotation, created } = await annotations.upsert(keyOf(request), request.params.annotationId, request.body)
    request.log.info({ recordingId: request.params.recordingId, annotationId: annotation.id, created }, 'annotation saved')
    return annotation
  })

  app.delete('/:annotationId', {
    schema: {
      operationId: 'deleteConversationRecordingAnnotation',
      summary: 'Delete an annotation',
      description: 'System annotations (with a reason) cannot be deleted.',
      tags,
      params: AnnotationParams,
      response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses(400, 404, 500) },
    },
  }, async (request, reply) => {
    await annotations.remove(keyOf(request), request.params.annotationId)
    request.log.info({ recordingId: request.params.recordingId, annotationId: request.params.annotationId }, 'annotation deleted')
    return reply.code(204).send()
  })
}
