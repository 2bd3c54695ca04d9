import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import type { Config } from '../config.js'
import { DomainError } from '../errors.js'

/** What storage knows of stored bytes. */
export interface StoredBytes {
  size: number
  /** SHA-256 of the bytes, computed while they were written. */
  sha256: Buffer
}

export interface WriteOptions {
  /** More bytes than this: MediaTooLargeError, nothing kept. */
  maxBytes: number
  /** When given, other bytes: DigestMismatchError, nothing kept. */
  expectedSha256?: Buffer | undefined
  /**
   * Last check of the complete bytes before they become visible under their key (type, duration): `file` is the
   * complete temporary file, readable. Throwing keeps nothing.
   */
  verify?: ((file: string, written: StoredBytes) => Promise<void>) | undefined
}

/**
 * Where media bytes are kept. Bytes are visible under their key only once complete and verified: a failed or
 * interrupted write leaves nothing under the key.
 */
export interface MediaStorage {
  readonly kind: 'local' | 's3'
  write(key: string, source: Readable, options: WriteOptions): Promise<StoredBytes>
  /** The bytes `start` to `end` (inclusive; default: to the end); MediaMissingError when nothing is stored under the key. */
  read(key: string, range?: { start: number; end?: number }): Promise<Readable>
  /** Size of the stored bytes, or undefined when nothing is stored under the key. */
  stat(key: string): Promise<{ size: number } | undefined>
  /** Removes the bytes from every tier; nothing stored under the key is not an error. */
  delete(key: string): Promise<void>
  /**
   * Makes the bytes complete in the archive tier, where they are kept but not played (idempotent: bytes already there
   * stay). The hot copy stays until removeHot. MediaMissingError when neither tier holds them.
   */
  archive(key: string): Promise<void>
  /** Size of the bytes in the archive tier, or undefined when they are not there. */
  statArchived(key: string): Promise<{ size: number } | undefined>
  /** Removes the hot copy of archived bytes; nothing to do where the archive is the same copy (S3 storage class). */
  removeHot(key: string): Promise<void>
  /**
   * Makes the bytes complete in the hot tier again, copied from the archive tier (idempotent: bytes already hot stay).
   * A tier of its own keeps its copy; an S3 object archived in place becomes STANDARD again, so archiving it anew
   * copies it again. MediaMissingError when neither tier holds them.
   */
  restore(key: string): Promise<void>
  /**
   * Every stored key (either tier) with its last change, for the reconciliation that removes bytes no recording names.
   */
  list(): AsyncIterable<{ key: string; modifiedAt: Date }>
  /**
   * Removes what interrupted writes left (temporary files, unfinished multipart uploads) untouched since `before`;
   * answers how many.
   */
  removeAbandoned(before: Date): Promise<number>
  /**
   * A URL that reads the bytes without other credentials until `expiresAt`, when the store itself can issue one (S3:
   * a presigned GET). Undefined: the service signs URLs of its own media route.
   */
  presign?(key: string, options: { expiresAt: Date; contentType: string }): Promise<string>
  /** The file that holds the bytes, where they are in a local file (ffmpeg reads it in place rather than a copy). */
  localPath?(key: string): string
}

export class MediaTooLargeError extends DomainError {
  constructor(maxBytes: number) {
    super(413, 'request.entity.too.large', `The media is larger than the limit of ${maxBytes} bytes (MEDIA_MAX_BYTES)`)
  }
}

/** The bytes a row named are gone (removed after their recording was deleted). */
export class MediaMissingError extends DomainError {
  constructor() {
    super(404, 'not.found', 'The media is no longer stored (its recording was deleted)')
  }
}

export class DigestMismatchError extends DomainError {
  constructor(expected: Buffer, actual: Buffer) {
    super(400, 'bad.request', `Content-Digest sha-256=:${expected.toString('base64')}: does not match the received bytes (sha-256=:${actual.toString('base64')}:)`)
  }
}

/** Storage keys: `<organization>/<recording>/<name>`, each segment a plain name (no separators, no dot segments). */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export const mediaKey = (organizationId: string, recordingId: string, name: string) => {
  const key = `${organizationId}/${recordingId}/${name}`
  assertKey(key)
  return key
}

export function assertKey(key: string) {
  const segments = key.split('/')
  if (segments.length !== 3 || !segments.every((segment) => SEGMENT.test(segment) && !segment.includes('..'))) {
    throw new Error(`not a media storage key: ${JSON.stringify(key)}`)
  }
}

/**
 * Writes the bytes to an open file, hashing and counting them; past `maxBytes` it fails. One stream where a hashing
 * transform and a file stream were two, writing a megabyte per system call rather than each socket read: it costs
 * about what a plain file stream does (a fifth less CPU per MB than the two did). Finishing fsyncs the file.
 */
