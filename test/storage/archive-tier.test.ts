import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { createLocalStorage, mediaKey, MediaMissingError, type MediaStorage } from '../../src/storage/media-storage.js'
import { createS3Storage } from '../../src/storage/s3-storage.js'
import { startS3rver, type S3Server } from '../s3.js'

const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256))
const freshKey = () => mediaKey(randomUUID(), randomUUID(), 'media.wav')
const bytesOf = async (stream: Readable) => {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

let s3: S3Server
let client: S3Client
let dir: string
const ARCHIVE_BUCKET = 'media-archive'

beforeAll(async () => {
  s3 = await startS3rver()
  dir = await mkdtemp(path.join(tmpdir(), 'archive-tier-'))
  client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
  await client.send(new CreateBucketCommand({ Bucket: ARCHIVE_BUCKET }))
})
afterAll(async () => {
  client?.destroy()
  await s3?.stop()
  await rm(dir, { recursive: true, force: true })
})

const s3Options = () => ({ endpoint: s3.endpoint, bucket: s3.bucket, region: 'us-east-1', forcePathStyle: true, temporaryDir: path.join(dir, 's3-tmp') })
const backends: Record<string, () => MediaStorage> = {
  local: () => createLocalStorage(path.join(dir, 'media'), path.join(dir, 'archive')),
  's3, archived in place as DEEP_ARCHIVE': () => createS3Storage({ ...s3Options(), archiveStorageClass: 'DEEP_ARCHIVE' }),
  's3, archived to a bucket of its own': () => createS3Storage({ ...s3Options(), archiveBucket: ARCHIVE_BUCKET }),
}

describe.each(Object.keys(backends))('the archive tier of %s storage', (name) => {
  let storage: MediaStorage
  beforeAll(() => {
    storage = (backends[name] as () => MediaStorage)()
  })
  const stored = async () => {
    const key = freshKey()
    await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length })
    return key
  }
  const listed = async (key: string) => {
    let found = 0
    for await (const entry of storage.list()) if (entry.key === key) found += 1
    return found
  }

  it('archives bytes (twice is harmless), keeps the hot copy until removeHot, and lists the key once throughout', async () => {
    const key = await stored()
    expect(await storage.statArchived(key)).toBeUndefined()
    await storage.archive(key)
    await storage.archive(key)
    expect(await storage.statArchived(key)).toEqual({ size: bytes.length })
    expect(await listed(key)).toBe(1)
    await storage.removeHot(key)
    await storage.removeHot(key)
    expect(await storage.statArchived(key)).toEqual({ size: bytes.length })
    expect(await listed(key)).toBe(1)
  })

  it('refuses to archive bytes that are in neither tier, and to remove a hot copy that is the only one', async () => {
    await expect(storage.archive(freshKey())).rejects.toBeInstanceOf(MediaMissingError)
    const key = await stored()
    if (name.includes('in place')) return
    await expect(storage.removeHot(key)).rejects.toThrow(/not in the archive/)
    expect(await storage.stat(key)).toEqual({ size: bytes.length })
  })

  it('restores archived bytes to the hot tier (twice is harmless), readable byte for byte and listed once', async () => {
    const key = await stored()
    await storage.archive(key)
    await storage.removeHot(key)
    await storage.restore(key)
    await storage.restore(key)
    expect(await storage.stat(key)).toEqual({ size: bytes.length })
    expect(await bytesOf(await storage.read(key))).toEqual(bytes)
    expect(await listed(key)).toBe(1)
    // A tier of its own keeps its copy; in place, the one object is hot again.
    expect(await storage.statArchived(key)).toEqual(name.includes('in place') ? undefined : { size: bytes.length })
    await storage.archive(key)
    expect(await storage.statArchived(key)).toEqual({ size: bytes.length })
  })

  it('refuses to restore bytes that are in neither tier', async () => {
    await expect(storage.restore(freshKey())).rejects.toBeInstanceOf(MediaMissingError)
  })

  it('delete removes the bytes from both tiers', async () => {
    const key = await stored()
    await storage.archive(key)
    await storage.delete(key)
    expect(await storage.statArchived(key)).toBeUndefined()
    expect(await storage.stat(key)).toBeUndefined()
    expect(await listed(key)).toBe(0)
  })
})

describe('where archived bytes are', () => {
  it('locally: under the archive directory with the same key, byte for byte, and no longer under the media directory', async () => {
    const storage = (backends.local as () => MediaStorage)()
    const key = freshKey()
    await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length })
    await storage.archive(key)
    await storage.removeHot(key)
    expect(await readFile(path.join(dir, 'archive', ...key.split('/')))).toEqual(bytes)
    expect(await readdir(path.join(dir, 'media', ...key.split('/').slice(0, 2))).catch(() => [])).toEqual([])
    expect(await readdir(path.join(dir, 'archive', ...key.split('/').slice(0, 2)))).toEqual(['media.wav'])
  })

  it('on S3 in place: the same object, now of the archive storage class, with its bytes and type', async () => {
    const storage = createS3Storage({ ...s3Options(), archiveStorageClass: 'GLACIER' })
    const key = freshKey()
    await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length })
    const before = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))
    await storage.archive(key)
    const after = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))
    expect(after.StorageClass).toBe('GLACIER')
    expect(after.ContentType).toBe(before.ContentType)
    // s3rver keeps GLACIER objects readable (S3 would want a restore first).
    expect(await bytesOf(await storage.read(key))).toEqual(bytes)
  })

  it('on S3 with an archive bucket: an object there, of the archive storage class, and none left in the media bucket', async () => {
    const storage = createS3Storage({ ...s3Options(), archiveBucket: ARCHIVE_BUCKET, archiveStorageClass: 'DEEP_ARCHIVE' })
    const key = freshKey()
    await storage.write(key, Readable.from([bytes]), { maxBytes: bytes.length })
    await storage.archive(key)
    await storage.removeHot(key)
    const archived = await client.send(new HeadObjectCommand({ Bucket: ARCHIVE_BUCKET, Key: key }))
    expect(archived).toMatchObject({ StorageClass: 'DEEP_ARCHIVE', ContentLength: bytes.length })
    expect(await storage.stat(key)).toBeUndefined()
  })
})
