import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import path from 'node:path'
import { FileStore } from '@tus/file-store'
import { Server, type Upload } from '@tus/server'
import type { PrismaClient } from '../generated/prisma/client.js'
import { ConflictError, DomainError, InvalidRequestError, UnsupportedMediaTypeError } from '../errors.js'
import { mediaTypeOf, sha256OfContentDigest, UPLOADABLE_TYPE, type MediaService } from './media-service.js'
import { recordingNotFound, recordingWhere, type RecordingKey } from './recording-key.js'

/** Where the tus endpoint is mounted; the upload URLs it hands out (Location) are under it. */
export const UPLOADS_PATH = '/api/v2/recordings/uploads'

/** What one tus request is about: whose it is, and what its hooks found. */
interface Call {
  organizationId: string
  /** A rule a hook found broken: the route answers it as any other domain error. */
  error?: unknown
  /** The upload whose last bytes this request brought. */
  completed?: string
  /** Its media, as stored. */
  stored?: { key: RecordingKey; sizeInBytes: number; sha256: Buffer }
}

export interface UploadAnswer {
  response: Response
  error?: unknown
  stored?: Call['stored']
}

/** The media type an upload declares: `filetype` (what tus clients send) or `contentType`. */
const declaredType = (metadata: Upload['metadata']) => mediaTypeOf(metadata?.filetype ?? metadata?.contentType ?? undefined)

function recordingKeyOf(organizationId: string, metadata: Upload['metadata']): RecordingKey {
  const { conversationId, recordingId } = metadata ?? {}
  if (!conversationId || !recordingId) {
    throw new InvalidRequestError('Upload-Metadata must name the recording: conversationId and recordingId', 'Upload-Metadata', 'headers')
  }
  return { organizationId, conversationId, recordingId }
}

/**
 * Resumable uploads (tus 1.0: core, creation, creation-with-upload, creation-defer-length, termination, expiration) of
 * the media of a recording, kept under `directory` until complete, then stored as the one-request upload stores them.
 * Upload ids begin with the organization's id, so a request for another organization's upload is known for one.
 */
export function createUploadService({ prisma, media, directory, expiryHours, maxBytes, baseUrl }: {
  prisma: PrismaClient
  /** Origin (and path prefix) of the upload URLs: PUBLIC_BASE_URL, or the address the server listens on. */
  baseUrl: () => string
  media: MediaService
  directory: string
  expiryHours: number
  maxBytes: number
}) {
  const store = new FileStore({ directory, expirationPeriodInMilliseconds: expiryHours * 3_600_000 })
  // tus hands its hooks the request it was given and nothing else; this is how they learn whose it is.
  const calls = new WeakMap<object, Call>()
  const callOf = (request: object): Call => {
    const call = calls.get(request)
    if (!call) throw new Error('tus request without a caller')
    return call
  }
  /** A hook whose errors are kept for the route to answer (tus itself would turn them into a 500). */
  const hook = <A extends unknown[], R>(run: (call: Call, ...args: A) => Promise<R>) =>
    async (request: object, ...args: A): Promise<R> => {
      const call = callOf(request)
      try {
        return await run(call, ...args)
      } catch (error) {
        call.error = error
        throw error
      }
    }

  const remove = async (id: string) => {
    // Already gone (terminated, expired, completed by a racing request): nothing left to do.
    await store.remove(id).catch(() => undefined)
  }

  const tus = new Server({
    path: UPLOADS_PATH,
    datastore: store,
    maxSize: maxBytes,
    // Absolute, on PUBLIC_BASE_URL like every URL the service hands out: a path alone loses a proxy's path prefix.
    generateUrl: (_request, { id }) => `${baseUrl()}${UPLOADS_PATH}/${id}`,
    exposedHeaders: ['X-Recording-File-State'],
    namingFunction: (request) => `${callOf(request).organizationId}-${randomUUID()}`,

    // The checks of the one-request upload that need no bytes, made before any byte is accepted.
    onUploadCreate: hook(async ({ organizationId }, upload: Upload) => {
      const key = recordingKeyOf(organizationId, upload.metadata)
      const declared = declaredType(upload.metadata)
      if (!declared || !UPLOADABLE_TYPE.test(declared)) {
        throw new UnsupportedMediaTypeError('Upload-Metadata filetype must name the media: an audio/*, video/* or image/* type, or application/zip')
      }
      sha256OfContentDigest(upload.metadata?.contentDigest ?? undefined)
      const where = recordingWhere(key)
      const recording = where && (await prisma.recording.findFirst({ where, select: { fileState: true, storedMedia: { select: { recordingId: true } } } }))
      if (!recording) throw recordingNotFound(key)
      if (recording.storedMedia || recording.fileState !== 'UPLOADING') {
        throw new ConflictError(`Recording ${key.recordingId} already has its media (stored media cannot be replaced)`)
      }
      return {}
    }),

    onUploadFinish: hook(async (call, upload: Upload) => {
      call.completed = upload.id
      const key = recordingKeyOf(call.organizationId, upload.metadata)
      const stored = await media.upload(key, {
        contentType: declaredType(upload.metadata),
        contentDigest: upload.metadata?.contentDigest ?? undefined,
        body: createReadStream(path.join(directory, upload.id)),
      })
      call.stored = { key, sizeInBytes: stored.sizeInBytes, sha256: stored.sha256 }
      return { headers: { 'X-Recording-File-State': 'AVAILABLE' } }
    }),
  })

  return {
    /** Answers one tus request of `organizationId`; hooks' broken rules come back as `error`, not in the response. */
    async handle(request: Request, organizationId: string): Promise<UploadAnswer> {
      const call: Call = { organizationId }
      calls.set(request, call)
      const response = await tus.handleWeb(request)
      // Only now: tus still reads the upload after its hook (a POST's Upload-Expires). Stored media, or a broken rule
      // (type, digest, media stored meanwhile), is the end of the upload. After any other failure the bytes stay, and a
      // PATCH of no bytes at the final offset runs the checks again.
      if (call.completed && (call.stored || call.error instanceof DomainError)) await remove(call.completed)
      return { response, error: call.error, stored: call.stored }
    },

    /** Whether this upload id can be one of this organization's. */
    owns: (organizationId: string, uploadId: string) => uploadId.startsWith(`${organizationId}-`),

    /** Removes the unfinished uploads whose time is up, with their bytes; answers how many. */
    removeExpired(): Promise<number> {
      return tus.cleanUpExpiredUploads()
    },

    /** Removes the unfinished uploads of a recording, with their bytes (when the recording is deleted). */
    async removeFor(organizationId: string, recordingId: string): Promise<void> {
      const ids = (await store.configstore.list?.()) ?? []
      for (const id of ids.filter((id) => id.startsWith(`${organizationId}-`))) {
        const upload = await store.configstore.get(id)
        if (upload?.metadata?.recordingId?.toLowerCase() === recordingId.toLowerCase()) await remove(id)
      }
    },
  }
}

export type UploadService = ReturnType<typeof createUploadService>
