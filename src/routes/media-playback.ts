import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DomainError, NotFoundError } from '../errors.js'
import { DEFAULT_ORGANIZATION_ID } from '../services/organizations.js'
import { EXAMPLE_IDS } from '../schemas/common.js'
import { errorResponses } from '../schemas/error-body.js'
import { MEDIA_URL_PATH, STORED_RENDITION, renditionOfSegment } from '../services/media-urls.js'

class MediaUrlRefusedError extends DomainError {
  constructor(reason: 'invalid' | 'expired') {
    super(
      403,
      reason === 'expired' ? 'media.url.expired' : 'media.url.invalid',
      reason === 'expired'
        ? 'This media URL has expired; read the recording again for a fresh one'
        : 'This media URL is not valid (altered, or not signed by this service); read the recording for a valid one',
    )
  }
}

class RangeNotSatisfiableError extends DomainError {
  constructor(size: number) {
    super(416, 'range.not.satisfiable', `The requested range is outside the ${size} bytes of the media`)
  }
}

/** Nothing may be loaded but the media itself (as audio/video or image), and nothing may frame it. */
export const MEDIA_DOCUMENT_POLICY = "default-src 'none'; media-src 'self'; img-src 'self'; frame-ancestors 'none'"

/** The part of the media a Range field asks for: all of it, one satisfiable range, or nothing satisfiable. */
type Wanted = { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' }

/**
 * RFC 9110 §14: one `bytes` range (`a-b`, `a-`, `-n`) is served; several ranges, other units and malformed fields are
 * ignored (the whole media, as the RFC allows). A range that starts past the end, or an empty suffix, is unsatisfiable.
 */
export function wantedRange(field: string | undefined, size: number): Wanted {
  if (field === undefined) return { kind: 'whole' }
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(field)
  if (!match) return { kind: 'whole' }
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return { kind: 'whole' }
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'part', start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (last !== '' && Number(last) < start) return { kind: 'whole' }
  if (start >= size) return { kind: 'unsatisfiable' }
  return { kind: 'part', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) }
}

/** `attachment` with the name both as a plain quoted ASCII fallback and RFC 8187-encoded (RFC 6266 §4.3). */
export function attachment(fileName: string | undefined): string {
  if (!fileName) return 'attachment'
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%/]/g, '_')
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`
}

const Params = Type.Object({
  organizationId: Type.String({ minLength: 1, maxLength: 128, description: 'The organization of the recording.', examples: [DEFAULT_ORGANIZATION_ID] }),
  recordingId: Type.String({ minLength: 1, maxLength: 128, description: 'The recording.', examples: [EXAMPLE_IDS.recordingId] }),
  rendition: Type.String({ minLength: 1, maxLength: 64, description: `The rendition (\`${STORED_RENDITION}\`: the stored original; a format such as \`MP3\`: made from it), with the extension of its format as issued.`, examples: [`${STORED_RENDITION}.wav`] }),
})

const Query = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 20, description: 'Expiry of the URL, in seconds since the epoch (signed).', examples: ['1893456000'] })),
  signature: Type.Optional(Type.String({ maxLength: 128, description: 'HMAC signature of the URL; the credential.', examples: ['as-issued-in-mediaUris'] })),
  download: Type.Optional(Type.Boolean({ description: 'true: answer with Content-Disposition: attachment.' })),
  fileName: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'File name for Content-Disposition: attachment.' })),
})

const Headers = Type.Object({
  range: Type.Optional(Type.String({ description: 'One byte range (RFC 9110 §14.2): `bytes=a-b`, `bytes=a-` or `bytes=-n`.' })),
  'if-range': Type.Optional(Type.String({ description: 'The ETag the client holds: the range is served only while it still matches.' })),
})

const Bytes = Type.Unsafe<Readable | undefined>({ type: 'string', format: 'binary', description: 'The media bytes, or the requested range of them.' })

/**
 * `GET|HEAD /media/:organizationId/:recordingId/:rendition?expires=…&signature=…`: stored media for players on
 * any origin. Public: the signature is the credential, bound to organization, recording, rendition and expiry. The
 * request log shows the URL without its signature (route config `redactSignature`).
 */