class HashingFileWriter extends Writable {
  readonly hash = createHash('sha256')
  size = 0
  constructor(
    private readonly file: FileHandle,
    private readonly maxBytes: number,
  ) {
    super({ highWaterMark: 1024 * 1024 })
  }
  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void) {
    const buffers = chunks.map(({ chunk }) => chunk)
    for (const buffer of buffers) {
      this.size += buffer.length
      if (this.size > this.maxBytes) {
        done(new MediaTooLargeError(this.maxBytes))
        return
      }
      this.hash.update(buffer)
    }
    writeAll(this.file, buffers).then(() => done(), done)
  }
  override _final(done: (error?: Error | null) => void) {
    this.file.sync().then(() => done(), done)
  }
}

/** writev until every byte is written (a write may be short). */
async function writeAll(file: FileHandle, buffers: Buffer[]): Promise<void> {
  const pending = buffers
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending)
    if (bytesWritten === 0) throw new Error('the file accepted no bytes')
    let skip = bytesWritten
    while (pending.length > 0 && skip >= (pending[0] as Buffer).length) skip -= (pending.shift() as Buffer).length
    if (skip > 0) pending[0] = (pending[0] as Buffer).subarray(skip)
  }
}

/**
 * What every backend does before bytes may become visible under their key: streams `source` into the new file
 * `temporary`, hashing and counting on the way, then checks the digest and runs `verify` on the complete file. The
 * caller removes `temporary`, whatever the outcome.
 */
export async function receive(source: Readable, temporary: string, { maxBytes, expectedSha256, verify }: WriteOptions): Promise<StoredBytes> {
  // `wx`: never into an existing file.
  const file = await open(temporary, 'wx')
  const writer = new HashingFileWriter(file, maxBytes)
  // The source is piped in rather than made part of a pipeline: a refusal (cap, digest) must not destroy the
  // request, whose connection still has to carry the error answer. A client that goes away fails the write.
  const aborted = (error?: Error) => writer.destroy(error ?? new Error('the request ended before all its bytes arrived'))
  const onError = (error: Error) => aborted(error)
  const onClose = () => {
    if (!source.readableEnded) aborted()
  }
  source.on('error', onError).once('aborted', onClose).once('close', onClose).pipe(writer)
  try {
    await finished(writer)
    await file.close()
    const written = { size: writer.size, sha256: writer.hash.digest() }
    if (expectedSha256 && !expectedSha256.equals(written.sha256)) throw new DigestMismatchError(expectedSha256, written.sha256)
    await verify?.(temporary, written)
    return written
  } finally {
    source.unpipe(writer)
    source.off('error', onError).off('aborted', onClose).off('close', onClose)
    // Closed already unless the write failed; closing twice is harmless.
    await file.close().catch(() => undefined)
  }
}

/** Flushes a directory's entries (the rename) to disk; some file systems refuse, which loses nothing but that. */
async function syncDirectory(dir: string) {
  const handle = await open(dir, 'r').catch(() => undefined)
  try {
    await handle?.sync()
  } catch {
    // not supported here
  } finally {
    await handle?.close()
  }
}

