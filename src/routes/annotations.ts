import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { EXAMPLE_IDS, RecordingParams } from '../schemas/common.js'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { READ_ERRORS, WRITE_ERRORS, NoContent } from '../schemas/error-body.js'
import { IfMatchHeaders, IfNoneMatchHeaders, NotModified, PRECONDITION_ERRORS, withETag } from '../schemas/conditional.js'
import { parseIfMatch } from '../services/etag.js'
import { heldClaim } from '../plugins/idempotency.js'
import { audit } from './audit.js'
import { JSON_TEXT, sendBody } from './json-body.js'
import { AnnotationInputSchema, AnnotationSchema, type Annotation } from '../schemas/recording.js'

const AnnotationParams = Type.Object({
  ...RecordingParams.properties,
  annotationId: Type.String({ minLength: 1, maxLength: 128, examples: [EXAMPLE_IDS.annotationId] }),
})

/** A response schema's serializer answers text; Fastify's type also allows the buffers a custom one could answer. */
function serialized(payload: string | ArrayBuffer | Buffer): string {
  if (typeof payload !== 'string') throw new TypeError('the annotation serializer answered no text')
  return payload
}

/** `/api/v2/conversations/:conversationId/recordings/:recordingId/annotations` (Genesys RecordingApi). */
export const annotationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { annotations } = app.services
  const tags = ['Annotation']
  // Genesys: creating through the upsert needs recording:annotation:add, changing an existing one :edit.
  const grants = (request: { client: { permissions: string[] } | null }) => ({
    create: request.client?.permissions.includes('recording:annotation:add') ?? false,
    update: request.client?.permissions.includes('recording:annotation:edit') ?? false,
  })
  const keyOf = (request: { organizationId: string; params: { conversationId: string; recordingId: string } }) => ({
    organizationId: request.organizationId,
    conversationId: request.params.conversationId,
    recordingId: request.params.recordingId,
  })

  app.get('', {
    schema: {
      operationId: 'getConversationRecordingAnnotations',
      ...requireAny(REQUIRES.viewAnnotations),
      summary: 'Get the annotations of a recording',
      tags,
      params: RecordingParams,
      response: { 200: Type.Array(AnnotationSchema), ...READ_ERRORS },
    },
  }, async (request) => annotations.list(keyOf(request)))

  app.post('', {
    schema: {
      operationId: 'postConversationRecordingAnnotations',
      ...requireAny(REQUIRES.saveAnnotation),
      summary: 'Create an annotation',
      description:
        'Reads name, type, location, durationMs and description; every other property is ignored. As on Genesys, an ' +
        '`id` of an existing annotation of this recording makes this an update. Answers 200 (Genesys) either way.',
      tags,
      params: RecordingParams,
      headers: IfMatchHeaders,
      body: AnnotationInputSchema,
      response: { 200: withETag(AnnotationSchema), ...WRITE_ERRORS, ...PRECONDITION_ERRORS },
    },
    config: { idempotent: true },
  }, async (request, reply) => {
    const ifMatch = parseIfMatch(request.headers['if-match'])
    const key = heldClaim(request)
    // With a key, the text stored for replays is the one sent: the route's own serializer makes it, before the commit.
    const answer = key && { key, statusCode: 200, contentType: JSON_TEXT, serialize: (value: Annotation) => serialized(reply.serialize(value)) }
    const { annotation, created, etag, json } = await annotations.upsert(keyOf(request), request.body.id, request.body, grants(request), ifMatch, answer)
    audit(request, created ? 'annotation.create' : 'annotation.update', { ...request.params, annotationId: annotation.id })
    return sendBody(reply.code(200).header('etag', etag), json === undefined ? { value: annotation } : { json })
  })

  app.get('/:annotationId', {
    schema: {
      operationId: 'getConversationRecordingAnnotation',
      ...requireAny(REQUIRES.viewAnnotations),
      summary: 'Get an annotation',
      tags,
      params: AnnotationParams,
      headers: IfNoneMatchHeaders,
      response: { 200: withETag(AnnotationSchema), 304: NotModified, ...READ_ERRORS },
    },
  }, async (request, reply) => {
    const { annotation, etag } = await annotations.get(keyOf(request), request.params.annotationId)
    return reply.header('etag', etag).send(annotation)
  })

  app.put('/:annotationId', {
    schema: {
      operationId: 'putConversationRecordingAnnotation',
      ...requireAny(REQUIRES.saveAnnotation),
      summary: 'Update an annotation',
      description:
        'Replaces name, type, location, durationMs and description (absent ones are cleared); the id in the path wins ' +
        'over one in the body. An unknown id (a UUID) creates the annotation, as on Genesys. System annotations ' +
        '(with a reason) are read-only.',
      tags,
      params: AnnotationParams,
      headers: IfMatchHeaders,
      body: AnnotationInputSchema,
      response: { 200: withETag(AnnotationSchema), ...WRITE_ERRORS, ...PRECONDITION_ERRORS },
    },
  }, async (request, reply) => {
    const ifMatch = parseIfMatch(request.headers['if-match'])
    const { annotation, created, etag } = await annotations.upsert(keyOf(request), request.params.annotationId, request.body, grants(request), ifMatch)
    audit(request, created ? 'annotation.create' : 'annotation.update', request.params)
    return reply.header('etag', etag).send(annotation)
  })

  app.delete('/:annotationId', {
    schema: {
      operationId: 'deleteConversationRecordingAnnotation',
      ...requireAny(REQUIRES.deleteAnnotation),
      summary: 'Delete an annotation',
      description: 'System annotations (with a reason) cannot be deleted.',
      tags,
      params: AnnotationParams,
      headers: IfMatchHeaders,
      response: { 204: NoContent, ...READ_ERRORS, ...PRECONDITION_ERRORS },
    },
  }, async (request, reply) => {
    await annotations.remove(keyOf(request), request.params.annotationId, parseIfMatch(request.headers['if-match']))
    audit(request, 'annotation.delete', request.params)
    return reply.code(204).send()
  })
}
