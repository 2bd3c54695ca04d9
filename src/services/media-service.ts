import type { Readable } from 'node:stream'
import { fileTypeFromFile } from 'file-type'
import { parseFile } from 'music-metadata'
import type { PrismaClient } from '../generated/prisma/client.js'
import { ConflictError, InvalidRequestError, UnsupportedMediaTypeError } from '../errors.js'
import { mediaKey, type MediaStorage } from '../storage/media-storage.js'
import { isUuid, recordingNotFound as notFound, recordingWhere as whereKey, type RecordingKey } from './recording-key.js'
import { selectRecording, type RecordingJson } from './recording-sql.js'
import { recordingETag } from './etag.js'
import { extensionOf, STORED_RENDITION, type PlaybackUrls } from './media-urls.js'
import { formatOf } from '../media/ffmpeg.js'
import type { MediaFormat } from '../schemas/recording.js'
import { v7 as uuid7 } from 'uuid'

/** The media types an upload may declare: audio, video, image (screen captures) and zip (bundles). */
export const UPLOADABLE_TYPE = /^(audio|video|image)\/[\w.+-]+$|^application\/zip$/


/** The bare, lower-case media type of a Content-Type value, or undefined when there is none. */
export const mediaTypeOf = (contentType: string | undefined) => contentType?.split(';')[0]?.trim().toLowerCase() || undefined

/** One name per container for the subtypes that name the same one (`x-wav`, `vnd.wave` and `wave` are `wav`). */
function container(subtype: string): string {
  const bare = subtype.replace(/^x-/, '')
  const aliases: Record<string, string> = { wave: 'wav', 'vnd.wave': 'wav', mp3: 'mpeg', m4a: 'mp4', opus: 'ogg', vorbis: 'ogg', 'ms-wma': 'asf', 'ms-asf': 'asf' }
  return aliases[bare] ?? bare
}

/**
 * Whether the sniffed type agrees with the declared one: the same container, where audio and video count as one family
 * (an audio-only MP4, WebM or Ogg is sniffed as video by its container).
 */
export function typesAgree(declared: string, sniffed: string): boolean {
  const [declaredTop, declaredSub = ''] = declared.split('/')
  const [sniffedTop, sniffedSub = ''] = sniffed.split('/')
  const av = (top: string | undefined) => top === 'audio' || top === 'video'
  const sameFamily = declaredTop === sniffedTop || (av(declaredTop) && av(sniffedTop))
  return sameFamily && container(declaredSub) === container(sniffedSub)
}

/** The SHA-256 of a `Content-Digest` (RFC 9530) field, or undefined when it names none; malformed → 400. */
export function sha256OfContentDigest(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined
  let found: Buffer | undefined
  for (const member of value.split(',')) {
    const match = /^\s*([a-z0-9-]+)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/i.exec(member)
    if (!match) throw new InvalidRequestError('Content-Digest must be a list of <algorithm>=:<base64>: members (RFC 9530)', 'Content-Digest', 'headers')
    if (match[1]?.toLowerCase() !== 'sha-256') continue
    const digest = Buffer.from(match[2] ?? '', 'base64')
    if (digest.length !== 32) throw new InvalidRequestError('Content-Digest sha-256 must be 32 bytes, base64-encoded', 'Content-Digest', 'headers')
    found = digest
  }
  return found
}

/**
 * Duration in milliseconds, when the container states it or it can be computed from the stream's figures, and the
 * Genesys format the media already is (see formatOf).
 */
async function probe(file: string): Promise<{ durationMs?: number | undefined; format?: MediaFormat | undefined }> {
  try {
    const { format } = await parseFile(file, { duration: true, skipCovers: true })
    const durationMs = format.duration !== undefined && Number.isFinite(format.duration) ? Math.round(format.duration * 1000) : undefined
    return { durationMs, format: formatOf(format) }
  } catch {
    // Not a format music-metadata reads (an image, a zip): no duration.
    return {}
  }
}

const MAX_INT = 2 ** 31 - 1

export interface Upload {
  /** The declared Content-Type. */
  contentType: string | undefined
  contentDigest: string | undefined
  body: Readable
}

/** What a reader of stored media needs to answer: where the bytes are, their type, size and SHA-256 (of originals). */
export interface StoredMediaInfo {
  storageKey: string
  contentType: string
  size: number
  sha256?: Buffer | undefined
}