/** `.<name>.<uuid>.part` beside `file`: the same directory, so the rename to `file` is atomic. */
const temporaryFor = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.part`)

/** Copies `source` to `target` through a temporary file that is fsync'd and renamed only when complete. */
async function copyWhole(source: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true })
  const temporary = temporaryFor(target)
  try {
    await pipeline(createReadStream(source), createWriteStream(temporary, { flags: 'wx', flush: true }))
    await rename(temporary, target)
    await syncDirectory(path.dirname(target))
  } catch (error) {
    await rm(temporary, { force: true })
    await rmdir(path.dirname(target)).catch(() => undefined)
    throw error
  }
}

/**
 * Files under `root` (DATA_DIR/media): `<root>/<organization>/<recording>/<name>`. A write goes to a temporary name
 * in the same directory (`.<name>.<uuid>.part`, so the rename is atomic), is fsync'd and verified, and only then
 * renamed to its key; on any failure the temporary file is removed. A crash mid-write leaves only a `.part` file,
 * which no key ever names. The archive tier is a directory apart (DATA_DIR/archive) with the same layout, written the
 * same way.
 */
export function createLocalStorage(root: string, archiveRoot = path.join(path.dirname(root), 'archive')): MediaStorage {
  const under = (dir: string) => (key: string) => {
    assertKey(key)
    return path.join(dir, ...key.split('/'))
  }
  const fileOf = under(root)
  const archivedFileOf = under(archiveRoot)
  const sizeOf = async (file: string) => {
    const found = await stat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    return found && { size: found.size }
  }
  /** Copies bytes between tiers unless already there: stored media never changes, so complete bytes are these bytes. */
  const copyOnce = async (source: string, target: string) => {
    if (await sizeOf(target)) return
    await copyWhole(source, target).catch((error: unknown) => {
      throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? new MediaMissingError() : error
    })
  }
  /** Removes a file and, with its last file, its recording's directory. */
  const removeFile = async (file: string) => {
    await rm(file, { force: true })
    await rmdir(path.dirname(file)).catch(() => undefined)
  }
  return {
    kind: 'local',
    localPath: (key) => fileOf(key),

    async write(key, source, options) {
      const file = fileOf(key)
      await mkdir(path.dirname(file), { recursive: true })
      const temporary = temporaryFor(file)
      try {
        const written = await receive(source, temporary, options)
        await rename(temporary, file)
        await syncDirectory(path.dirname(file))
        return written
      } catch (error) {
        await rm(temporary, { force: true })
        // The recording's directory, when this write made it and left it empty (refused uploads leave no trace).
        await rmdir(path.dirname(file)).catch(() => undefined)
        throw error
      }
    },

    async read(key, range) {
      const stream = createReadStream(fileOf(key), range ? { start: range.start, ...(range.end !== undefined ? { end: range.end } : {}) } : {})
      // Opened before it is handed out, so that bytes removed meanwhile are a 404 and not a stream failing mid-answer.
      try {
        await once(stream, 'ready')
      } catch (error) {
        stream.destroy()
        throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? new MediaMissingError() : error
      }
      return stream
    },

    stat: (key) => sizeOf(fileOf(key)),

    async delete(key) {
      await removeFile(fileOf(key))
      await removeFile(archivedFileOf(key))
    },

    archive: (key) => copyOnce(fileOf(key), archivedFileOf(key)),

    statArchived: (key) => sizeOf(archivedFileOf(key)),

    async removeHot(key) {
      // Never the last copy: only a bug could ask for that, and the bytes are worth the job failing.
      if (!(await sizeOf(archivedFileOf(key))) && (await sizeOf(fileOf(key)))) throw new Error(`${key} is not in the archive: its hot copy stays`)
      await removeFile(fileOf(key))
    },

    restore: (key) => copyOnce(archivedFileOf(key), fileOf(key)),

    async *list() {
      for (const [dir, other] of [[root, undefined], [archiveRoot, root]] as const) {
        for (const file of await filesUnder(dir)) {
          const key = path.relative(dir, file).split(path.sep).join('/')
          if (!isKey(key)) continue
          // A key in both tiers (archived, its hot copy not yet removed) is listed once.
          if (other && (await sizeOf(fileOf(key)))) continue
          const found = await stat(file).catch(() => undefined)
          if (found) yield { key, modifiedAt: found.mtime }
        }
      }
    },

    async removeAbandoned(before) {
      let removed = 0
      for (const file of [...(await filesUnder(root)), ...(await filesUnder(archiveRoot))]) {
        if (!file.endsWith('.part')) continue
        const found = await stat(file).catch(() => undefined)
        if (!found || found.mtime >= before) continue
        await rm(file, { force: true })
        await rmdir(path.dirname(file)).catch(() => undefined)
        removed += 1
      }
      return removed
    },
  }
}

export const isKey = (key: string) => {
  try {
    assertKey(key)
    return true
  } catch {
    return false
  }
}

/** Every file under `dir` (none when it does not exist yet). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return []
    throw error
  })
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name))
}

/**
 * The storage MEDIA_STORAGE names (config load has refused any other value). The S3 backend is loaded only when
 * chosen: the AWS SDK costs ~25 MB of memory that local storage has no use for.
 */
export async function createMediaStorage(
  config: Pick<
    Config,
    'MEDIA_STORAGE' | 'DATA_DIR' | 'S3_ENDPOINT' | 'S3_BUCKET' | 'S3_REGION' | 'S3_FORCE_PATH_STYLE' | 'S3_ARCHIVE_STORAGE_CLASS' | 'S3_ARCHIVE_BUCKET'
  >,
): Promise<MediaStorage> {
  switch (config.MEDIA_STORAGE) {
    case 'local':
      return createLocalStorage(path.join(config.DATA_DIR, 'media'), path.join(config.DATA_DIR, 'archive'))
    case 's3': {
      if (!config.S3_BUCKET) throw new Error('MEDIA_STORAGE=s3 needs S3_BUCKET')
      const { createS3Storage } = await import('./s3-storage.js')
      return createS3Storage({
        endpoint: config.S3_ENDPOINT,
        bucket: config.S3_BUCKET,
        region: config.S3_REGION,
        forcePathStyle: config.S3_FORCE_PATH_STYLE,
        archiveStorageClass: config.S3_ARCHIVE_STORAGE_CLASS,
        archiveBucket: config.S3_ARCHIVE_BUCKET,
        temporaryDir: path.join(config.DATA_DIR, 'tmp'),
      })
    }
    default:
      throw new Error(`MEDIA_STORAGE=${config.MEDIA_STORAGE} is not a storage of this build`)
  }
}
