import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  S3Client,
  S3ServiceException,
  type HeadObjectCommandOutput,
  type StorageClass,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { assertKey, isKey, MediaMissingError, receive, type MediaStorage } from './media-storage.js'

export interface S3StorageOptions {
  /** URL of an S3-compatible server; undefined: AWS S3 of `region`. */
  endpoint?: string | undefined
  bucket: string
  region: string
  /** `http://host/bucket/key` rather than `http://bucket.host/key`. */
  forcePathStyle: boolean
  /** Where uploads are received and verified before they go to the bucket. */
  temporaryDir: string
  /** The storage class of archived objects (GLACIER, DEEP_ARCHIVE, ...); default GLACIER. */
  archiveStorageClass?: string
  /** A bucket of its own for archived objects; undefined: they stay in `bucket`, in `archiveStorageClass`. */
  archiveBucket?: string | undefined
}

/** S3's smallest part but the last, and most parts of one upload. */
const MIN_PART_BYTES = 5 * 1024 ** 2
const MAX_PARTS = 10_000

/**
 * The longest life of a SigV4 presigned URL (S3 refuses more). Every URL is signed this long before it expires, so the
 * same key and expiry give the same URL (players and caches see one resource), and the signing date is never in the
 * future for an expiry within this span.
 */
const PRESIGN_SPAN_SECONDS = 7 * 24 * 3600

const statusOf = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined)

/**
 * Objects in `bucket` under their key (`<organization>/<recording>/<name>`). A write is received into a temporary
 * file under `temporaryDir` (hashed, counted, capped, digest checked and verified exactly as locally) and uploaded
 * only then: a single PUT, or a multipart upload that S3 makes visible only on completion and that lib-storage aborts
 * on failure. So nothing is ever visible under a key before it is complete and verified.
 */