/** How long a lookup of stored media is reused by playback, and how many are kept. */
export const STORED_MEDIA_CACHE_MS = 5_000
const STORED_MEDIA_CACHE_SIZE = 10_000

export function createMediaService({ prisma, storage, playback, maxBytes }: { prisma: PrismaClient; storage: MediaStorage; playback: PlaybackUrls; maxBytes: number }) {
  const recentlyStored = new Map<string, { info: StoredMediaInfo; until: number }>()
  return {
    /**
     * Stored media of an organization's recording: its original (`rendition` STORED_RENDITION) or a rendition made
     * from it (its format), or undefined when there is none (or the ids cannot exist). Players read in many small
     * ranges, so what was found is remembered for a few seconds (stored bytes never change): a deleted recording's URLs
     * stop working within STORED_MEDIA_CACHE_MS.
     */
    async stored(organizationId: string, recordingId: string, rendition: string = STORED_RENDITION): Promise<StoredMediaInfo | undefined> {
      if (!isUuid(organizationId) || !isUuid(recordingId)) return undefined
      const cacheKey = `${organizationId}/${recordingId}/${rendition}`
      const cached = recentlyStored.get(cacheKey)
      if (cached && cached.until > Date.now()) return cached.info
      // Archived media is kept, not played.
      const [found] = rendition === STORED_RENDITION
        ? await prisma.$queryRaw<{ storage_key: string; content_type: string; size: bigint; sha256: string | null }[]>`
            SELECT m.storage_key, m.content_type, m.size_in_bytes AS size, encode(m.sha256, 'base64') AS sha256 FROM stored_media m JOIN recordings r ON r.id = m.recording_id
            WHERE m.recording_id = ${recordingId}::uuid AND r.organization_id = ${organizationId}::uuid AND m.archived_at IS NULL`
        : await prisma.$queryRaw<{ storage_key: string; content_type: string; size: bigint; sha256: string | null }[]>`
            SELECT d.storage_key, d.content_type, d.size_in_bytes AS size, NULL::text AS sha256
            FROM renditions d JOIN stored_media m USING (recording_id) JOIN recordings r ON r.id = m.recording_id
            WHERE d.recording_id = ${recordingId}::uuid AND d.format = ${rendition} AND d.state = 'READY'
              AND r.organization_id = ${organizationId}::uuid AND m.archived_at IS NULL`
      if (!found) return undefined
      const info = { storageKey: found.storage_key, contentType: found.content_type, size: Number(found.size), sha256: found.sha256 ? Buffer.from(found.sha256, 'base64') : undefined }
      // Oldest first: a Map keeps insertion order, so the first key is the one to drop.
      recentlyStored.delete(cacheKey)
      recentlyStored.set(cacheKey, { info, until: Date.now() + STORED_MEDIA_CACHE_MS })
      if (recentlyStored.size > STORED_MEDIA_CACHE_SIZE) recentlyStored.delete(recentlyStored.keys().next().value as string)
      return info
    },

    /** Removes stored bytes whose row is gone (the job the row's delete queued); removing them again is harmless. */
    async remove(storageKey: string): Promise<void> {
      await storage.delete(storageKey)
    },

    /** Copies stored bytes to the archive tier, before their row is marked archived; copying them again is harmless. */
    async archive(storageKey: string): Promise<void> {
      await storage.archive(storageKey)
    },

    /** Removes the hot copy of archived bytes (the job their marking queued); removing it again is harmless. */
    async removeHot(storageKey: string): Promise<void> {
      await storage.removeHot(storageKey)
    },

    /** Copies archived bytes back to the hot tier, before their row is marked restored; copying them again is harmless. */
    async restore(storageKey: string): Promise<void> {
      await storage.restore(storageKey)
    },

    /**
     * Removes stored bytes that no recording names and temporary files of interrupted writes, when untouched since
     * `before`: what a crash between writing bytes and committing their row, or mid-write, left behind. Younger ones
     * may still be on their way to being named.
     */
    async reconcile(before: Date): Promise<{ unnamed: number; abandoned: number }> {
      let unnamed = 0
      const removeUnnamed = async (keys: string[]) => {
        const named = await prisma.$queryRaw<{ storage_key: string }[]>`SELECT storage_key FROM stored_media WHERE storage_key = ANY(${keys})
          UNION ALL SELECT storage_key FROM renditions WHERE storage_key = ANY(${keys})`
        const keep = new Set(named.map((row) => row.storage_key))
        for (const key of keys.filter((k) => !keep.has(k))) {
          await storage.delete(key)
          unnamed += 1
        }
      }
      let batch: string[] = []
      for await (const { key, modifiedAt } of storage.list()) {
        if (modifiedAt >= before) continue
        batch.push(key)
        if (batch.length === 500) {
          await removeUnnamed(batch)
          batch = []
        }
      }
      if (batch.length > 0) await removeUnnamed(batch)
      return { unnamed, abandoned: await storage.removeAbandoned(before) }
    },

    /** A stream of the stored bytes `start` to `end` (inclusive). */
    read(storageKey: string, range?: { start: number; end: number }): Promise<Readable> {
      return storage.read(storageKey, range)
    },

    /**
     * Stores the media of a recording still waiting for it (`UPLOADING`): streams the bytes to storage, hashing them,
     * checks digest and type, probes the duration, and only once the bytes are in place records them and makes the
     * recording AVAILABLE in one transaction. Answers the recording as GET does. Whatever is refused keeps nothing.
     */
    async upload(key: RecordingKey, { contentType, contentDigest, body }: Upload): Promise<{ json: string; etag: string; sizeInBytes: number; sha256: Buffer; storageKey: string }> {
      const declared = mediaTypeOf(contentType)
      if (!declared || !UPLOADABLE_TYPE.test(declared)) {
        throw new UnsupportedMediaTypeError('Content-Type must name the media: an audio/*, video/* or image/* type, or application/zip')
      }
      const expectedSha256 = sha256OfContentDigest(contentDigest)
      const where = whereKey(key)
      if (!where) throw notFound(key)
      const recording = await prisma.recording.findFirst({ where, select: { id: true, fileState: true, storedMedia: { select: { recordingId: true } } } })
      if (!recording) throw notFound(key)
      const refuseSecond = () => new ConflictError(`Recording ${key.recordingId} already has its media (stored media cannot be replaced)`)
      if (recording.storedMedia || recording.fileState !== 'UPLOADING') throw refuseSecond()

      // A key of its own per upload: two racing uploads never write the same file, and the loser's bytes are removed.
      // The extension names the format for whoever reads the key (an S3 console, a presigned URL's path).
      const storageKey = mediaKey(key.organizationId, recording.id, `${uuid7()}.${extensionOf(declared)}`)
      let probed: Awaited<ReturnType<typeof probe>> = {}
      const written = await storage.write(storageKey, body, {
        maxBytes,
        expectedSha256,
        verify: async (file) => {
          const sniffed = await fileTypeFromFile(file)
          if (!sniffed) throw new UnsupportedMediaTypeError(`The bytes are not recognizable media; Content-Type says ${declared}`)
          if (!typesAgree(declared, sniffed.mime)) {
            throw new UnsupportedMediaTypeError(`The bytes are ${sniffed.mime} (.${sniffed.ext}), not ${declared} as Content-Type says`)
          }
          probed = await probe(file)
        },
      })
      const { durationMs, format } = probed
      let stored: RecordingJson
      try {
        stored = await prisma.$transaction(async (tx) => {
          const { count } = await tx.recording.updateMany({
            where: { id: recording.id, fileState: 'UPLOADING' },
            data: {
              fileState: 'AVAILABLE',
              outputSizeInBytes: written.size <= MAX_INT ? written.size : null,
              outputDurationMs: durationMs !== undefined && durationMs <= MAX_INT ? durationMs : null,
            },
          })
          if (count === 0) throw refuseSecond()
          await tx.storedMedia.create({
            data: {
              recordingId: recording.id,
              storageKey,
              contentType: declared,
              sizeInBytes: BigInt(written.size),
              sha256: new Uint8Array(written.sha256),
              durationMs: durationMs ?? null,
              format: format ?? null,
            },
          })
          const stored = await selectRecording(tx, key)
          if (!stored) throw new Error(`recording ${key.recordingId} not readable in the transaction that stored its media`)
          return stored
        })
      } catch (error) {
        // No row names these bytes: remove them (a crash right here leaves them for the reconciliation).
        await storage.delete(storageKey)
        throw error
      }
      const { json, expires } = await playback.resolve(stored.json, await playback.ttlMinutes(key.organizationId))
      return { json, etag: recordingETag(stored.version, { expires, restorations: stored.restorations }), sizeInBytes: written.size, sha256: written.sha256, storageKey }
    },
  }
}

export type MediaService = ReturnType<typeof createMediaService>