export const mediaPlaybackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { media, mediaUrls } = app.services

  const options = (method: 'GET' | 'HEAD') => ({
    config: { redactSignature: true },
    // Made for <audio>/<video> tags on other origins, errors included. Opened directly, a browser shows the media in
    // a document of its own that loads this very URL: the API's `default-src 'none'` would block that load.
    onRequest: async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cross-origin-resource-policy', 'cross-origin')
      reply.header('content-security-policy', MEDIA_DOCUMENT_POLICY)
    },
    schema: {
      operationId: method === 'GET' ? 'getMedia' : 'headMedia',
      summary: method === 'GET' ? 'Play or download stored media through a signed URL (extension)' : 'Headers of stored media through a signed URL (extension)',
      description:
        'The URL comes from the `mediaUris` of a recording with stored media and works without a bearer token until it ' +
        'expires: its signature binds organization, recording, rendition and expiry, and any change to them answers 403. ' +
        'Single byte ranges are served (206, `Content-Range`; 416 when unsatisfiable), `If-Range` against the strong ETag; ' +
        'several ranges answer the whole media. `download=true` or `fileName` make it an attachment. HEAD answers the ' +
        'headers of GET without the bytes.',
      tags: ['Recording'],
      params: Params,
      querystring: Query,
      headers: Headers,
      produces: ['application/octet-stream'],
      response: {
        200: Bytes,
        206: Bytes,
        ...errorResponses(400, 403, 404, 416, 500, 503),
      },
    },
  })

  app.get(MEDIA_URL_PATH, { ...options('GET'), exposeHeadRoute: false }, (request, reply) => serve(request, reply))
  app.head(MEDIA_URL_PATH, options('HEAD'), (request, reply) => serve(request, reply))

  interface MediaRequest {
    method: string
    params: Static<typeof Params>
    query: Static<typeof Query>
    headers: Static<typeof Headers>
  }

  async function serve(request: MediaRequest, reply: FastifyReply) {
    const { organizationId, recordingId, rendition } = request.params
    const { expires, signature, download, fileName } = request.query
    const verdict = mediaUrls.verify({ organizationId, recordingId, rendition, expires, signature })
    if (!verdict.ok) throw new MediaUrlRefusedError(verdict.reason)
    const name = renditionOfSegment(rendition)
    const stored = name ? await media.stored(organizationId, recordingId, name) : undefined
    if (!stored) throw new NotFoundError('Media', `${recordingId}/${rendition}`)

    // Stored bytes never change: an original is named by its digest, a rendition by its key (one per rendition made).
    const etag = `"${stored.sha256 ? stored.sha256.toString('base64url') : stored.storageKey.split('/').pop()}"`
    const ifRange = request.headers['if-range']
    // A strong comparison: a weak or other validator, or a date (no Last-Modified is sent), never matches.
    const rangeApplies = ifRange === undefined || ifRange.trim() === etag
    const wanted = rangeApplies ? wantedRange(request.headers.range, stored.size) : { kind: 'whole' as const }
    reply.header('accept-ranges', 'bytes')
    if (wanted.kind === 'unsatisfiable') {
      reply.header('content-range', `bytes */${stored.size}`)
      throw new RangeNotSatisfiableError(stored.size)
    }
    const remaining = Math.max(0, Math.floor((verdict.expiresAt.getTime() - Date.now()) / 1000))
    reply
      .header('content-type', stored.contentType)
      .header('etag', etag)
      .header('cache-control', `private, max-age=${remaining}`)
    if (download === true || fileName !== undefined) reply.header('content-disposition', attachment(fileName))
    const range = wanted.kind === 'part' ? { start: wanted.start, end: wanted.end } : undefined
    if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${stored.size}`)
    reply.header('content-length', range ? range.end - range.start + 1 : stored.size)
    if (request.method === 'HEAD') return reply.send(undefined)
    return reply.send(await media.read(stored.storageKey, range ?? (stored.size > 0 ? { start: 0, end: stored.size - 1 } : undefined)))
  }
}
