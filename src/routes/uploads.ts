import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import { Readable } from 'node:stream'
import { REQUIRES, requireAny } from '../auth/permissions.js'
import { NotFoundError } from '../errors.js'
import { errorResponses } from '../schemas/error-body.js'
import { audit } from './audit.js'

const TUS_TYPE = 'application/offset+octet-stream'

const header = (description: string) => Type.Optional(Type.String({ description }))
const TUS_RESUMABLE = { 'Tus-Resumable': header('The protocol version: 1.0.0. Required (else 412).') }

/** A body-less answer and the headers it carries. */
const answer = (description: string, headers: Record<string, string>) => ({
  type: 'null',
  description,
  headers: Object.fromEntries(Object.entries({ 'Tus-Resumable': 'The protocol version: 1.0.0.', ...headers }).map(([name, text]) => [name, { type: 'string', description: text }])),
})

const UploadParams = Type.Object({
  uploadId: Type.String({ description: 'The upload, as the last segment of the Location its creation answered.', examples: ['00000000-0000-4000-8000-000000000000-0196f0a8-0000-4000-8000-000000000001'] }),
})

/** Every tus request may meet these: its headers, the token, the rate limit, the database, tus's version (412). */
const ERRORS = errorResponses(400, 401, 403, 412, 429, 500, 503)

/** Only the headers that say something about the upload: CORS is the app's, framing is Fastify's. */
const passed = (name: string) => !/^(access-control-|content-type$|content-length$|connection$)/.test(name)

/**
 * tus 1.0 resumable uploads of a recording's media (`UploadService`). Authentication and permission are the API's
 * hooks'; the body of a PATCH reaches tus unread (a parser of this scope hands the stream through), and tus's answer is
 * sent through Fastify, so it carries the API's headers, and its errors the API's error body.
 */
