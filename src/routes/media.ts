import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifySchemaCompiler } from 'fastify'
import { Readable } from 'node:stream'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { RecordingParams } from '../schemas/common.js'
import { withETag } from '../schemas/conditional.js'
import { errorResponses } from '../schemas/error-body.js'
import { RecordingSchema } from '../schemas/recording.js'
import { UnsupportedMediaTypeError } from '../errors.js'
import { MediaTooLargeError } from '../storage/media-storage.js'
import { audit } from './audit.js'
import { sendBody } from './json-body.js'

/** The types documented for the body; any audio/*, video/*, image/* type and application/zip is taken. */
const DOCUMENTED_TYPES = ['audio/wav', 'audio/mpeg', 'audio/ogg', 'audio/webm', 'audio/mp4', 'video/webm', 'video/mp4', 'image/png', 'application/zip']

const UploadHeaders = Type.Object({
  'content-digest': Type.Optional(
    Type.String({ description: 'RFC 9530 digest of the body, e.g. `sha-256=:<base64>:`. When it names sha-256, the bytes must match it (else 400, nothing kept).' }),
  ),
})

/**
 * `PUT …/recordings/:recordingId/media`: the media bytes of a recording, streamed to storage as they arrive. Its body
 * parser (this scope only) hands the request stream through unread; the size cap is the service's, checked while the
 * bytes flow, and up front against Content-Length.
 */
export const mediaRoutes: FastifyPluginAsyncTypebox<{ maxBytes: number }> = async (app, { maxBytes }) => {
  const { media } = app.services

  app.addContentTypeParser(/^(audio|video|image)\/|^application\/zip(;|$)/i, (request, payload, done) => {
    const length = Number(request.headers['content-length'])
    if (Number.isFinite(length) && length > maxBytes) {
      done(new MediaTooLargeError(maxBytes), undefined)
      return
    }
    done(null, payload)
  })

  // The body is a stream, not a value: only its documentation is a schema. Params and headers are checked as usual.
  const checked = app.validatorCompiler as FastifySchemaCompiler<unknown> | undefined
  const validatorCompiler: FastifySchemaCompiler<unknown> = (route) =>
    route.httpPart === 'body' || !checked ? () => true : checked(route)

  app.put('', {
    bodyLimit: maxBytes,
    config: { streamsBody: true },
    validatorCompiler,
    schema: {
      operationId: 'putConversationRecordingMedia',
      ...requireAny(REQUIRES.addRecording),
      summary: 'Upload the media of a recording (extension)',
      description:
        'The body is the media itself (an audio/*, video/* or image/* type, or application/zip), streamed to storage. ' +
        'The recording must still be waiting for its media (fileState UPLOADING); stored media is immutable, so a second ' +
        'upload is refused with 409. The bytes must be what Content-Type says (sniffed from their first bytes, else 415) ' +
        'and at most MEDIA_MAX_BYTES (else 413); a Content-Digest sha-256 must match (else 400). Answers the recording, ' +
        'now AVAILABLE with outputSizeInBytes and, when the format states it, outputDurationMs. Whatever is refused keeps nothing.',
      tags: ['Recording'],
      params: RecordingParams,
      headers: UploadHeaders,
      consumes: DOCUMENTED_TYPES,
      body: Type.Unsafe<Readable>({ type: 'string', format: 'binary', description: 'The media bytes.' }),
      response: { 200: withETag(RecordingSchema), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 500, 503) },
    },
  }, async (request, reply) => {
    const body: unknown = request.body
    if (!(body instanceof Readable)) {
      throw new UnsupportedMediaTypeError('Content-Type must name the media: an audio/*, video/* or image/* type, or application/zip')
    }
    const { json, etag, sizeInBytes, sha256 } = await media.upload(
      { organizationId: request.organizationId, ...request.params },
      { contentType: request.headers['content-type'], contentDigest: request.headers['content-digest'], body },
    )
    audit(request, 'recording.uploadMedia', { ...request.params, sizeInBytes: String(sizeInBytes), sha256: sha256.toString('hex') })
    return sendBody(reply.header('etag', etag), { json })
  })
}