export function createS3Storage({ endpoint, bucket, region, forcePathStyle, temporaryDir, archiveStorageClass = 'GLACIER', archiveBucket }: S3StorageOptions): MediaStorage {
  // Credentials: the SDK's default chain (AWS_* variables, profiles, instance or task role). Checksums only where S3
  // requires them: S3-compatible servers do not all know the newer checksum headers the SDK sends by default.
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const object = (key: string) => {
    assertKey(key)
    return { Bucket: bucket, Key: key }
  }
  const archived = (key: string) => ({ ...object(key), Bucket: archiveBucket ?? bucket })
  const head = async (target: { Bucket: string; Key: string }): Promise<HeadObjectCommandOutput | undefined> => {
    try {
      return await client.send(new HeadObjectCommand(target))
    } catch (error) {
      if (statusOf(error) === 404) return undefined
      throw error
    }
  }
  async function* listBucket(listed: string): AsyncGenerator<{ key: string; modifiedAt: Date }> {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: listed })) {
      for (const { Key, LastModified } of page.Contents ?? []) {
        // Objects that are not media keys are not ours to reconcile.
        if (Key !== undefined && LastModified && isKey(Key)) yield { key: Key, modifiedAt: LastModified }
      }
    }
  }
  /** Whether an object found where archived objects go is archived (S3 answers no class for STANDARD). */
  const isArchived = (found: HeadObjectCommandOutput | undefined) =>
    found !== undefined && (archiveBucket !== undefined || (found.StorageClass ?? 'STANDARD') === archiveStorageClass)

  return {
    kind: 's3',

    async write(key, source, options) {
      const target = object(key)
      await mkdir(temporaryDir, { recursive: true })
      const temporary = path.join(temporaryDir, `${randomUUID()}.part`)
      let body: Readable | undefined
      try {
        const written = await receive(source, temporary, options)
        body = createReadStream(temporary)
        await new Upload({
          client,
          params: { ...target, Body: body },
          partSize: Math.max(MIN_PART_BYTES, Math.ceil(written.size / MAX_PARTS)),
        }).done()
        return written
      } finally {
        // A failed upload may stop reading the file midway.
        body?.destroy()
        await rm(temporary, { force: true })
      }
    },

    async read(key, range) {
      const { Body } = await client
        .send(new GetObjectCommand({ ...object(key), ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}) }))
        .catch((error: unknown) => {
          throw statusOf(error) === 404 ? new MediaMissingError() : error
        })
      if (!(Body instanceof Readable)) throw new Error(`GetObject of ${key} answered no readable body`)
      return Body
    },

    async stat(key) {
      try {
        const { ContentLength } = await client.send(new HeadObjectCommand(object(key)))
        return { size: ContentLength ?? 0 }
      } catch (error) {
        if (statusOf(error) === 404) return undefined
        throw error
      }
    },

    async delete(key) {
      // S3 answers 204 for a key that holds nothing.
      await client.send(new DeleteObjectCommand(object(key)))
      if (archiveBucket !== undefined) await client.send(new DeleteObjectCommand(archived(key)))
    },

    // A server-side copy, into the archive bucket or onto the object itself with the archive storage class. A copy is
    // atomic: the target holds the old object or the whole new one. CopyObject takes objects up to 5 GB; larger ones
    // would need a multipart copy, so MEDIA_MAX_BYTES above 5 GB cannot be archived on S3.
    async archive(key) {
      const there = await head(archived(key))
      if (isArchived(there)) return
      const source = archiveBucket === undefined ? there : await head(object(key))
      if (!source) throw new MediaMissingError()
      // REPLACE, carrying the type and metadata over: S3 allows an object to be copied onto itself when its storage
      // class changes, s3rver only when its metadata is replaced.
      await client
        .send(
          new CopyObjectCommand({
            ...archived(key),
            CopySource: `${bucket}/${key}`,
            StorageClass: archiveStorageClass as StorageClass,
            MetadataDirective: 'REPLACE',
            ContentType: source.ContentType,
            Metadata: source.Metadata,
          }),
        )
        .catch((error: unknown) => {
          throw statusOf(error) === 404 ? new MediaMissingError() : error
        })
    },

    async statArchived(key) {
      const found = await head(archived(key))
      return isArchived(found) ? { size: found?.ContentLength ?? 0 } : undefined
    },

    async removeHot(key) {
      if (archiveBucket === undefined) return
      // Never the last copy: only a bug could ask for that, and the bytes are worth the job failing.
      if (!(await head(archived(key))) && (await head(object(key)))) throw new Error(`${key} is not in the archive: its hot copy stays`)
      await client.send(new DeleteObjectCommand(object(key)))
    },

    // The archive's server-side copy the other way: from the archive bucket into the bucket, or onto the object itself
    // back in STANDARD. On AWS an object in GLACIER or DEEP_ARCHIVE cannot be copied until a RestoreObject request has
    // made a temporary copy readable (minutes to hours); that step is not built, so the copy fails and the restore job
    // is retried until its attempts run out. s3rver keeps such objects readable and cannot show it.
    async restore(key) {
      const hot = await head(object(key))
      if (hot && (archiveBucket !== undefined || !isArchived(hot))) return
      const source = archiveBucket === undefined ? hot : await head(archived(key))
      if (!source) throw new MediaMissingError()
      await client
        .send(
          new CopyObjectCommand({
            ...object(key),
            CopySource: `${archiveBucket ?? bucket}/${key}`,
            StorageClass: 'STANDARD',
            MetadataDirective: 'REPLACE',
            ContentType: source.ContentType,
            Metadata: source.Metadata,
          }),
        )
        .catch((error: unknown) => {
          throw statusOf(error) === 404 ? new MediaMissingError() : error
        })
    },

    async *list() {
      if (archiveBucket === undefined) {
        yield* listBucket(bucket)
        return
      }
      // Both buckets list in key order: merged, a key in both (archived, its hot copy not yet removed) comes once.
      const [hot, cold] = [listBucket(bucket), listBucket(archiveBucket)]
      let [a, b] = await Promise.all([hot.next(), cold.next()])
      while (!a.done || !b.done) {
        if (b.done || (!a.done && a.value.key < b.value.key)) {
          yield a.value
          a = await hot.next()
        } else if (a.done || b.value.key < a.value.key) {
          yield b.value
          b = await cold.next()
        } else {
          yield a.value
          ;[a, b] = await Promise.all([hot.next(), cold.next()])
        }
      }
    },

    async removeAbandoned(before) {
      let removed = 0
      const names = await readdir(temporaryDir).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return []
        throw error
      })
      for (const name of names.filter((name) => name.endsWith('.part'))) {
        const file = path.join(temporaryDir, name)
        const found = await stat(file).catch(() => undefined)
        if (!found || found.mtime >= before) continue
        await rm(file, { force: true })
        removed += 1
      }
      // Multipart uploads of a process killed mid-upload: invisible, but their parts are stored (and billed) until
      // aborted. s3rver does not implement ListMultipartUploads (501 NotImplemented); a server without it has nothing
      // to list here, and keeps such parts until its own clean-up (on S3: a lifecycle rule).
      let markers: { KeyMarker?: string | undefined; UploadIdMarker?: string | undefined } = {}
      for (;;) {
        const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, ...markers })).catch((error: unknown) => {
          if (statusOf(error) === 501) return undefined
          throw error
        })
        if (!page) break
        for (const { Key, UploadId, Initiated } of page.Uploads ?? []) {
          if (Key === undefined || UploadId === undefined || !Initiated || Initiated >= before) continue
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }))
          removed += 1
        }
        if (!page.IsTruncated) break
        markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
      }
      return removed
    },

    async presign(key, { expiresAt, contentType }) {
      const lifetime = (expiresAt.getTime() - Date.now()) / 1000
      if (lifetime > PRESIGN_SPAN_SECONDS) throw new Error(`a presigned URL lives at most ${PRESIGN_SPAN_SECONDS} s; asked for ${Math.ceil(lifetime)} s`)
      return getSignedUrl(client, new GetObjectCommand({ ...object(key), ResponseContentType: contentType }), {
        expiresIn: PRESIGN_SPAN_SECONDS,
        signingDate: new Date(expiresAt.getTime() - PRESIGN_SPAN_SECONDS * 1000),
      })
    },
  }
}