export const uploadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { uploads } = app.services

  app.addContentTypeParser(TUS_TYPE, (_request, payload, done) => {
    done(null, payload)
  })
  // The body is a stream, not a value: only its documentation is a schema. Params are checked as usual.
  const checked = app.validatorCompiler as FastifySchemaCompiler<unknown> | undefined
  const validatorCompiler: FastifySchemaCompiler<unknown> = (route) => (route.httpPart === 'body' || !checked ? () => true : checked(route))

  async function tus(request: FastifyRequest, reply: FastifyReply) {
    const { uploadId } = request.params as { uploadId?: string }
    // Another organization's upload is answered as one that does not exist.
    if (uploadId !== undefined && !uploads.owns(request.organizationId, uploadId)) throw new NotFoundError('Upload', uploadId)
    const body = request.body instanceof Readable ? (Readable.toWeb(request.body) as ReadableStream) : undefined
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) {
      for (const one of [value ?? []].flat()) headers.append(name, one)
    }
    // The path alone: tus reads the upload id from its last segment, and answers Locations relative to the path.
    const url = `http://localhost${request.url.split('?')[0] ?? ''}`
    const { response, error, stored } = await uploads.handle(
      new Request(url, { method: request.method, headers, body, ...(body ? { duplex: 'half' } : {}) } as RequestInit),
      request.organizationId,
    )
    for (const [name, value] of response.headers) if (passed(name)) reply.header(name, value)
    if (error) throw error
    if (response.status === 404 && uploadId !== undefined) throw new NotFoundError('Upload', uploadId)
    if (response.status >= 400) {
      const message = (await response.text()).trim() || 'The upload request was refused'
      throw Object.assign(new Error(message), { statusCode: response.status })
    }
    if (stored) {
      const { conversationId, recordingId } = stored.key
      audit(request, 'recording.uploadMedia', { conversationId, recordingId, uploadId, sizeInBytes: String(stored.sizeInBytes), sha256: stored.sha256.toString('hex') })
    }
    return reply.code(response.status).send()
  }

  const route = (method: 'POST' | 'HEAD' | 'PATCH' | 'DELETE' | 'OPTIONS', url: string, schema: Record<string, unknown> & { response: Record<number, unknown> }) =>
    app.route({
      // As a list: @fastify/swagger leaves out a route whose method is the string HEAD, or renames its operationId.
      method: [method],
      url,
      // A PATCH (or a POST with its first bytes) is media as large as MEDIA_MAX_BYTES: its time limit bounds each pause.
      config: { streamsBody: method === 'PATCH' || method === 'POST' },
      validatorCompiler,
      schema: { ...requireAny(REQUIRES.addRecording), tags: ['Recording'], ...(url ? { params: UploadParams } : {}), ...schema, response: { ...schema.response, ...ERRORS } },
      handler: tus,
    })

  route('POST', '', {
    operationId: 'postRecordingUpload',
    summary: 'Create a resumable upload of the media of a recording (tus 1.0 creation) (extension)',
    description:
      'tus 1.0 creation: `Upload-Metadata` names the recording (`conversationId`, `recordingId`, base64 as tus requires) ' +
      'and its media type (`filetype`, or `contentType`: an audio/*, video/* or image/* type, or application/zip), ' +
      'optionally a `contentDigest` (RFC 9530 `sha-256=:…:`) of the whole file. The recording must be waiting for its ' +
      'media (fileState UPLOADING; else 409). `Upload-Length` is at most MEDIA_MAX_BYTES (else 413). Answers 201 with ' +
      'the upload URL in `Location` and `Upload-Expires`: an unfinished upload is removed UPLOAD_EXPIRY_HOURS after its creation. ' +
      'With a body of type application/offset+octet-stream, its bytes are the first of the upload (creation-with-upload).',
    headers: Type.Object({
      ...TUS_RESUMABLE,
      'Upload-Length': header('Size of the whole file in bytes.'),
      'Upload-Defer-Length': header('1 when the size is not known yet (then a later PATCH sends Upload-Length).'),
      'Upload-Metadata': header('Comma-separated `key base64(value)` pairs: conversationId, recordingId, filetype, contentDigest (optional).'),
    }),
    response: {
      201: answer('Created: the upload URL is in Location.', { Location: 'The upload URL.', 'Upload-Expires': 'When the unfinished upload is removed.' }),
      ...errorResponses(404, 409, 413, 415),
    },
  })

  route('HEAD', '/:uploadId', {
    operationId: 'headRecordingUpload',
    summary: 'Read the offset of a resumable upload (tus 1.0 core) (extension)',
    description: 'How many bytes the upload holds (`Upload-Offset`): a client resumes by sending the rest from there. 404 for an upload that is not there (completed, terminated, expired, or another organization\'s).',
    headers: Type.Object(TUS_RESUMABLE),
    response: {
      200: answer('The offset; no body.', { 'Upload-Offset': 'Bytes received so far.', 'Upload-Length': 'Size of the whole file.', 'Upload-Metadata': 'As given at creation.' }),
      ...errorResponses(404, 410),
    },
  })

  route('PATCH', '/:uploadId', {
    operationId: 'patchRecordingUpload',
    summary: 'Send bytes of a resumable upload from its offset (tus 1.0 core) (extension)',
    description:
      'The body (application/offset+octet-stream) continues the upload at `Upload-Offset`, which must be the offset the ' +
      'upload holds (else 409). An interrupted PATCH keeps the bytes that arrived; HEAD tells where to resume. The PATCH ' +
      'that completes the upload stores the media as PUT …/media does (type sniffed, digest checked, duration probed) and ' +
      'answers 204 with `X-Recording-File-State: AVAILABLE`; media that fails those checks is refused (415, 400) and the upload removed.',
    headers: Type.Object({ ...TUS_RESUMABLE, 'Upload-Offset': header('Offset these bytes start at.') }),
    consumes: [TUS_TYPE],
    body: Type.Unsafe<Readable>({ type: 'string', format: 'binary', description: 'The next bytes of the file.' }),
    response: {
      204: answer('Bytes received; no body.', {
        'Upload-Offset': 'Bytes received so far.',
        'Upload-Expires': 'When the unfinished upload is removed.',
        'X-Recording-File-State': 'AVAILABLE on the PATCH that completed the upload and stored the media.',
      }),
      ...errorResponses(404, 409, 410, 413, 415),
    },
  })

  route('DELETE', '/:uploadId', {
    operationId: 'deleteRecordingUpload',
    summary: 'Terminate a resumable upload, removing its bytes (tus 1.0 termination) (extension)',
    headers: Type.Object(TUS_RESUMABLE),
    response: { 204: answer('Terminated; no body.', {}), ...errorResponses(404) },
  })

  const options = (url: string, operationId: string) =>
    route('OPTIONS', url, {
      operationId,
      summary: 'The tus 1.0 version, extensions and maximum size this server supports (extension)',
      response: {
        204: answer('No body.', { 'Tus-Version': '1.0.0', 'Tus-Extension': 'The extensions supported.', 'Tus-Max-Size': 'MEDIA_MAX_BYTES.' }),
        ...(url ? errorResponses(404) : {}),
      },
    })
  options('', 'optionsRecordingUploads')
  options('/:uploadId', 'optionsRecordingUpload')
}
